"""Configuration: the tables of ``layers/``, the shipped recipes, the data directory, and the models.

The tables (catalog.yaml, targets.yaml, …, population.csv) ship inside the package as
``kmgis.layers`` and the recipes as ``kmgis.recipes`` (the project's top-level ``layers/`` and
``recipes/`` folders, mapped by setuptools; read through :mod:`importlib.resources`).  A user
folder named by ``$KMGIS_LAYERS`` (or ``kmgis --layers DIR``) overrides them file by file, see
:func:`layers_path`.  The data directory is resolved by :func:`data_dir`.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kmgis.errors import KmgisError

LAYERS_ENV = "KMGIS_LAYERS"
DATA_ENV = "KMGIS_DATA"

_CHECKOUT = Path(__file__).resolve().parents[1]
#: The folder above the package: the source checkout in an editable install (``site-packages`` in an
#: installed wheel).  kmgis itself no longer uses it; kept for the tests that locate the checkout.
PROJECT_ROOT = _CHECKOUT


#: ``layers.osm: overpass`` in a recipe: fetch the study area from the Overpass API (osmnx, cached)
OVERPASS = "overpass"

def _in_checkout() -> bool:
    """Whether this kmgis is imported from its source checkout (editable install or ``PYTHONPATH``)."""
    return (_CHECKOUT / "pyproject.toml").is_file()


def _package_dir(package: str, checkout_folder: str) -> Path:
    """The folder of a data package (``kmgis.layers``, ``kmgis.recipes``) on disk.

    Parameters
    ----------
    package : str
        The package, read through :func:`importlib.resources.files`.
    checkout_folder : str
        Its folder at the top of the source checkout, used when the package is not importable
        because kmgis runs from a checkout that was never installed (``PYTHONPATH=.``).

    Returns
    -------
    Path
    """
    try:
        return Path(str(importlib.resources.files(package)))
    except ModuleNotFoundError:
        local = _CHECKOUT / checkout_folder
        if _in_checkout() and local.is_dir():
            return local
        raise KmgisError(f"kmgis is installed without its package data {package}: reinstall kmgis") from None


def layers_dir() -> Path:
    """The folder of the packaged tables (``kmgis.layers``: catalog.yaml, targets.yaml, speeds.yaml, …).

    These are the defaults; :func:`layers_path` applies the user's override folder.

    Returns
    -------
    Path
    """
    return _package_dir("kmgis.layers", "layers")


def _user_folder(value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise KmgisError(f"layers folder {path} (--layers or {LAYERS_ENV}) does not exist or is not a folder")
    return path


def user_layers_dir() -> Path | None:
    """The user's override folder: ``$KMGIS_LAYERS`` (``kmgis --layers DIR`` sets it), or None.

    Returns
    -------
    Path or None

    Raises
    ------
    KmgisError
        If the variable names a folder that does not exist.
    """
    return _user_folder(os.environ.get(LAYERS_ENV) or None)


def _layers_file(filename: str, override: str | None) -> Path:
    user = _user_folder(override)
    if user is not None and (user / filename).is_file():
        return user / filename
    return layers_dir() / filename


def layers_path(filename: str) -> Path:
    """Where the table ``filename`` (``targets.yaml``, ``population.csv``, …) is read from.

    The file of that name in the user's folder (:func:`user_layers_dir`) when there is one, else the
    packaged file: a planner can ship only their own ``targets.yaml``.

    Parameters
    ----------
    filename : str
        File name inside ``layers/``.

    Returns
    -------
    Path
        The path (the packaged one also when that file does not exist).
    """
    return _layers_file(filename, os.environ.get(LAYERS_ENV) or None)


@functools.cache
def _parse_layers_yaml(name: str, override: str | None) -> dict[str, Any]:
    path = _layers_file(f"{name}.yaml", override)
    try:
        with path.open(encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise KmgisError(f"{path}: missing layer table {name}.yaml") from None
    except yaml.YAMLError as exc:
        raise KmgisError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise KmgisError(f"{path}: expected a mapping at the top level")
    return data


def load_layers_yaml(name: str) -> dict[str, Any]:
    """Parse the table ``<name>.yaml``: the user's copy if any (:func:`layers_path`), else the packaged one.

    Cached per name and override folder, so a change of ``$KMGIS_LAYERS`` takes effect at once;
    ``load_layers_yaml.cache_clear()`` empties the cache (after editing a table in place).

    Parameters
    ----------
    name : str
        Table name without ``.yaml`` (``"targets"``).

    Returns
    -------
    dict
        The parsed mapping (shared between callers: do not modify it).

    Raises
    ------
    KmgisError
        If the table is absent, invalid YAML or not a mapping, or the override folder does not exist.
    """
    return _parse_layers_yaml(name, os.environ.get(LAYERS_ENV) or None)


load_layers_yaml.cache_clear = _parse_layers_yaml.cache_clear  # type: ignore[attr-defined]


def _recipes_dir() -> Path:
    return _package_dir("kmgis.recipes", "recipes")


def packaged_recipes() -> list[str]:
    """Names of the recipes shipped in ``kmgis.recipes``: ``anning``, …, ``samples/osm-sample``.

    Returns
    -------
    list of str
        Top-level recipes first, each group sorted.
    """
    root = _recipes_dir()
    names = (p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml"))
    return sorted(names, key=lambda n: (n.count("/"), n))


def packaged_recipe(name: str) -> Path:
    """The file of a recipe shipped with kmgis.

    Parameters
    ----------
    name : str
        ``"jinning"``, ``"metro"``, ``"samples/osm-sample"`` (a ``.yaml`` suffix is accepted).

    Returns
    -------
    Path

    Raises
    ------
    KmgisError
        If no such recipe ships with kmgis; the message names the known ones.
    """
    key = name.removesuffix(".yaml")
    known = packaged_recipes()
    if key not in known:
        raise KmgisError(f"no recipe {name!r} ships with kmgis; known recipes: {', '.join(known)}")
    return _recipes_dir() / f"{key}.yaml"


def default_data_dir() -> Path | None:
    """The implicit data directory: the first existing folder of

    1. ``../shared/data`` relative to the current working directory;
    2. ``../shared/data`` beside the source checkout holding kmgis (editable installs only).

    Returns
    -------
    Path or None
        The resolved folder, or None when neither exists.
    """
    candidates = [Path.cwd().parent / "shared" / "data"]
    if _in_checkout():
        candidates.append(_CHECKOUT.parent / "shared" / "data")
    return next((c.resolve() for c in candidates if c.is_dir()), None)


def data_dir(cli_value: str | os.PathLike | None = None, *, must_exist: bool = True) -> Path | None:
    """Resolve the data directory.

    In order: ``--data DIR`` (``cli_value``), else ``$KMGIS_DATA``, else ``../shared/data`` relative to
    the current working directory if it exists, else ``../shared/data`` beside the source checkout
    (editable installs) if it exists (:func:`default_data_dir`).

    Parameters
    ----------
    cli_value : str or path-like, optional
        The ``--data`` option.
    must_exist : bool
        Whether an explicitly given directory (flag or environment) must exist.

    Returns
    -------
    Path or None
        The resolved directory; None when nothing was given and no default exists.

    Raises
    ------
    KmgisError
        If an explicitly given directory does not exist (with ``must_exist``).
    """
    explicit = cli_value if cli_value is not None else os.environ.get(DATA_ENV) or None
    if explicit is not None:
        path = Path(explicit).expanduser()
        if must_exist and not path.is_dir():
            origin = "--data" if cli_value is not None else DATA_ENV
            raise KmgisError(f"data directory {path} ({origin}) does not exist or is not a folder")
        return path.resolve()
    return default_data_dir()


# --------------------------------------------------------------------------- catalogue

LayerKind = Literal[
    "boundaries", "roads", "facilities", "parks", "green", "water", "buildings", "landuse", "osm", "population_table",
    "protection",  # red line, farmland, urban development boundary, water-source or Dianchi zones (kmgis check-site)
    "stations", "metro_lines",  # metro stations (points) and the lines' station sequences (reader station_table)
]


class FieldRule(BaseModel):
    """How one model column is filled: from a source column (optionally recoding values) or a constant."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str | None = Field(default=None, alias="from")
    values: dict[str, str] | None = None
    value: str | float | int | bool | None = None

    @model_validator(mode="after")
    def _one_of(self) -> FieldRule:
        if (self.from_ is None) == (self.value is None):
            raise ValueError("give exactly one of 'from' (a source column) or 'value' (a constant)")
        return self


