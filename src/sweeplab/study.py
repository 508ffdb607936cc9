"""Studies as data: a base config, sweep axes and seeds, expanded into runs. Never trains.

The study file's format (TOML) is documented in README.md ("Study files").
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import itertools
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeplab import spec as S

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCALES = ("linear", "log2", "category")
STUDY_KEYS = {"name", "title", "description", "dataset", "seeds", "epochs", "subset", "model",
              "axes", "baseline", "data", "search", "validation"}
MODEL_KEYS = {"preset", "layers", "output_activation", "loss", "optimizer", "batch_size"}
# A user's builder (sweeplab.usermodels); source, path and name are written by sweeplab.
BUILDER_KEYS = {"builder", "params", "version", "source", "path", "name"}
DATA_KEYS = {"path", "images", "name"}
AXIS_KEYS = {"name", "path", "paths", "values", "labels", "scale"}
SEARCH_KEYS = {"budget", "sampler", "metric", "first_test", "max_seeds", "seed", "pool",
               "finalists", "fresh_seeds", "level", "metric_epochs", "params"}
PARAM_KEYS = {"name", "path", "paths", "int", "float", "choices", "labels", "log"}
SAMPLERS = ("tpe", "random", "gp", "cmaes")  # Optuna's samplers
DEFAULT_VALIDATION = 0.1  # a search's validation split unless the study gives one
SEARCH_METRICS = ("val_acc", "test_acc")  # what the race compares (maximised)
MAX_SEED = 2**31 - 1  # NumPy, TensorFlow and JAX all take a seed of this size
MAX_SEED_COUNT = 10_000  # seeds per config
MAX_GRID = 100_000  # configs in one study (the product of the axes' lengths)


@dataclass(frozen=True)
class Axis:
    """One sweep dimension: the same values written into one or more config fields."""

    name: str  # shown in tables and plots, e.g. "width"
    paths: tuple[str, ...]  # dotted config fields it sets, e.g. ("layers.1.units",)
    values: tuple[Any, ...]  # one value per grid point (numbers, strings or layer lists)
    labels: tuple[str, ...] = ()  # display label per value; default: the value itself
    scale: str = "category"  # plot hint: "linear", "log2" or "category"

    def label(self, i: int) -> str:
        return self.labels[i] if self.labels else format_value(self.values[i])


@dataclass(frozen=True)
class Param:
    """One searched config field: integers or numbers in [low, high], or a list of choices."""

    name: str  # shown in tables, e.g. "width"
    path: str  # the dotted config field it sets, e.g. "layers.1.units"
    kind: str  # "int", "float" or "choices"
    low: float = 0.0  # int/float: the smallest value
    high: float = 0.0  # int/float: the largest value
    choices: tuple[Any, ...] = ()  # choices: the values
    log: bool = False  # int/float: sample on a log scale (both bounds > 0)
    more_paths: tuple[str, ...] = ()  # more fields set to the same value (a grid axis's paths)
    labels: tuple[str, ...] = ()  # choices: a label per value (default: the value itself)

    @property
    def paths(self) -> tuple[str, ...]:
        """Every config field this parameter sets."""
        return (self.path, *self.more_paths)

    def choice_labels(self) -> tuple[str, ...]:
        """choices: the label of each value, as candidates' labels and Optuna show it."""
        return self.labels or tuple(format_value(c) for c in self.choices)

    def table(self) -> dict[str, Any]:
        """The ``[[search.params]]`` table."""
        d: dict[str, Any] = {"name": self.name}
        if self.more_paths:
            d["paths"] = list(self.paths)
        else:
            d["path"] = self.path
        if self.kind == "choices":
            d["choices"] = list(self.choices)
            if self.labels:
                d["labels"] = list(self.labels)
        else:
            d[self.kind] = [self.low, self.high]
            if self.log:
                d["log"] = True
        return d


@dataclass(frozen=True)
class Search:
    """A search instead of a grid: a sampler proposes configs, seeds race (analysis.race).

    ``params`` are :class:`Param` objects or dicts as in a study file, e.g.
    ``{"name": "lr", "path": "optimizer.learning_rate", "float": [1e-4, 0.3], "log": True}``.
    """

    params: tuple[Any, ...]  # what is searched: Param objects (or dicts, validated)
    budget: int = 120  # runs in all (a run = one seed of one config), the final round's included
    sampler: str = "tpe"  # Optuna's: tpe, random, gp or cmaes
    metric: str = "val_acc"  # what the race compares (maximised)
    first_test: int = 2  # seeds a candidate gets before it can be dropped
    max_seeds: int = 10  # most seeds one candidate gets in the race
    seed: int = 0  # the sampler's seed: the same search proposes the same candidates
    pool: int = 5  # candidates racing at once
    finalists: int = 3  # candidates trained again on fresh seeds when the race is over
    fresh_seeds: int = 5  # seeds per finalist in that round (never used in the race)
    level: float = 0.05  # the drop test's level (analysis.race.decide's alpha)
    metric_epochs: int = 1  # the race scores a run by ``metric`` over its last N epochs

    @property
    def score(self) -> str:
        """What the race compares, in words (as the report and the live bar name it)."""
        return describe_score(self.metric, self.metric_epochs)

    def table(self) -> dict[str, Any]:
        """The ``[search]`` table (``level`` and ``metric_epochs`` only where they are not
        their defaults: a definition stored before they could be set is the same study)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
             if f.name != "params" and not (f.name in ("level", "metric_epochs")
                                            and getattr(self, f.name) == f.default)}
        d["params"] = [p.table() if isinstance(p, Param) else dict(p) for p in self.params]
        return d

    @property
    def race_seeds(self) -> tuple[int, ...]:
        return tuple(range(self.max_seeds))

    @property
    def fresh(self) -> tuple[int, ...]:
        """The post-selection round's seeds: after every seed the race may use."""
        return tuple(range(self.max_seeds, self.max_seeds + self.fresh_seeds))

    @property
    def reserve(self) -> int:
        """Runs kept for the post-selection round."""
        return self.finalists * self.fresh_seeds


