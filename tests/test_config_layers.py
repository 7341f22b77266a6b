"""Configuration ships with the package: packaged tables and recipes, the user's override folder, the data directory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

import kmgis.config
from kmgis.cli import main
from kmgis.config import (
    DATA_ENV,
    LAYERS_ENV,
    data_dir,
    default_data_dir,
    layers_dir,
    layers_path,
    load_layers_yaml,
    packaged_recipe,
    packaged_recipes,
    resolve_path,
    user_layers_dir,
)
from kmgis.errors import KmgisError

TABLES = ("catalog", "targets", "facilities", "speeds", "road_classes", "seats", "units", "dianchi_zones")
CHECKOUT = Path(kmgis.config.__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_tables(monkeypatch):
    """No override folder, and a table cache that neither comes from nor leaks to other tests."""
    monkeypatch.setenv(LAYERS_ENV, "")  # empty = unset; the original value comes back after the test
    load_layers_yaml.cache_clear()
    yield
    load_layers_yaml.cache_clear()


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_packaged_tables_load():
    folder = layers_dir()
    for name in TABLES:
        assert (folder / f"{name}.yaml").is_file()
        assert isinstance(load_layers_yaml(name), dict)
    assert "kunming_roads" in load_layers_yaml("catalog")["layers"]
    assert layers_path("population.csv") == folder / "population.csv"
    assert resolve_path("layers:population.csv", None).is_file()
    assert user_layers_dir() is None


def test_override_folder_replaces_only_its_files(tmp_path, monkeypatch):
    packaged_targets, packaged_speeds = load_layers_yaml("targets"), load_layers_yaml("speeds")
    mine = yaml.safe_load((layers_dir() / "targets.yaml").read_text(encoding="utf-8"))
    mine["targets"] = mine["targets"][:1]
    mine["targets"][0]["value"] = 12.5
    user = tmp_path / "my-layers"
    user.mkdir()
    (user / "targets.yaml").write_text(yaml.safe_dump(mine, allow_unicode=True), encoding="utf-8")

    monkeypatch.setenv(LAYERS_ENV, str(user))  # no cache_clear: the cache follows the override
    assert user_layers_dir() == user
    assert load_layers_yaml("targets") == mine
    assert load_layers_yaml("speeds") == packaged_speeds
    assert layers_path("targets.yaml") == user / "targets.yaml"
    assert layers_path("speeds.yaml") == layers_dir() / "speeds.yaml"
    assert resolve_path("layers:population.csv", None) == layers_dir() / "population.csv"

    monkeypatch.setenv(LAYERS_ENV, "")
    assert load_layers_yaml("targets") == packaged_targets


def test_missing_override_folder_is_a_one_line_error(tmp_path, monkeypatch):
    missing = tmp_path / "nope"
    monkeypatch.setenv(LAYERS_ENV, str(missing))
    for call in (user_layers_dir, lambda: load_layers_yaml("speeds"), lambda: layers_path("speeds.yaml")):
        with pytest.raises(KmgisError) as exc:
            call()
        text = _one_line(exc)
        assert str(missing) in text and "does not exist" in text


def test_cli_layers_option_sets_the_override(tmp_path, capsys):
    user = tmp_path / "my-layers"
    user.mkdir()
    # the override is applied before the command runs (which then stops on its missing data folder)
    assert main(["--layers", str(user), "demo", "--data", str(tmp_path / "no-data"), "--out", str(tmp_path)]) == 2
    assert user_layers_dir() == user.resolve()
    assert "data directory" in capsys.readouterr().err

    assert main(["--layers", str(tmp_path / "nope"), "demo", "--out", str(tmp_path)]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("kmgis: error: layers folder") and "nope" in err[0]


def test_packaged_recipes():
    jinning = packaged_recipe("jinning")
    assert jinning.is_file() and jinning.name == "jinning.yaml"
    assert packaged_recipe("jinning.yaml") == jinning
    assert packaged_recipe("samples/osm-sample").is_file()
    names = packaged_recipes()
    assert {"jinning", "metro", "central-city", "samples/osm-sample"} <= set(names)
    assert names[-1] == "samples/osm-sample"  # top-level recipes first


@pytest.mark.parametrize("name", ["atlantis", "../layers/targets", "samples"])
def test_unknown_recipe_names_the_known_ones(name):
    with pytest.raises(KmgisError) as exc:
        packaged_recipe(name)
    text = _one_line(exc)
    assert repr(name) in text and "jinning" in text and "samples/osm-sample" in text


def test_data_directory_order(tmp_path, monkeypatch):
    work, beside = tmp_path / "project" / "work", tmp_path / "project" / "shared" / "data"
    flag, env = tmp_path / "flag", tmp_path / "env"
    for folder in (work, beside, flag, env):
        folder.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv(DATA_ENV, str(env))
    assert data_dir(str(flag)) == flag.resolve()
    assert data_dir(None) == env.resolve()
    monkeypatch.delenv(DATA_ENV)
    assert data_dir(None) == default_data_dir() == beside.resolve()

    monkeypatch.chdir(tmp_path)  # no ../shared/data here: the one beside the source checkout, if any
    checkout_data = CHECKOUT.parent / "shared" / "data"
    expected = checkout_data.resolve() if (CHECKOUT / "pyproject.toml").is_file() and checkout_data.is_dir() else None
    assert data_dir(None) == expected


def test_missing_explicit_data_directory_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "nope"))
    with pytest.raises(KmgisError, match="KMGIS_DATA"):
        data_dir(None)
    with pytest.raises(KmgisError, match="--data"):
        data_dir(str(tmp_path / "nope"))


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib")
def test_pyproject_ships_every_subpackage():
    import tomllib

    setup = tomllib.loads((CHECKOUT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    package = CHECKOUT / "kmgis"
    on_disk = {".".join(p.parent.relative_to(CHECKOUT).parts) for p in package.rglob("__init__.py")}
    assert on_disk | {"kmgis.layers", "kmgis.recipes"} == set(setup["packages"])
    assert setup["package-dir"] == {"kmgis.layers": "layers", "kmgis.recipes": "recipes"}