class CatalogEntry(BaseModel):
    """One layer of ``layers/catalog.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: LayerKind
    reader: Literal["cnmaps", "file", "osm_file", "table", "station_table"]
    path: str | None = None
    layer: str | None = None
    crs: str | None = None
    source_crs: str | None = None
    encoding: str | None = None
    city: str | None = None
    adcodes: list[str] | None = None
    licence: str
    description: str = ""
    #: what a reader of the results must know about this layer (shown in the county report's limits)
    limits: list[str] = []
    fields: dict[str, FieldRule] = {}
    #: reader station_table, kind metro_lines: ``{line: {first station id of a branch: station id it leaves
    #: from}}`` for a branch stored joined after another station in one sequence (kmgis.sources.stations)
    branches: dict[str, dict[str, str]] = {}

    @model_validator(mode="after")
    def _path_needed(self) -> CatalogEntry:
        if self.reader in ("file", "osm_file", "table", "station_table") and not self.path:
            raise ValueError(f"reader {self.reader!r} needs a 'path'")
        if self.reader == "cnmaps" and not (self.city or self.adcodes):
            raise ValueError("reader 'cnmaps' needs 'city' or 'adcodes'")
        return self


def _validation_message(where: str, exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{where}: {loc}: {err['msg']}{more}"


def load_catalog() -> dict[str, CatalogEntry]:
    """All layers of ``layers/catalog.yaml``, validated."""
    raw = load_layers_yaml("catalog").get("layers") or {}
    out = {}
    for name, body in raw.items():
        try:
            out[name] = CatalogEntry(name=name, **(body or {}))
        except ValidationError as exc:
            raise KmgisError(_validation_message(f"layers/catalog.yaml: layer {name}", exc)) from None
    return out


def catalog_entry(name: str) -> CatalogEntry:
    """One catalogue layer by name; unknown names give the list of known ones."""
    catalog = load_catalog()
    if name not in catalog:
        raise KmgisError(f"unknown layer {name!r}; the catalogue has: {', '.join(catalog)}")
    return catalog[name]


def resolve_path(path: str, data: Path | None) -> Path:
    """Resolve a catalogue path: ``pkg:NAME/rel``, ``layers:FILE`` or relative to the data directory."""
    if path.startswith("pkg:"):
        package, _, rel = path[4:].partition("/")
        try:
            return Path(str(importlib.resources.files(package) / rel))
        except ModuleNotFoundError:
            raise KmgisError(f"{path}: Python package {package!r} is not installed") from None
    if path.startswith("layers:"):
        return layers_path(path[len("layers:"):])
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate
    if data is None:
        raise KmgisError(
            f"{path}: no data directory; pass --data DIR or set KMGIS_DATA to the folder holding {path}"
        )
    return data / candidate


def units_table() -> dict[str, dict[str, Any]]:
    """Kunming's county-level units and the neighbours, by pinyin id (``layers/units.yaml``)."""
    data = load_layers_yaml("units")
    return {**data["units"], **data.get("neighbours", {})}