@dataclass(frozen=True)
class Study:
    """What to run: one base config, a grid of axes, a list of seeds."""

    name: str  # identifier, e.g. "q6"
    base: S.Config  # the config every grid point starts from
    seeds: tuple[int, ...]  # each config is trained once per seed
    axes: tuple[Axis, ...] = ()  # the grid is their product; none = one config
    title: str = ""  # one line for humans
    description: str = ""  # what the study asks
    baseline: str | None = None  # label of the config others are compared with (None = first)
    search: Search | None = None  # a search over the base config instead of a grid

    @classmethod
    def build(cls, name: str, *, model: str | S.Config | Mapping[str, Any] | Any = None,
              dataset: str | Any = None, seeds: int | Sequence[int] = 10,
              epochs: int | None = None, subset: int | None = None,
              axes: Sequence[Axis | Mapping[str, Any]] = (), title: str = "",
              description: str = "", baseline: str | None = None,
              search: Search | Mapping[str, Any] | None = None,
              **model_fields: Any) -> Study:
        """A validated study from plain Python values (the same checks as a TOML file).

        ``model`` is a preset name, a ``Config``, a dict of config fields, a
        ``sweeplab.KerasModel`` (or its bare builder), or None (``Config()``'s defaults);
        ``dataset`` a built-in name or ``sweeplab.Arrays``; ``seeds`` a count or a list of distinct
        seeds; ``axes`` ``Axis`` objects or study-file dicts; ``search`` a :class:`Search` (or its
        dict) searched instead of a grid; ``model_fields`` more config fields (``layers``,
        ``output_activation``, ``loss``, ``optimizer``, ``batch_size``).

        Raises:
            SpecError: an unknown field or value, a missing axis path, or an invalid grid point.
        """
        from sweeplab.data import Arrays
        from sweeplab.usermodels import KerasModel

        table: dict[str, Any] = {}
        if inspect.isfunction(model):  # a bare builder: KerasModel(build) without params
            model = KerasModel(model)
        if isinstance(model, str):
            table["preset"] = model
        elif isinstance(model, S.Config):
            table.update(S.config_to_dict(model))
        elif isinstance(model, KerasModel):
            table.update(_builder_table(S.config_to_dict(S.Config(model=model.ref))["model"]))
        elif isinstance(model, Mapping):
            table.update(model)
        elif model is not None:
            raise S.SpecError(f"model must be a preset name, a Config, a dict of config fields "
                              f"or sweeplab.KerasModel(build_function, params={{...}}) (a "
                              f"built model cannot be re-seeded: pass the function that builds "
                              f"it). Received: model={S.short_repr(model)}")
        if isinstance(dataset, Arrays):
            dataset = dataset.ref()
        for key, value in model_fields.items():
            if key == "layers" and isinstance(value, (list, tuple)):
                value = [_plain(x) for x in value]
            table[key] = _plain(value)
        d: dict[str, Any] = {"name": name, "seeds": seeds if isinstance(seeds, int)
                             else list(seeds), "model": table}
        for key, value in (("dataset", dataset), ("epochs", epochs), ("subset", subset),
                           ("baseline", baseline)):
            if value is not None:
                d[key] = value
        for key in ("dataset", "epochs", "subset", "data", "validation"):  # top level
            if key in table:
                d.setdefault(key, table.pop(key))
        if isinstance(table.get("model"), Mapping):  # a Config's builder: [model] keys
            table.update(_builder_table(table.pop("model")))
        if title:
            d["title"] = title
        if description:
            d["description"] = description
        if axes:
            d["axes"] = [_axis_table(a) for a in axes]
        if search is not None:
            d["search"] = search.table() if isinstance(search, Search) else dict(search)
        return study_from_dict(d)

    def validated(self) -> Study:
        """This study checked as a study file would be (a ``Study(...)`` built by hand is not).

        Raises:
            SpecError: as :meth:`build`, or parts of the wrong kind (the message says which
                are expected).
        """
        count = self.seeds if isinstance(self.seeds, int) else None  # Study(..., seeds=5)
        try:
            d = study_to_dict(dataclasses.replace(self, seeds=()) if count is not None
                              else self)
        except (TypeError, AttributeError, ValueError) as err:
            raise S.SpecError(
                f"study {self.name!r} must be made of a Config base, Axis axes and seeds as "
                f"a count or a list (Study.build takes plain values). Received: {err}") from err
        if count is not None:
            d["seeds"] = count
        return study_from_dict(d)

    def to_toml(self) -> str:
        """The study as a TOML study file; :meth:`from_toml` reads it back to an equal study."""
        return study_to_toml(self)

    @classmethod
    def from_toml(cls, source: str | Path) -> Study:
        """A study from TOML text, or from a ``.toml`` file given as a ``Path`` or a path string.

        Raises:
            SpecError: unreadable file, bad TOML, or an invalid study.
        """
        if isinstance(source, Path) or (
                isinstance(source, str) and "\n" not in source and source.endswith(".toml")):
            return load_study_file(source)
        try:
            d = tomllib.loads(source)
        except tomllib.TOMLDecodeError as err:
            raise S.SpecError(f"not valid TOML: {err}") from err
        return study_from_dict(d)


def _plain(value: Any) -> Any:
    """Layer and optimiser objects as the dicts a study file holds; other values as they are."""
    if isinstance(value, tuple(S.LAYER_TYPES.values())):
        return S.layer_to_dict(value)
    if isinstance(value, S.Optimizer):
        return S.optimizer_to_dict(value)
    if isinstance(value, (list, tuple)):
        return [_plain(x) for x in value]
    return value


def _builder_table(model: Mapping[str, Any]) -> dict[str, Any]:
    """A config's ``model`` dict as a study file's [model] keys (no null: TOML has none)."""
    return {k: v for k, v in model.items() if v is not None}


