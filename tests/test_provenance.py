"""Provenance hygiene of the shipped tables and recipes.

* Every web address in ``layers/**/*.yaml`` and ``recipes/**/*.yaml`` is on a host of
  :data:`ORIGINAL_PUBLISHERS` (the page that first published the text) or of
  :data:`REPRINT_HOSTS` (a reprint of a text whose original address is not known; the entry
  says so).  Copies of Wikipedia (mirrors, proxies, IPFS or Kiwix snapshots, translation sites)
  are cited by the original article instead; :data:`KNOWN_COPIES` must stay rejected.
* No file tracked by git holds a path of a particular machine (under /work, /root, /home/<user>,
  /Users/<user> or C:\\Users; see :data:`MACHINE_PATH`), except :data:`PATH_EXCEPTIONS`.
* Every seat or centre with coordinates in ``layers/seats.yaml`` (alternatives included) cites a
  source with an allowed address and an access date; a recipe's seat point is the point of
  ``layers/seats.yaml`` and cites the same page.
* The tables and recipes say what things are, not how a file was made.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

WIKIPEDIA = re.compile(r"^[a-z]{2,3}(-[a-z]+)*\.wikipedia\.org$")
"""A Wikipedia language edition (``de.wikipedia.org``); not the mobile site, not a copy."""

ORIGINAL_PUBLISHERS: dict[str, str] = {
    "www.gov.cn": "中国政府网 (State Council portal)",
    "www.yn.gov.cn": "云南省人民政府 (provincial gazette)",
    "zrzyj.anshun.gov.cn": "安顺市自然资源局",
    "global.chinadaily.com.cn": "China Daily",
    "cnews.chinadaily.com.cn": "China Daily",
    "www.thepaper.cn": "澎湃新闻 The Paper",
    "zgbk.com": "中国大百科全书 online edition",
    "ccprjournal.com.cn": "China City Planning Review (journal site)",
    "www.nap.edu": "National Academies Press",
    "pubsindex.trb.org": "Transportation Research Board, TRID index",
    "www.chinesestandard.net": "publisher of English editions of Chinese standards (its own data block)",
    "blog.csdn.net": "an author's blog post (its own summary of the indicator list)",
    "yunnanexploration.com": "travel site (its own location page)",
    "factpedia.org": "全球中文百科, an independently edited Chinese wiki (its own article revision)",
}
"""Hosts that publish the cited text themselves (besides the Wikipedia language editions)."""

REPRINT_HOSTS: dict[str, str] = {
    "miaofang80.com": "GB 55014-2021 text",
    "www.jianbiaoku.com": "library of standard texts (GB 55014-2021)",
    "m.jinchutou.com": "document-sharing copy of 2021年城市体检指标体系",
    "yuanlin8.com": "front matter of GB/T 50563-2010",
    "mtoou.info": "draft GB/T 51346 quoted in a paper's table",
    "azoutdoor.com": "paraphrased copy of the 国家生态园林城市标准",
    "geipa.cn": "explanatory notes of GB 50180-2018",
    "m.zgkjsz.com": "article of 西部人居环境学刊 2021(5)",
    "discovery.researcher.life": "abstracts of journal papers",
    "www.fymate.net": "law database: 《滇池保护条例》(1988)",
    "km.news.fang.com": "昆明信息港 report (2015-05-19)",
    "kunming.baogaosu.com": "report on the approved 《滇池分级保护范围划定方案》",
    "m.110.com": "law database: 昆明市人民政府 notice",
    "m.lvqr.com.cn": "report on the 2022-12-29 press conference",
    "zihua.hzdx.com": "春城晚报 report (2023-03-24)",
    "cjph.hznaoa.cn": "中新网 report (2025-07-22)",
    "mp.123yiche.com": "lake gazetteer entry 滇池",
    "eebang.com": "article 高原明珠——滇池",
    "jwgwl.cn": "2019 guidance of the CPC General Office and State Council General Office",
}
"""Hosts of reprints whose original address is not known: what each reprints."""

KNOWN_COPIES = (
    "https://dnhewrhegkli.shop/wiki/Jinning",
    "https://wikiwand.com/en/articles/Dongchuan_District",
    "https://wikivisually.com/wiki/Dongchuan_District",
    "https://gateway.ipfs.io/ipfs/QmXoypizjW3WknFiJnKLwHCnL72vedxjQkDDP1mXWo6uco/wiki/Panlong_District.html",
    "https://ru.wikipedia-on-ipfs.org/wiki/Хунта_(Юйси)",
    "https://kiwix.lema.org/wikipedia_en_all_mini_2024-02/A/Qujing",
    "https://wikipedia.jakami.de/content/wikipedia_de_all_mini_2024-06/A/Yuxi",
    "http://fr.academic.ru/dic.nsf/frwiki/523726",
    "https://de-academic.com/dic.nsf/dewiki/1282072",
    "https://en-academic.com/dic.nsf/enwiki/129909",
    "https://it.wiki7.org/wiki/Гуаньду",
    "https://perceptiode.com/Чэнгун",
    "https://desv.other.wiki/wiki/Chengjiang",
    "https://askwikinow.com/view_html.php?lang=en&q=Mengzi+City",
    "https://anonyproxies.com/a2/index.php?q=https%3A%2F%2Fen.wikipedia.org%2Fwiki%2FMile_City",
    "http://cryer.org.uk/Lunan_County",
    "https://wikines.com/en/Chuxiong_City",
    "https://wikiclassic.com/wiki/Chuxiong_Prefecture",
    "https://en.m.wikipedia.org/wiki/Chenggong_District",
    "https://bahnsport-info.de/bahnsport-info-wikipedia/?rdp_we_resource=https%3A%2F%2Fen.wikipedia.org%2Fwiki%2FDianchi_Lake",
    "https://ochochicas.com/zwgk/zfgb/2022/2022d13q/szfwj/202204/t20220428_241532.html",
    "http://usamodel.cn/newsDetail_forward_13513610",
    "http://big5.www.gov.cn/gate/big5/www.gov.cn/govweb/gzdt/2012-12/07/content_2285054.htm",
)
"""Copies of Wikipedia articles and of other originals, formerly cited: never allowed."""

URL = re.compile(r"https?://[^\s\"'<>()\[\]{}，、；]+")
ACCESSED = re.compile(r"^\d{4}-\d{2}-\d{2}$")

_HOME = "/" + "home/"  # the patterns are split so that this file does not match itself
MACHINE_PATH = re.compile(
    "|".join([re.escape("/" + "work/"), re.escape("/" + "root/"), re.escape(_HOME) + r"[A-Za-z0-9_.-]+/",
              re.escape("/" + "Users/") + r"[A-Za-z0-9_.-]+/", r"[A-Za-z]:\\+Users\\+"]))
"""A path that only exists on one machine."""

PATH_EXCEPTIONS: dict[str, str] = {}
"""Tracked files allowed to hold such a path, each with its reason (none at present)."""

HOW_MADE = re.compile(r"this session|no live internet|stored cop(y|ies)|stored page|mirror of|via a mirror|"
                      r"web-corpus|find_string|\.\./shared/reference", re.IGNORECASE)
"""Words about how a table was made (or where a draft was kept) rather than what it is."""


def allowed_host(url: str) -> bool:
    """Whether ``url`` is on an original publisher's host or a listed reprint host."""
    host = (urlsplit(url).hostname or "").lower()
    return bool(WIKIPEDIA.match(host)) or host in ORIGINAL_PUBLISHERS or host in REPRINT_HOSTS