def unit_id(name: str) -> str:
    """The pinyin id of a unit given its id, adcode, Chinese or English name (case-insensitive)."""
    key = str(name).strip()
    table = units_table()
    for uid, row in table.items():
        short = re.sub(r"((回族彝族|彝族苗族|彝族)?自治县|[区县市])$", "", row["name_zh"])
        names = {uid, row["adcode"], row["name_zh"], row["name_en"].lower(), short}
        if key in names or key.lower() in names:
            return uid
    known = ", ".join(f"{u} ({r['name_zh']})" for u, r in load_layers_yaml("units")["units"].items())
    raise KmgisError(f"unknown county-level unit {name!r}; known units: {known}")


# --------------------------------------------------------------------------- recipes

_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class SeatPoint(BaseModel):
    """The county seat (government seat) used to pick the built-up patch; WGS84 degrees."""

    model_config = ConfigDict(extra="forbid")

    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    source: str = ""
    precision_m: float | None = Field(default=None, ge=0)


class PoiTableSpec(BaseModel):
    """A POI table (CSV with lon/lat) to read as facilities."""

    model_config = ConfigDict(extra="forbid")

    path: str
    lon: str = "lon"
    lat: str = "lat"
    gcj02: bool = False
    category: str | None = "category"
    typecode: str | None = None
    name: str | None = "name"
    encoding: str | None = None