def _axis_table(axis: Axis | Mapping[str, Any]) -> dict[str, Any]:
    """An ``Axis`` (or a dict) as a study file's ``[[axes]]`` table, for the one validator."""
    if isinstance(axis, Axis):
        d: dict[str, Any] = {"name": axis.name, "paths": axis.paths, "values": axis.values,
                             "scale": axis.scale}
        if axis.labels:
            d["labels"] = axis.labels
    elif isinstance(axis, Mapping):
        d = dict(axis)
    else:
        raise S.SpecError(f"an axis must be an Axis or a dict. Received: {axis!r}")
    if isinstance(d.get("paths"), str):
        d["paths"] = [d["paths"]]
    for key in ("paths", "values", "labels"):
        if isinstance(d.get(key), tuple):
            d[key] = list(d[key])
    if "values" in d and isinstance(d["values"], list):
        d["values"] = [_plain(v) for v in d["values"]]
    return d


@dataclass(frozen=True)
class PlannedConfig:
    """One grid point of a study."""

    config: S.Config  # validated config
    config_hash: str  # sweeplab.spec.config_hash(config)
    label: str  # e.g. "width=32", or "base" without axes
    axes: dict[str, str] = field(default_factory=dict)  # axis name -> value label
    position: int = 0  # index in the grid


def format_value(v: Any) -> str:
    """An axis value as its label (the same text in config labels, tables and plots)."""
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


# --- expansion --------------------------------------------------------------------------

def _set_path(d: dict[str, Any], path: str, value: Any, where: str) -> None:
    parts = path.split(".")
    node: Any = d
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        here = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not (part.isascii() and part.isdigit()) or int(part) >= len(node):
                raise S.SpecError(
                    f"{where}: path {path!r} indexes {here!r} but that list has {len(node)} "
                    f"items (indices 0..{len(node) - 1})."
                )
            key: Any = int(part)
        elif isinstance(node, dict):
            if part not in node and not (last and node is d and part in S.CONFIG_KEYS):
                allowed = ", ".join(sorted(node)) if node else "none"
                raise S.SpecError(
                    f"{where}: path {path!r} names {here!r}, which does not exist. "
                    f"Allowed there: {allowed}."
                )
            key = part
        else:
            raise S.SpecError(f"{where}: path {path!r} goes inside {here!r}, which is a value.")
        if last:
            node[key] = copy.deepcopy(value)
        else:
            node = node[key]


def expand(study: Study) -> list[PlannedConfig]:
    """The study's grid, each point a validated config, in grid order.

    Raises:
        SpecError: an axis path that does not exist or a value that makes a config invalid.
    """
    base = S.config_to_dict(study.base)
    out: list[PlannedConfig] = []
    grid = itertools.product(*(range(len(a.values)) for a in study.axes))
    for pos, idx in enumerate(grid):
        d = copy.deepcopy(base)
        labels = {}
        for axis, i in zip(study.axes, idx, strict=True):
            for path in axis.paths:
                _set_path(d, path, axis.values[i], f"axis {axis.name!r}")
            labels[axis.name] = axis.label(i)
        where = ", ".join(f"{k}={v}" for k, v in labels.items())
        try:
            cfg = S.config_from_dict(d)
        except S.SpecError as err:
            at = where if where.isprintable() else repr(where)  # the message stays one line
            raise S.SpecError(f"study {study.name!r} at {at or 'base'}: {err}") from err
        out.append(PlannedConfig(cfg, S.config_hash(cfg), where or "base", labels, pos))
    hashes = [p.config_hash for p in out]
    if len(set(hashes)) != len(hashes):
        raise S.SpecError(f"study {study.name!r}: two grid points give the same config; "
                          "check that every axis changes something.")
    return out


def schedule(planned: Sequence[PlannedConfig], seeds: Sequence[int], done: Mapping[str, set[int]],
             group: int = 1) -> list[tuple[PlannedConfig, tuple[int, ...]]]:
    """Missing runs in the order they should be trained.

    Seeds are taken in rounds of ``group`` (the engine's parallel width): round 0
    trains the first ``group`` seeds of every config, then round 1, and so on, so a
    half-finished study already has some seeds of every config to report.
    """
    if group < 1:
        raise ValueError(f"group must be >= 1. Received: group={group}")
    out = []
    for start in range(0, len(seeds), group):
        chunk = seeds[start:start + group]
        for p in planned:
            missing = tuple(s for s in chunk if s not in done.get(p.config_hash, set()))
            if missing:
                out.append((p, missing))
    return out


def with_overrides(study: Study, seeds: int | Sequence[int] | None = None,
                   epochs: int | None = None, subset: int | None = None) -> Study:
    """The study with a different seed count/list, epoch count or subset."""
    if study.search is not None and seeds is not None and _seeds(seeds, "seeds") != study.seeds:
        raise S.SpecError.about(
            "a search gives its candidates their seeds itself (search.max_seeds = {max}, "
            "search.fresh_seeds = {fresh}); {seeds:{received}} does not apply to it.",
            max=study.search.max_seeds, fresh=study.search.fresh_seeds,
            received=S.short_repr(seeds))
    base = S.config_to_dict(study.base)
    if epochs is not None:
        base["epochs"] = epochs
    if subset is not None:
        base["subset"] = subset
    return dataclasses.replace(
        study, base=S.config_from_dict(base),
        seeds=study.seeds if seeds is None else _seeds(seeds, "seeds"))


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_SEED_COUNT:
            raise S.SpecError(f"{where} must be a count in [1, {MAX_SEED_COUNT}] or a list of "
                              f"seeds. Received: {where}={S.short_repr(value)}")
        return tuple(range(value))
    if isinstance(value, (list, tuple)) and 0 < len(value) <= MAX_SEED_COUNT and all(
        isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SEED for s in value
    ):
        if len(set(value)) != len(value):
            raise S.SpecError(f"{where} lists a seed twice. "
                              f"Received: {where}={S.short_repr(list(value))}")
        return tuple(int(s) for s in value)
    raise S.SpecError(f"{where} must be a count in [1, {MAX_SEED_COUNT}] or a non-empty list of "
                      f"at most {MAX_SEED_COUNT} distinct integers in [0, {MAX_SEED}]. "
                      f"Received: {where}={S.short_repr(value)}")