def bad_urls(text: str) -> list[str]:
    """The web addresses in ``text`` whose host is not allowed."""
    return [u for u in URL.findall(text) if not allowed_host(u)]


def _cited_files() -> list[Path]:
    files = [*ROOT.glob("layers/**/*.yaml"), *ROOT.glob("recipes/**/*.yaml")]
    assert len(files) > 10
    return sorted(files)


def _tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [p for p in out.stdout.decode("utf-8").split("\0") if p]


def _points(node: object, where: str = "seats.yaml"):
    """Every mapping with a non-null ``lon`` in ``node``, with where it is."""
    if isinstance(node, dict):
        if node.get("lon") is not None:
            yield where, node
        for key, value in node.items():
            yield from _points(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _points(value, f"{where}[{i}]")


def source_problems(where: str, point: dict) -> list[str]:
    """What is missing from the source of a point with coordinates."""
    src = point.get("source")
    if not isinstance(src, dict):
        return [f"{where}: source is not a citation mapping: {src!r}"]
    problems = [f"{where}: source has no {k}" for k in ("title", "site", "url", "revision", "quote") if not src.get(k)]
    if not ACCESSED.match(str(src.get("accessed", ""))):
        problems.append(f"{where}: accessed {src.get('accessed')!r} is not a YYYY-MM-DD date")
    if src.get("url") and not allowed_host(str(src["url"])):
        problems.append(f"{where}: {src['url']} is not an original publisher")
    return problems


# --------------------------------------------------------------------------- the checks can fail


@pytest.mark.parametrize("url", KNOWN_COPIES)
def test_copies_are_rejected(url):
    assert not allowed_host(url)
    assert [urlsplit(u).hostname for u in bad_urls(f"source: {url} (copy of the article)")] == [urlsplit(url).hostname]


def test_originals_are_accepted():
    assert allowed_host("https://de.wikipedia.org/wiki/Jinning")
    assert allowed_host("https://zh.wikipedia.org/wiki/盘龙区")
    assert not allowed_host("https://de.wikipedia.org.example.com/wiki/Jinning")


def test_the_former_seat_entry_fails():
    old = {"lon": 102.6, "lat": 24.66667,
           "source": "https://dnhewrhegkli.shop/wiki/Jinning (mirror of de Wikipedia 'Jinning', "
                     "Koordinaten 24°40′N 102°36′O; DMS converted)"}
    assert source_problems("jinning", old)
    mirror = {"lon": 102.6, "lat": 24.66667,
              "source": {"title": "Jinning", "site": "de Wikipedia", "url": "https://dnhewrhegkli.shop/wiki/Jinning",
                         "revision": "not recorded", "accessed": "2026-11-23", "quote": "24°40′N 102°36′O"}}
    assert [p for p in source_problems("jinning", mirror) if "not an original publisher" in p]
    undated = dict(mirror, source=dict(mirror["source"], url="https://de.wikipedia.org/wiki/Jinning", accessed=None))
    assert source_problems("jinning", undated) == ["jinning: accessed None is not a YYYY-MM-DD date"]


def test_machine_paths_and_how_made_words_are_found():
    assert MACHINE_PATH.search("data: " + "/" + "work/main/data")
    assert MACHINE_PATH.search("cache in " + _HOME + "alice/.cache")
    assert MACHINE_PATH.search("C:" + "\\Users\\bob\\kmgis")
    assert not MACHINE_PATH.search("../shared/data or $KMGIS_DATA")
    assert HOW_MADE.search("# How this file was made (2026-11-23, no live internet):")


def test_allow_lists_hold_no_copy():
    hosts = {urlsplit(u).hostname for u in KNOWN_COPIES}
    assert not hosts & (set(ORIGINAL_PUBLISHERS) | set(REPRINT_HOSTS))


# --------------------------------------------------------------------------- the project


def test_every_address_in_tables_and_recipes_is_an_original_or_a_listed_reprint():
    found = {}
    for path in _cited_files():
        bad = bad_urls(path.read_text(encoding="utf-8"))
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    assert not found, f"addresses not on an original publisher's host: {found}"


def test_allow_lists_hold_only_hosts_in_use():
    text = "\n".join(p.read_text(encoding="utf-8") for p in _cited_files())
    hosts = {(urlsplit(u).hostname or "").lower() for u in URL.findall(text)}
    assert set(REPRINT_HOSTS) <= hosts, f"unused reprint hosts: {set(REPRINT_HOSTS) - hosts}"
    assert set(ORIGINAL_PUBLISHERS) <= hosts, f"unused publisher hosts: {set(ORIGINAL_PUBLISHERS) - hosts}"


def test_no_tracked_file_holds_a_machine_path():
    found = []
    for rel in _tracked_files():
        if rel in PATH_EXCEPTIONS:
            continue
        path = ROOT / rel
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                found.append(f"{rel}:{n}: {line.strip()[:120]}")
    assert not found, "paths of a particular machine:\n" + "\n".join(found)


def test_tables_and_recipes_say_what_things_are():
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()[:120]}"
             for p in [*_cited_files(), *ROOT.glob("layers/**/*.md")]
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if HOW_MADE.search(line)]
    assert not found, "\n".join(found)


def test_every_seat_with_coordinates_cites_an_original_page_with_an_access_date():
    table = yaml.safe_load((ROOT / "layers" / "seats.yaml").read_text(encoding="utf-8"))
    points = list(_points(table))
    assert len(points) >= 20
    problems = [p for where, point in points for p in source_problems(where, point)]
    assert not problems, "\n".join(problems)
    for group in ("seats", "centres"):
        for uid, row in table[group].items():
            if row.get("lon") is None:
                assert str(row["source"]).startswith("not found"), uid


def test_recipe_seats_are_the_seats_table_points_and_cite_the_same_page():
    seats = yaml.safe_load((ROOT / "layers" / "seats.yaml").read_text(encoding="utf-8"))["seats"]
    checked = 0
    for path in sorted(ROOT.glob("recipes/**/*.yaml")):
        recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(recipe, dict) or not recipe.get("seat"):
            continue
        seat, row = recipe["seat"], seats[recipe["units"][0]]
        assert (seat["lon"], seat["lat"], seat.get("precision_m")) == (row["lon"], row["lat"], row["precision_m"]), path
        assert row["source"]["url"] in seat["source"] and "accessed " + row["source"]["accessed"] in seat["source"], path
        checked += 1
    assert checked >= 5