class RecipeLayers(BaseModel):
    """Which catalogue layers (by name) or files feed a recipe.  Absent layers give `no data`."""

    model_config = ConfigDict(extra="forbid")

    roads: str | None = None
    osm: str | None = None
    poi_table: PoiTableSpec | None = None
    population_raster: str | None = None
    built_up: str | None = None
    stations: str | None = None
    metro_lines: str | None = None


class BuiltUpParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    """Road-derived built-up area (kmgis.indicators.builtup); None = the module default."""

    cell_m: float | None = Field(default=None, gt=0)
    window_m: float | None = Field(default=None, gt=0)
    threshold_km_per_km2: float | None = Field(default=None, gt=0)
    closing_m: float | None = Field(default=None, ge=0)
    opening_m: float | None = Field(default=None, ge=0)
    fill_holes_km2: float | None = Field(default=None, ge=0)
    min_patch_km2: float | None = Field(default=None, ge=0)


class RecipeParams(BaseModel):
    """Parameters of a recipe run; every value is recorded in run.json.  Units in the names."""

    model_config = ConfigDict(extra="forbid")

    halo_m: float = Field(default=2000.0, ge=0, le=50000)
    metric_crs: str = "auto"
    walk_kmh: float = Field(default=4.8, gt=0, le=10)
    lifecircle_minutes: float = Field(default=15.0, gt=0, le=120)
    lifecircle_band_m: tuple[float, float] = (1000.0, 1500.0)
    green_max_m: float = Field(default=300.0, gt=0)
    park_max_m: float = Field(default=500.0, gt=0)
    max_snap_m: float = Field(default=250.0, gt=0, le=5000)
    include_internal_roads: bool = False
    access_grid_cell_m: float = Field(default=100.0, gt=0)
    population_cell_m: float = Field(default=100.0, gt=0)
    builtup: BuiltUpParams = BuiltUpParams()
    # GB 50180-2018 life-circle levels (layers/standards/gb50180_2018.yaml): None = the standard's distances
    levels_distance_m: dict[str, float] | None = None  # e.g. {"15min": 800}
    levels_walk_kmh: float | None = Field(default=None, gt=0, le=10)  # else the level minutes × this speed
    levels_group_kmh: dict[str, float] | None = None  # None: the table's group speeds; {}: no group rows