def _text(d: Mapping[str, Any], key: str, where: str = "", *, lines: bool = False) -> str:
    """A string field: a str, without control characters (newlines and tabs where
    ``lines``), so that tables, plots and one-line messages show it as it is."""
    value = d.get(key, "")
    ok = isinstance(value, str) and all(
        ch.isprintable() or (lines and ch in "\n\t") for ch in value)
    if not ok:
        what = "text" if lines else "a one-line string"
        raise S.SpecError(f"{where}{key} must be {what} without control characters. "
                          f"Received: {where}{key}={S.short_repr(value)}")
    return value


# --- dict / TOML ------------------------------------------------------------------------

def study_from_dict(d: Mapping[str, Any], name: str | None = None,
                    base_dir: Path | None = None) -> Study:
    """Validate a study table (as read from TOML); files it names are relative to ``base_dir``.

    Raises:
        SpecError: unknown keys, bad values, or a grid point that is not a valid config.
    """
    if not isinstance(d, Mapping):
        raise S.SpecError(f"a study must be a table. Received: {S.short_repr(d)}")
    S._check_keys("", d, STUDY_KEYS)
    name = d.get("name", name)
    if not isinstance(name, str) or not name.strip() or not name.isprintable():
        raise S.SpecError(f"name must be a non-empty one-line string without control "
                          f"characters. Received: name={S.short_repr(name)}")
    title = _text(d, "title")
    description = _text(d, "description", lines=True)
    model = d.get("model", {})
    if isinstance(model, str) and model in S.PRESETS:  # as Study.build(model=NAME) takes it
        model = {"preset": model}
    if not isinstance(model, Mapping):
        raise S.SpecError(f"model must be a preset's name ({', '.join(sorted(S.PRESETS))}) or "
                          "a table ([model] with preset, layers, ... or builder = "
                          f"\"package.module:function\"). Received: model={S.short_repr(model)}")
    S._check_keys("model.", model, MODEL_KEYS | BUILDER_KEYS)
    cfg: dict[str, Any] = {}
    user_keys = sorted(BUILDER_KEYS & set(model))
    if user_keys and "builder" not in model:
        raise S.SpecError(f"model.{user_keys[0]} belongs to a model builder: give "
                          "model.builder = \"package.module:function\" too")
    if "builder" in model:
        from sweeplab.usermodels import ref_from_table

        if "preset" in model:
            raise S.SpecError("model.preset and model.builder cannot both be given: the "
                              f"builder makes the whole model. Received: model.preset="
                              f"{S.short_repr(model['preset'])}")
        cfg["model"] = ref_from_table(model, base_dir)
        model = {k: v for k, v in model.items() if k not in BUILDER_KEYS}
    if "preset" in model:
        preset = model["preset"]
        if not isinstance(preset, str) or preset not in S.PRESETS:
            raise S.SpecError(f"model.preset must be one of {', '.join(sorted(S.PRESETS))}. "
                              f"Received: model.preset={S.short_repr(preset)}")
        cfg = S.config_to_dict(S.preset(preset))
    cfg.update({k: v for k, v in model.items() if k != "preset"})
    for key in ("dataset", "epochs", "subset", "data", "validation"):
        if key in d:
            cfg[key] = d[key]
    if "search" in d and "validation" not in d:  # selection never sees the test set
        cfg["validation"] = DEFAULT_VALIDATION
    if isinstance(cfg.get("dataset"), Mapping):
        cfg["data"] = _data_table(cfg["dataset"], base_dir)
        cfg["dataset"] = cfg["data"]["name"]
    base = S.config_from_dict(cfg, "model.")
    raw_axes = d.get("axes", [])
    if not isinstance(raw_axes, list):
        raise S.SpecError(f"axes must be a list of [[axes]] tables. "
                          f"Received: axes={S.short_repr(raw_axes)}")
    axes = tuple(_axis_from_dict(a, i) for i, a in enumerate(raw_axes))
    names = [a.name for a in axes]
    if len(set(names)) != len(names):
        raise S.SpecError(f"axes names must be distinct. Received: {S.short_repr(names)}")
    baseline = d.get("baseline")
    if baseline is not None and not isinstance(baseline, str):
        raise S.SpecError(f"baseline must be a grid label (a string such as \"width=32\"). "
                          f"Received: baseline={S.short_repr(baseline)}")
    grid = 1
    for a in axes:
        grid *= len(a.values)
    if grid > MAX_GRID:
        raise S.SpecError(f"the axes make a grid of {grid:,} configs; at most {MAX_GRID:,} are "
                          f"allowed in one study. Received: axes with "
                          f"{' x '.join(str(len(a.values)) for a in axes)} values")
    search = None
    if "search" in d:
        search = _search_from_dict(d["search"], base, axes)
        axes = ()  # a search on top of grid axes: each axis is one of its choices
    seeds = _seeds(d.get("seeds", 10), "seeds")
    if search is not None:  # the race's seeds, then the final round's fresh ones
        seeds = search.race_seeds + search.fresh
    study = Study(
        name=name, base=base, seeds=seeds, axes=axes,
        title=title, description=description, baseline=baseline, search=search,
    )
    planned = expand(study)  # refuse an impossible grid now, before any training
    if study.baseline is not None and study.baseline not in {p.label for p in planned}:
        raise S.SpecError(f"baseline must be one of the grid labels "
                          f"{[p.label for p in planned]}. Received: baseline={study.baseline!r}")
    return study


