"""Printing a self-contained HTML page to PDF with headless Chromium.

Chromium is the browser the map tests already use (Debian's ``chromium``); its print engine
lays out Chinese text with the system's CJK fonts (``fonts-wqy-microhei`` or Noto CJK).  It
is found as ``$KMGIS_CHROMIUM``, else ``chromium``, ``chromium-browser``, ``google-chrome``
on the PATH.  Printing runs with every network request refused (``--host-resolver-rules``),
so a PDF can never depend on the internet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from kmgis.errors import KmgisError
from kmgis.outputs.files import atomic_path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PRINT_TIMEOUT_S = 180.0
"""Longest wait for one page to print (a report of the central city prints in a few seconds)."""
NO_NETWORK = "MAP * ~NOTFOUND"
"""Host resolver rule: every host name fails to resolve, so the page cannot fetch anything."""


def find_chromium() -> str | None:
    """Path of the Chromium executable (``$KMGIS_CHROMIUM`` first), or None."""
    env = os.environ.get("KMGIS_CHROMIUM")
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    return next((p for p in (shutil.which(n) for n in CHROMIUM_NAMES) if p), None)


def chromium_args(exe: str, html: Path, pdf: Path, profile: Path) -> list[str]:
    """The command line that prints ``html`` to ``pdf`` (A4 from the page's CSS, no header or footer)."""
    args = [exe, "--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
            f"--host-resolver-rules={NO_NETWORK}", f"--user-data-dir={profile}", "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}", html.resolve().as_uri()]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.insert(1, "--no-sandbox")  # Chromium refuses to run its sandbox as root
    return args


def print_pdf(html: Path, pdf: Path, *, timeout_s: float = PRINT_TIMEOUT_S) -> Path:
    """Print ``html`` to ``pdf`` (atomically) with headless Chromium; returns ``pdf``.

    Raises
    ------
    KmgisError
        No Chromium found (install Debian's ``chromium`` or set ``$KMGIS_CHROMIUM``), or the
        print failed or timed out (its last message is quoted).
    """
    exe = find_chromium()
    if exe is None:
        raise KmgisError("report.pdf needs Chromium: install it (apt-get install chromium fonts-wqy-microhei) "
                         "or set KMGIS_CHROMIUM to its path; report.html was written")
    with tempfile.TemporaryDirectory(prefix="kmgis-chromium-") as profile, atomic_path(Path(pdf)) as tmp:
        try:
            done = subprocess.run(chromium_args(exe, Path(html), tmp, Path(profile)), capture_output=True,
                                  text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise KmgisError(f"Chromium did not print {html} within {timeout_s:g} s") from None
        if done.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise KmgisError(f"Chromium could not print {html} (exit {done.returncode}): {last}")
    return Path(pdf)