class Recipe(BaseModel):
    """A recipe: one scorecard run for a county-level unit, the central city or a sample area."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_ID_PATTERN)
    name: str
    scope: Literal["county_seat", "central_city", "sample"]
    units: list[str] | None = None
    boundary_from_osm_extent: bool = False
    seat: SeatPoint | None = None
    population_total: int | None = Field(default=None, gt=0)
    population_density_per_km2: float | None = Field(default=None, gt=0)
    population_source: str | None = None
    layers: RecipeLayers = RecipeLayers()
    parameters: RecipeParams = RecipeParams()
    targets: list[str] | None = None

    @model_validator(mode="after")
    def _area_given(self) -> Recipe:
        if bool(self.units) == self.boundary_from_osm_extent:
            raise ValueError("give either 'units' (county-level unit ids) or 'boundary_from_osm_extent: true'")
        if self.boundary_from_osm_extent and not self.layers.osm:
            raise ValueError("'boundary_from_osm_extent' needs layers.osm")
        given = [k for k in ("population_total", "population_density_per_km2") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError("give at most one of 'population_total' and 'population_density_per_km2'")
        if given and not self.population_source:
            raise ValueError(f"'{given[0]}' needs 'population_source' (where the figure comes from)")
        return self


# --------------------------------------------------------------------------- metro recipe (kind: metro)


class MetroOrigin(BaseModel):
    """An origin of the metro isochrones: a named centre or a unit's seat from layers/seats.yaml, or a point."""

    model_config = ConfigDict(extra="forbid")

    centre: str | None = None
    seat: str | None = None
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    gcj02: bool = False
    name: str | None = None
    source: str = ""

    @model_validator(mode="after")
    def _one_kind(self) -> MetroOrigin:
        given = [self.centre is not None, self.seat is not None, self.lon is not None or self.lat is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of 'centre' (layers/seats.yaml centres), 'seat' (a unit id) or lon/lat")
        if given[2] and (self.lon is None or self.lat is None):
            raise ValueError("a point origin needs both lon and lat")
        if given[2] and not self.source:
            raise ValueError("a point origin needs 'source' (where the coordinate comes from)")
        return self


class MetroMember(BaseModel):
    """A member of the metropolitan circle: a unit id (layers/units.yaml / seats.yaml) and its role.

    ``seat`` overrides the seat point of layers/seats.yaml (its ``source`` is required).
    Without a sourced seat the unit polygon's representative point is used, labelled.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    role: Literal["core", "member", "circle_1_5h"] = "member"
    seat: SeatPoint | None = None
    name_zh: str | None = None

    @model_validator(mode="after")
    def _seat_sourced(self) -> MetroMember:
        if self.seat is not None and not self.seat.source.strip():
            raise ValueError(f"member {self.id}: a seat point needs 'source' (where the coordinate comes from)")
        return self


class MetroLayers(BaseModel):
    """Where the drive roads come from: a catalogue road layer and/or an OSM file (OSM wins when both)."""

    model_config = ConfigDict(extra="forbid")

    roads: str | None = None
    osm: str | None = None


class MetroParams(BaseModel):
    """Parameters of the metro isochrones; every value is recorded in run.json.  Units in the names."""

    model_config = ConfigDict(extra="forbid")

    buffer_m: float = Field(default=150.0, gt=0, le=5000)
    fill_holes_km2: float = Field(default=1.0, ge=0)
    simplify_m: float = Field(default=10.0, ge=0, le=100)
    max_snap_m: float = Field(default=1000.0, gt=0, le=20000)
    min_expressway_km: float = Field(default=10.0, ge=0)
    osm_halo_km: float = Field(default=20.0, ge=0, le=500)
    metric_crs: str = "auto"


class MetroRecipe(BaseModel):
    """``recipes/metro.yaml``: drive-time isochrones from the main centre and the member table."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["metro"]
    id: str = Field(pattern=_ID_PATTERN)
    name: str
    mode: Literal["drive", "walk", "transit"] = "drive"
    time_bands: list[str] = Field(default=["free", "peak"], min_length=1)
    isochrone_band: str = "free"
    within_band: str = "free"
    budgets_min: list[float] = Field(default=[30.0, 45.0, 60.0, 90.0], min_length=1)
    commute_min: float = Field(default=60.0, gt=0)
    circle_min: float = Field(default=90.0, gt=0)
    origins: list[MetroOrigin] = Field(min_length=1)
    members: list[MetroMember] = Field(min_length=1)
    layers: MetroLayers = MetroLayers()
    parameters: MetroParams = MetroParams()

    @model_validator(mode="after")
    def _consistent(self) -> MetroRecipe:
        if not (self.layers.roads or self.layers.osm):
            raise ValueError("give layers.roads (a catalogue road layer) or layers.osm (an OSM file)")
        if any(not (0 < b <= 600) for b in self.budgets_min):
            raise ValueError("budgets_min must be minutes between 0 and 600")
        for band in (self.isochrone_band, self.within_band):
            if band not in self.time_bands:
                raise ValueError(f"time band {band!r} is not in time_bands {self.time_bands}")
        ids = [m.id for m in self.members]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"members listed twice: {dup}")
        return self