def _data_table(ds: Mapping[str, Any], base_dir: Path | None) -> dict[str, Any]:
    """``dataset = { path = "file.npz" }`` or ``{ images = "dir/" }`` (relative to the study
    file) as a config's ``data`` dict; a dict with a fingerprint (a stored study, or
    ``Arrays.ref()``) as it is."""
    from sweeplab import data as data_mod

    if "fingerprint" in ds:
        return dict(ds)
    kinds = [k for k in ("path", "images") if k in ds]
    if len(kinds) != 1 or not isinstance(ds[kinds[0]], str):
        raise S.SpecError(f"dataset must be a built-in name ({', '.join(sorted(data_mod.DATASETS))}"
                          f"), {{ path = \"file.npz\" }} or {{ images = \"folder/\" }}. "
                          f"Received: dataset={S.short_repr(dict(ds))}")
    S._check_keys("dataset.", ds, DATA_KEYS)
    name = ds.get("name")
    if name is not None and not isinstance(name, str):
        raise S.SpecError(f"dataset.name must be a string. Received: {S.short_repr(name)}")
    p = Path(ds[kinds[0]]).expanduser()
    p = p if p.is_absolute() or base_dir is None else base_dir / p
    arrays = data_mod.read_npz(p, name) if kinds[0] == "path" else data_mod.read_images(p, name)
    return arrays.ref()


def describe_score(metric: str, epochs: int = 1) -> str:
    """A search's race score in words: ``metric``, or its mean over each run's last epochs."""
    return metric if epochs == 1 else f"{metric} averaged over each run's last {epochs} epochs"


def _search_from_dict(d: Any, base: S.Config, axes: Sequence[Axis] = ()) -> Search:
    """A validated :class:`Search` from a ``[search]`` table; every bound and choice is
    written into the base config once, so a bad path or value is refused now.

    ``axes`` (a search on top of grid axes) become its first parameters: each axis one
    categorical choice among its values, setting all its paths, with its labels."""
    if not isinstance(d, Mapping):
        raise S.SpecError(f"search must be a table. Received: search={S.short_repr(d)}")
    S._check_keys("search.", d, SEARCH_KEYS)
    defaults = Search(())
    ints = {}
    for key, low, high in (("budget", 1, 1_000_000), ("first_test", 2, MAX_SEED_COUNT),
                           ("max_seeds", 2, MAX_SEED_COUNT), ("seed", 0, MAX_SEED),
                           ("pool", 1, 10_000), ("finalists", 1, 100),
                           ("fresh_seeds", 2, MAX_SEED_COUNT)):
        ints[key] = S._int(f"search.{key}", d.get(key, getattr(defaults, key)), low, high)
    sampler = S._choice("search.sampler", d.get("sampler", defaults.sampler), SAMPLERS)
    metric = S._choice("search.metric", d.get("metric", defaults.metric), SEARCH_METRICS)
    level = S._float("search.level", d.get("level", defaults.level), 0.0, 0.5, True, False)
    metric_epochs = S._int("search.metric_epochs",
                           d.get("metric_epochs", defaults.metric_epochs), 1, base.epochs)
    if ints["first_test"] > ints["max_seeds"]:
        raise S.SpecError(f"search.first_test must be at most search.max_seeds "
                          f"({ints['max_seeds']}). Received: search.first_test="
                          f"{ints['first_test']}")
    need = ints["first_test"] + ints["finalists"] * ints["fresh_seeds"]
    if ints["budget"] < need:
        raise S.SpecError(
            f"search.budget must be at least first_test + finalists x fresh_seeds = "
            f"{ints['first_test']} + {ints['finalists']} x {ints['fresh_seeds']} = {need} runs "
            f"(one candidate's first seeds and the final round on fresh seeds). "
            f"Received: search.budget={ints['budget']}")
    raw = d.get("params")
    if not isinstance(raw, list) or not raw:
        raise S.SpecError(f"search.params must be a non-empty list of [[search.params]] "
                          f"tables. Received: search.params={S.short_repr(raw)}")
    params = tuple(_param_from_dict(p, i, base) for i, p in enumerate(raw))
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise S.SpecError(f"search.params names must be distinct. Received: "
                          f"{S.short_repr(names)}")
    clash = sorted({a.name for a in axes} & set(names))
    if clash:
        raise S.SpecError(f"search.params names must differ from the axes' names (an axis is "
                          f"searched as a choice among its values). Received: both name "
                          f"{S.short_repr(clash)}")
    params = tuple(_axis_param(a, i, base) for i, a in enumerate(axes)) + params
    return Search(params, sampler=sampler, metric=metric, level=level,
                  metric_epochs=metric_epochs, **ints)


def _axis_param(a: Axis, i: int, base: S.Config) -> Param:
    """A grid axis under a search: a choice among its values, setting all its paths."""
    table: dict[str, Any] = {"name": a.name, "paths": list(a.paths),
                             "choices": [_plain(v) for v in a.values]}
    if a.labels:
        table["labels"] = list(a.labels)
    try:
        return _param_from_dict(table, i, base)
    except S.SpecError as err:  # name the axis, not a search.params entry the user never wrote
        raise S.SpecError(str(err).replace(f"search.params[{i}]", f"axes[{i}]")) from err


def _param_from_dict(p: Any, i: int, base: S.Config) -> Param:
    where = f"search.params[{i}]"
    if isinstance(p, Param):
        p = p.table()
    if not isinstance(p, Mapping):
        raise S.SpecError(f"{where} must be a table. Received: {where}={S.short_repr(p)}")
    S._check_keys(f"{where}.", p, PARAM_KEYS)
    if "path" in p and "paths" in p:
        raise S.SpecError(f"{where}: give path or paths, not both.")
    if "paths" in p:  # several fields set to the same value, as a grid axis's paths
        paths = p["paths"]
        if not isinstance(paths, list) or not paths or not all(
                isinstance(x, str) and x and x.isprintable() for x in paths):
            raise S.SpecError(f"{where}.paths must be a non-empty list of dotted config "
                              f"fields such as [\"layers.2.rate\", \"layers.4.rate\"]. "
                              f"Received: {where}.paths={S.short_repr(paths)}")
        path, more = paths[0], tuple(paths[1:])
    else:
        path, more = p.get("path"), ()
    if not isinstance(path, str) or not path or not path.isprintable():
        raise S.SpecError(f"{where}.path must be a dotted config field such as "
                          f"\"layers.1.units\". Received: {where}.path={S.short_repr(path)}")
    name = p.get("name", path)
    if not isinstance(name, str) or not name or not name.isprintable():
        raise S.SpecError(f"{where}.name must be a non-empty one-line string. "
                          f"Received: {where}.name={S.short_repr(name)}")
    kinds = [k for k in ("int", "float", "choices") if k in p]
    if len(kinds) != 1:
        raise S.SpecError(f"{where} needs exactly one of int = [low, high], float = [low, "
                          f"high] or choices = [...]. Received: {', '.join(kinds) or 'none'}")
    kind = kinds[0]
    log = S._bool(f"{where}.log", p.get("log", False))
    at = f"{where}.{kind}"
    if kind == "choices":
        choices = p["choices"]
        if not isinstance(choices, list) or not choices:
            raise S.SpecError(f"{at} must be a non-empty list of values. "
                              f"Received: {at}={S.short_repr(choices)}")
        if log:
            raise S.SpecError(f"{where}.log applies to int and float ranges, not choices.")
        labels = p.get("labels", [])
        if not isinstance(labels, list) or (labels and (len(labels) != len(choices) or not all(
                isinstance(x, str) and x and x.isprintable() for x in labels))):
            raise S.SpecError(f"{where}.labels must be a list of {len(choices)} one-line "
                              f"strings, one per choice. Received: {where}.labels="
                              f"{S.short_repr(labels)}")
        param = Param(name, path, kind, choices=tuple(_plain(c) for c in choices),
                      more_paths=more, labels=tuple(labels))
        shown = param.choice_labels()
        if len(set(shown)) != len(shown):
            raise S.SpecError(f"{where}.{'labels' if labels else 'choices'} must be distinct "
                              f"(each names one candidate's value). Received: "
                              f"{S.short_repr(list(shown))}")
        values: list[Any] = list(param.choices)
    else:
        bounds = p[kind]
        num = (int,) if kind == "int" else (int, float)
        if not (isinstance(bounds, list) and len(bounds) == 2 and all(
                isinstance(b, num) and not isinstance(b, bool) and math.isfinite(b)
                for b in bounds)):
            what = "integers" if kind == "int" else "finite numbers"
            raise S.SpecError(f"{at} must be [low, high], two {what}. "
                              f"Received: {at}={S.short_repr(bounds)}")
        low, high = bounds
        if low > high:
            raise S.SpecError(f"{at} must have low <= high. Received: {at}={S.short_repr(bounds)}")
        if log and low <= 0:
            raise S.SpecError(f"{where}.log needs both bounds > 0 (a log scale). "
                              f"Received: {at}={S.short_repr(bounds)}")
        if kind == "float":
            low, high = float(low), float(high)
        if "labels" in p:
            raise S.SpecError(f"{where}.labels applies to choices, not int and float ranges.")
        param = Param(name, path, kind, low, high, log=log, more_paths=more)
        values = [low, high]
    for v in values:  # each end of the range (each choice) must give a valid config
        with_value(base, dict.fromkeys(param.paths, v), where)
    return param


def with_value(base: S.Config, values: Mapping[str, Any], where: str) -> S.Config:
    """``base`` with config fields set by path (as grid axes set them), validated.

    Raises:
        SpecError: a path that does not exist or a value that makes the config invalid.
    """
    d = S.config_to_dict(base)
    for path, v in values.items():
        _set_path(d, path, v, where)
    opt = d.get("optimizer")
    if isinstance(opt, dict) and opt.get("name") != base.optimizer.name:
        # Another optimiser: the base's own arguments (Adam's betas) do not apply to it.
        d["optimizer"] = {k: v for k, v in opt.items() if k in ("name", "learning_rate")
                          or f"optimizer.{k}" in values}
    try:
        return S.config_from_dict(d)
    except S.SpecError as err:
        shown = ", ".join(f"{k}={S.short_repr(v, 40)}" for k, v in values.items())
        raise S.SpecError(f"{where} at {shown}: {err}") from err


def _axis_from_dict(a: Any, i: int) -> Axis:
    where = f"axes[{i}]"
    if not isinstance(a, Mapping):
        raise S.SpecError(f"{where} must be a table. Received: {where}={S.short_repr(a)}")
    S._check_keys(f"{where}.", a, AXIS_KEYS)
    if "path" in a and "paths" in a:
        raise S.SpecError(f"{where}: give path or paths, not both.")
    key = "paths" if "paths" in a else "path"
    paths = a.get("paths", [a["path"]] if "path" in a else None)
    if not isinstance(paths, list) or not paths or not all(
            isinstance(p, str) and p and p.isprintable() for p in paths):
        raise S.SpecError(f"{where}.{key} must be a non-empty list of dotted config fields "
                          f"such as [\"layers.1.units\"] (path: one such string). "
                          f"Received: {where}.{key}={S.short_repr(a.get(key))}")
    values = a.get("values")
    if not isinstance(values, list) or not values:
        raise S.SpecError(f"{where}.values must be a non-empty list. "
                          f"Received: {where}.values={S.short_repr(values)}")
    labels = a.get("labels", [])
    if not isinstance(labels, list) or (labels and (len(labels) != len(values) or not all(
            isinstance(x, str) and x.isprintable() for x in labels))):
        raise S.SpecError(f"{where}.labels must be a list of {len(values)} one-line strings, "
                          f"one per value. Received: {where}.labels={S.short_repr(labels)}")
    scale = a.get("scale", "category")
    if not isinstance(scale, str) or scale not in SCALES:
        raise S.SpecError(f"{where}.scale must be one of {', '.join(SCALES)}. "
                          f"Received: {where}.scale={S.short_repr(scale)}")
    name = a.get("name", paths[0])
    if not isinstance(name, str) or not name or not name.isprintable():
        raise S.SpecError(f"{where}.name must be a non-empty one-line string. "
                          f"Received: {where}.name={S.short_repr(name)}")
    return Axis(name, tuple(paths), tuple(values), tuple(labels), scale)