def _load_metro_recipe(path: Path, raw: dict) -> MetroRecipe:
    try:
        recipe = MetroRecipe(**raw)
    except ValidationError as exc:
        raise KmgisError(_validation_message(f"recipe {path}", exc)) from None
    bands = load_layers_yaml("speeds").get("congestion") or {}
    unknown = [b for b in recipe.time_bands if b not in bands]
    if unknown:
        raise KmgisError(f"recipe {path}: time band(s) {unknown} not in layers/speeds.yaml congestion ({', '.join(bands)})")
    seats = load_layers_yaml("seats")
    centres, seat_rows, units = seats.get("centres") or {}, seats.get("seats") or {}, units_table()
    for o in recipe.origins:
        if o.centre is not None and (centres.get(o.centre) or {}).get("lon") is None:
            raise KmgisError(f"recipe {path}: origin centre {o.centre!r} has no sourced coordinate in layers/seats.yaml "
                             f"(centres with one: {', '.join(k for k, v in centres.items() if v.get('lon') is not None)})")
        if o.seat is not None and (seat_rows.get(o.seat) or {}).get("lon") is None:
            raise KmgisError(f"recipe {path}: origin seat {o.seat!r} has no sourced coordinate in layers/seats.yaml")
    for m in recipe.members:
        if m.id not in seat_rows and m.id not in units and m.seat is None:
            raise KmgisError(f"recipe {path}: member {m.id!r} is neither in layers/seats.yaml nor layers/units.yaml; "
                             "give its seat point (seat: {lon, lat, source})")
    catalog = load_catalog()
    if recipe.layers.roads and recipe.layers.roads not in catalog and not Path(recipe.layers.roads).suffix:
        raise KmgisError(f"recipe {path}: layers.roads names {recipe.layers.roads!r}, which is not in layers/catalog.yaml")
    if recipe.layers.osm and recipe.layers.osm not in catalog and not Path(recipe.layers.osm).suffix:
        raise KmgisError(f"recipe {path}: layers.osm names {recipe.layers.osm!r}, which is neither in "
                         "layers/catalog.yaml nor an .osm.pbf/.osm path")
    return recipe


def load_recipe(path: str | os.PathLike) -> Recipe | MetroRecipe:
    """Read and validate a recipe YAML; unknown keys, wrong types, unknown units and layers are errors."""
    path = Path(path)
    if not path.is_file():
        raise KmgisError(f"recipe {path}: file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise KmgisError(f"recipe {path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    except UnicodeDecodeError:
        raise KmgisError(f"recipe {path}: not UTF-8 text") from None
    if not isinstance(raw, dict):
        raise KmgisError(f"recipe {path}: expected a mapping of keys (id, name, scope, units, …)")
    if raw.get("kind") == "metro":  # recipes/metro.yaml: the metropolitan isochrones (kmgis.workflows.metro.run_metro)
        return _load_metro_recipe(path, raw)
    try:
        recipe = Recipe(**raw)
    except ValidationError as exc:
        raise KmgisError(_validation_message(f"recipe {path}", exc)) from None
    if recipe.units:
        try:
            recipe.units = [unit_id(u) for u in recipe.units]
        except KmgisError as exc:
            raise KmgisError(f"recipe {path}: {exc}") from None
    catalog = load_catalog()
    for field_name in ("roads", "osm", "built_up", "stations", "metro_lines"):
        name = getattr(recipe.layers, field_name)
        if field_name == "osm" and name == OVERPASS:
            if recipe.boundary_from_osm_extent:
                raise KmgisError(f"recipe {path}: boundary_from_osm_extent needs an OSM file, not layers.osm: overpass")
            continue
        if name is not None and name not in catalog and not Path(name).suffix:
            raise KmgisError(f"recipe {path}: layers.{field_name} names {name!r}, which is not in layers/catalog.yaml "
                             f"(layers.osm may also be a .osm.pbf / .osm file or '{OVERPASS}')")
    if recipe.targets:
        known = {t["id"] for t in load_layers_yaml("targets")["targets"]}
        unknown = [t for t in recipe.targets if t not in known]
        if unknown:
            raise KmgisError(f"recipe {path}: unknown target id(s) {unknown}; see layers/targets.yaml")
    return recipe