def study_to_dict(study: Study) -> dict[str, Any]:
    """The plain form that :func:`study_from_dict` reads back to an equal study."""
    cfg = S.config_to_dict(study.base)
    d: dict[str, Any] = {"name": study.name}
    if study.title:
        d["title"] = study.title
    if study.description:
        d["description"] = study.description
    d["dataset"] = cfg.pop("dataset")
    if "data" in cfg:  # a user's data: its fingerprint, shape, classes and source
        d["data"] = cfg.pop("data")
    if "model" in cfg:  # a user's builder: its keys go into [model]
        cfg.update(_builder_table(cfg.pop("model")))
    d["seeds"] = list(study.seeds)
    d["epochs"] = cfg.pop("epochs")
    subset = cfg.pop("subset")
    if subset is not None:
        d["subset"] = subset
    if "validation" in cfg:
        d["validation"] = cfg.pop("validation")
    if study.baseline is not None:
        d["baseline"] = study.baseline
    d["model"] = cfg
    if study.search is not None:
        d["search"] = study.search.table()
    if study.axes:
        d["axes"] = [
            {"name": a.name, "paths": list(a.paths), "values": list(a.values),
             **({"labels": list(a.labels)} if a.labels else {}), "scale": a.scale}
            for a in study.axes
        ]
    return d


def load_study_file(path: str | Path) -> Study:
    """Read and validate a TOML study file.

    Raises:
        SpecError: unreadable file, TOML syntax error, or an invalid study.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise S.SpecError(f"cannot read study file {p}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise S.SpecError(f"{p} is not a text file in UTF-8 (byte {err.start} is "
                          f"{err.object[err.start:err.start + 1]!r}); a study file is TOML "
                          f"text.") from err
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise S.SpecError(f"{p} is not valid TOML: {err}") from err
    try:
        return study_from_dict(d, name=p.stem, base_dir=p.resolve().parent)
    except S.SpecError as err:
        raise S.SpecError(f"{p}: {err}") from err


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()
                                if x is not None) + " }"
    raise TypeError(f"cannot write {v!r} as TOML")


# What a study may change and keep its name: more seeds, its prose. Anything else changes
# which configs it holds, so the runs listed under the name would change without a word.
FREE_FIELDS = ("name", "seeds", "title", "description")
RUN_SIZE = ("epochs", "subset")  # what `run --epochs/--subset` change in a built-in study


def redefinition(old: Mapping[str, Any], new: Mapping[str, Any],
                 ignore: Sequence[str] = ()) -> str | None:
    """What differs between two study definitions (:func:`study_to_dict`) in what they train,
    as "model.layers.1.units 32 -> 64" items (the first three), or None when nothing does."""
    def flat(value: Any, at: str) -> dict[str, Any]:
        if isinstance(value, Mapping):
            items: Any = value.items()
        elif isinstance(value, list) and any(isinstance(v, (Mapping, list)) for v in value):
            items = enumerate(value)
        else:
            return {at: value}
        return {k: v for key, sub in items for k, v in flat(sub, f"{at}.{key}").items()}

    skip = set(FREE_FIELDS) | set(ignore)
    a = flat({k: v for k, v in old.items() if k not in skip}, "")
    b = flat({k: v for k, v in new.items() if k not in skip}, "")
    diffs = [f"{k[1:]} {S.short_repr(a.get(k), 40)} -> {S.short_repr(b.get(k), 40)}"
             for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if not diffs:
        return None
    return "; ".join(diffs[:3]) + (f"; and {len(diffs) - 3} more" if len(diffs) > 3 else "")


def study_to_toml(study: Study) -> str:
    """The study as a TOML file that ``sweeplab run`` accepts, to copy and edit."""
    d = study_to_dict(study)
    model = d.pop("model")
    axes = d.pop("axes", [])
    search = d.pop("search", None)
    lines = [f"# sweeplab study. Save as {study.name}.toml, edit, and run: "
             f"sweeplab run {study.name}.toml"]
    if study.name in BUILTIN:
        lines.append(f'# Edited, give it a name of its own: name = "{study.name}" is the '
                     f"built-in study's, and a\n# definition that differs from it is refused "
                     f"(--redefine makes it {study.name}, listing the earlier one's runs as "
                     f"{study.name}@1).")
    for k, v in d.items():
        if k == "description" and "\n" in v:
            lines.append(f'{k} = """\n{v}"""')
        else:
            lines.append(f"{k} = {_toml_value(v)}")
    lines += ["", "[model]", "layers = ["]
    lines += [f"    {_toml_value(layer)}," for layer in model.pop("layers")]
    lines.append("]")
    params = model.pop("params", None)
    if params is not None:
        lines.append(f"params = {_toml_value(params)}")
    opt = model.pop("optimizer")
    lines += [f"{k} = {_toml_value(v)}" for k, v in model.items()]
    lines += ["", "[model.optimizer]"] + [f"{k} = {_toml_value(v)}" for k, v in opt.items()]
    for a in axes:
        lines += ["", "[[axes]]"] + [f"{k} = {_toml_value(v)}" for k, v in a.items()]
    if search is not None:
        params = search.pop("params")
        lines += ["", "[search]"] + [f"{k} = {_toml_value(v)}" for k, v in search.items()]
        for p in params:
            lines += ["", "[[search.params]]"] + [f"{k} = {_toml_value(v)}"
                                                   for k, v in p.items()]
    return "\n".join(lines) + "\n"


# --- the assignment ---------------------------------------------------------------------

def _builtin() -> dict[str, Study]:
    mlp = S.preset("mlp-relu-mse")
    ce = S.preset("mlp-softmax-ce")
    cnn = S.preset("cnn-base")
    r = dataclasses.replace
    seeds10, seeds5 = tuple(range(10)), tuple(range(5))
    widths = Axis("width", ("layers.1.units",), (2, 4, 8, 16, 32, 64, 128, 256), scale="log2")
    flat, d32, d128 = S.Flatten(), S.Dense(32), S.Dense(128)
    depth_layers = [[S.layer_to_dict(x) for x in (flat,) + (d32,) * n] for n in range(4)]
    q7_final = r(ce, layers=(flat, d128, S.Dropout(0.2), d128, S.Dropout(0.2)), epochs=10)
    studies = [
        Study("intro", r(mlp, epochs=5), (0,), title="Intro: one run of the base model, "
              "step by step", description="The first training images, the untrained model's "
              "test accuracy and outputs, 5 epochs of training, the confusion matrix."),
        Study("q1", mlp, seeds10, title="Q1: the base model, repeated",
              description="Why does each run behave differently?"),
        Study("q2", r(mlp, epochs=20), seeds10, title="Q2: the base model, longer",
              description="Training and test error per epoch. Do all runs learn the task?"),
        Study("q3", r(mlp, epochs=20, optimizer=S.Optimizer("sgd", 0.01)), seeds10,
              title="Q3: as Q2 with SGD learning rate 0.01"),
        Study("q4", r(mlp, epochs=20, optimizer=S.Optimizer("adam", 0.001)), seeds10,
              title="Q4: as Q2 with the Adam optimiser"),
        Study("q5", ce, seeds10, title="Q5: softmax output, sparse cross-entropy, Adam",
              description="Training and test error per epoch, as Q2."),
        Study("q6", r(ce, epochs=10), seeds10, (widths,),
              title="Q6: hidden width 2..256",
              description="Mean final training and test accuracy against hidden width."),
        Study("q7a", r(ce, epochs=10), seeds5,
              (Axis("depth", ("layers",), tuple(depth_layers), ("0", "1", "2", "3"),
                    "linear"),),
              title="Q7a: 0-3 hidden layers of 32 units",
              description="Mean test accuracy per epoch, one line per depth."),
        Study("q7b", r(ce, layers=(flat, d32, d32), epochs=10), seeds5,
              (Axis("w1", ("layers.1.units",), (8, 32, 64, 128), scale="log2"),
               Axis("w2", ("layers.2.units",), (8, 32, 64, 128), scale="log2")),
              title="Q7b: two hidden layers, widths (w1, w2) in {8, 32, 64, 128}^2",
              description="The pair with the best mean final test accuracy."),
        Study("q7c", r(ce, layers=(flat, d128, S.Dropout(0.0), d128, S.Dropout(0.0)),
                       epochs=10), seeds5,
              (Axis("dropout", ("layers.2.rate", "layers.4.rate"), (0.0, 0.2, 0.4, 0.6, 0.8),
                    scale="linear"),),
              title="Q7c: two hidden layers of 128 with Dropout(p) after each",
              description="Mean test accuracy per epoch, one line per dropout rate."),
        Study("q7d", q7_final, seeds5, title="Q7d: the chosen final MNIST model",
              description="Two hidden layers of 128 with Dropout(0.2) after each, "
              "chosen from Q7b and Q7c."),
        Study("q7s", r(ce, layers=(flat, d128, S.Dropout(0.0), d128, S.Dropout(0.0)),
                       epochs=10, validation=DEFAULT_VALIDATION), tuple(range(6 + 5)),
              title="Q7s: q7b and q7c's space as one search, on a validation split",
              description="Two hidden layers: widths 8-256 (log), dropout 0-0.8 after each, "
              "learning rate 1e-4..1e-2 (log), Adam or SGD; Optuna's TPE proposes, seeds race "
              "on validation accuracy, the 2 finalists are scored on 5 fresh seeds. Budget "
              "80 runs = q7b's 16 configs x 5 seeds.",
              search=Search((
                  Param("w1", "layers.1.units", "int", 8, 256, log=True),
                  Param("w2", "layers.3.units", "int", 8, 256, log=True),
                  Param("d1", "layers.2.rate", "float", 0.0, 0.8),
                  Param("d2", "layers.4.rate", "float", 0.0, 0.8),
                  Param("lr", "optimizer.learning_rate", "float", 1e-4, 1e-2, log=True),
                  Param("opt", "optimizer.name", "choices", choices=("adam", "sgd"))),
                  budget=80, first_test=2, max_seeds=6, pool=5, finalists=2, fresh_seeds=5)),
        Study("q8", S.preset("cifar-mlp"), seeds10,
              (Axis("width", ("layers.1.units",), (8, 16, 32, 64, 128), scale="log2"),),
              title="Q8: Q5's model on CIFAR-10, and hidden width 8..128",
              description="Training and test accuracy per epoch of the width-32 model; mean "
              "final test accuracy against width.", baseline="width=32"),
        Study("q9", cnn, seeds10, title="Q9: the CNN cnn-base on CIFAR-10"),
        Study("q10a", r(cnn, layers=cnn.layers + (S.Dropout(0.0),)), seeds5,
              (Axis("dropout", ("layers.7.rate",), (0.0, 0.2, 0.4, 0.6, 0.8), scale="linear"),),
              title="Q10a: cnn-base with Dropout(p) before the output layer"),
        Study("q10b", S.preset("cnn-4block"), seeds5, title="Q10b: four conv blocks"),
        Study("q10c", S.preset("cnn-4block-dense128"), seeds5,
              title="Q10c: four conv blocks, two hidden Dense(128)"),
        Study("q10d", S.preset("cnn-4block-bn"), seeds5,
              title="Q10d: as Q10c with batch normalisation after every conv"),
        Study("q10e", S.preset("cnn-4block-bn-dropout"), seeds5,
              title="Q10e: as Q10d with Dropout(0.2) after Flatten and each hidden Dense"),
    ]
    return {s.name: s for s in studies}


BUILTIN: dict[str, Study] = _builtin()
ASSIGNMENT_ORDER: tuple[str, ...] = tuple(BUILTIN)


def resolve(name_or_path: str) -> Study:
    """A built-in study by name, or a study file by path.

    Raises:
        SpecError: neither a built-in name nor a readable, valid study file.
    """
    if name_or_path in BUILTIN:
        return BUILTIN[name_or_path]
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return load_study_file(p)
    raise S.SpecError(f"Unknown study {name_or_path!r}: not a built-in study "
                      f"({', '.join(BUILTIN)}) and no such .toml file.")
