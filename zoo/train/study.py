"""Studies: a list or grid of spec variants run as sibling parent runs of one MLflow experiment."""

from __future__ import annotations

import itertools
import json
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from zoo import catalog
from zoo.errors import SpecError


@attrs.frozen
class Variant:
    """One spec of a study: a file, the overrides that make it this variant, and its run name."""

    name: str
    path: Path
    overrides: tuple[str, ...]


@attrs.frozen
class Study:
    """A study file: its name (the MLflow experiment) and its variants."""

    name: str
    description: str
    variants: tuple[Variant, ...]
    source: Path
    #: ``(override, why)`` pairs a job command (``zoo main``) adds unless ``--full``: speed cuts.
    cuts: tuple[tuple[str, str], ...] = ()
    #: ``(override, why)`` pairs a job command adds unless ``--full``: changes to the report's recipe.
    recipe: tuple[tuple[str, str], ...] = ()
    #: The years whose results chose the study's settings (``selection_years``): verdicts on them are
    #: in-sample. ``()``: none; None: not recorded. Tagged on every parent run as ``zoo.selection_years``.
    selection_years: tuple[int, ...] | None = None


_STUDY_KEYS = {
    "name",
    "description",
    "specs",
    "set",
    "grid",
    "labels",
    "variants",
    "cuts",
    "recipe",
    "selection_years",
}
_VARIANT_KEYS = {"spec", "name", "set"}


def _label(value: Any, labels: Mapping[str, str]) -> str:
    if isinstance(value, Mapping):
        value = value.get("name", json.dumps(value, sort_keys=True))
    if isinstance(value, list | tuple):
        text = "_".join(str(v) for v in value)
    else:
        text = str(value)
    return labels.get(text, text)


def _toml_value(value: Any) -> str:
    """A value as TOML text for a ``--set`` override (tables inline, so a component keeps its params)."""
    import tomli_w

    if isinstance(value, Mapping):
        items = ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def _str_list(value: Any, where: str, source: Path) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{source}: {where} must be a list of strings, got {value!r}")
    return value


def _years(value: Any, source: Path) -> tuple[int, ...] | None:
    """``study.selection_years``: a list of years (ints), e.g. ``[2020, 2021, 2022]``; absent: None."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 1900 <= v <= 2200 for v in value
    ):
        raise SpecError(
            f"{source}: study.selection_years must be a list of years (e.g. [2020, 2021]), got {value!r}"
        )
    return tuple(sorted(set(value)))


def load_study(path: str | Path) -> Study:
    """Read a study file (``[study]`` with ``specs`` × ``grid`` and/or ``[[study.variants]]``)."""
    path = catalog.resolve(path, "study")
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"study file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    if set(raw) != {"study"}:
        raise SpecError(f"{path}: a study file holds one [study] table; found top-level keys {sorted(raw)}")
    st = raw["study"]
    extra = set(st) - _STUDY_KEYS
    if extra:
        raise SpecError(f"{path}: study: unknown key(s) {sorted(extra)}; allowed: {sorted(_STUDY_KEYS)}")
    name = st.get("name") or path.stem
    common = _str_list(st.get("set", []), "study.set", path)
    labels = st.get("labels", {})
    grid = st.get("grid", {})
    if not isinstance(grid, Mapping) or not all(isinstance(v, list) and v for v in grid.values()):
        raise SpecError(f"{path}: study.grid must map a key path to a non-empty list of values, got {grid!r}")
    variants: list[Variant] = []
    for spec_file in _str_list(st.get("specs", []), "study.specs", path):
        spec_path = (path.parent / spec_file).resolve()
        if not spec_path.exists():
            raise SpecError(f"{path}: study.specs names {spec_file!r}, which does not exist ({spec_path})")
        stem = _spec_name(spec_path)
        keys = list(grid)
        for combo in itertools.product(*(grid[k] for k in keys)) if keys else [()]:
            sets = [f"{k}={_toml_value(v)}" for k, v in zip(keys, combo, strict=True)]
            vname = "-".join([stem, *(_label(v, labels) for v in combo)])
            variants.append(Variant(vname, spec_path, (*common, *sets)))
    for i, v in enumerate(st.get("variants", [])):
        if not isinstance(v, Mapping) or "spec" not in v:
            raise SpecError(f"{path}: study.variants[{i}] needs a 'spec' file name")
        bad = set(v) - _VARIANT_KEYS
        if bad:
            raise SpecError(
                f"{path}: study.variants[{i}]: unknown key(s) {sorted(bad)}; allowed {sorted(_VARIANT_KEYS)}"
            )
        spec_path = (path.parent / v["spec"]).resolve()
        if not spec_path.exists():
            raise SpecError(f"{path}: study.variants[{i}].spec {v['spec']!r} does not exist ({spec_path})")
        vname = v.get("name") or _spec_name(spec_path)
        sets = _str_list(v.get("set", []), f"study.variants[{i}].set", path)
        variants.append(Variant(vname, spec_path, (*common, *sets)))
    if not variants:
        raise SpecError(
            f"{path}: the study has no variants; list spec files in study.specs or study.variants"
        )
    names = [v.name for v in variants]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SpecError(f"{path}: variant names repeat: {dupes}; give the variants distinct names")
    cuts = _reasons(st.get("cuts", []), "study.cuts", path)
    recipe = _reasons(st.get("recipe", []), "study.recipe", path)
    years = _years(st.get("selection_years"), path)
    return Study(name, st.get("description", ""), tuple(variants), path, cuts, recipe, years)


def _reasons(value: Any, where: str, source: Path) -> tuple[tuple[str, str], ...]:
    """``[{set = "key=value", why = "..."}, ...]`` as ``(override, why)`` pairs."""
    ok = isinstance(value, list) and all(
        isinstance(v, Mapping) and set(v) == {"set", "why"} and all(isinstance(x, str) for x in v.values())
        for v in value
    )
    if not ok:
        raise SpecError(f'{source}: {where} must be a list of {{ set = "key=value", why = "..." }} tables')
    return tuple((v["set"], v["why"]) for v in value)


def _spec_name(spec_path: Path) -> str:
    from zoo.specs import read_raw

    return str(read_raw(spec_path).get("name") or spec_path.stem)


def load_variants(study: Study, overrides: Sequence[str] = (), plugins: Sequence[str] = ()) -> list:
    """Every variant's validated spec, named after the variant (all are checked before anything trains)."""
    from zoo.specs import load_spec

    return [
        attrs.evolve(load_spec(v.path, (*v.overrides, *overrides), plugins), name=v.name)
        for v in study.variants
    ]


def run_study(
    study: Study,
    overrides: Sequence[str] = (),
    plugins: Sequence[str] = (),
    *,
    uri: str | None = None,
    experiment: str | None = None,
    open_source: Callable | None = None,
    log: Callable[[str], None] | None = None,
    on_child_done: Callable[[int, int], None] | None = None,
    executor: Any = None,
    opener: str | None = None,
) -> list:
    """Run every variant as a sibling parent run of the experiment ``experiment or study.name``.

    Every variant is planned first, then all their fits go to ``executor`` at once (serial by
    default); variants with the same ``[data]`` section share one data source (and its day cache).
    ``opener`` names (``module:function``) what Dask workers call to open the data; by default
    ``open_source`` itself when importable, else ``zoo.train.data:open_source``.
    """
    from zoo.train.data import open_source as default_open
    from zoo.train.jobs import DEFAULT_OPENER, importable, opener_name
    from zoo.train.runner import run_specs

    specs = load_variants(study, overrides, plugins)
    open_source = open_source or default_open
    # Workers open the data themselves by the opener's name; a lambda serves in-process runs only.
    if opener is None and executor is not None and executor.remote and not importable(open_source):
        from zoo.errors import TrainingError

        raise TrainingError(
            f"open_source {open_source!r} is not an importable module-level function, so Dask workers "
            f"cannot open the data with it"
        )
    if opener is None:
        opener = opener_name(open_source) if importable(open_source) else DEFAULT_OPENER
    sources: dict[Any, Any] = {}
    for spec in specs:
        if spec.data not in sources:
            sources[spec.data] = open_source(spec.data)
    kwargs = {} if log is None else {"log": log}
    results = run_specs(
        [(spec, sources[spec.data]) for spec in specs],
        experiment=experiment or study.name,
        uri=uri,
        executor=executor,
        opener=opener,
        plugins=plugins,
        on_child_done=on_child_done,
        description=study_description(study),
        **kwargs,
    )
    from zoo.tracking import runs as tracking

    tag_selection(results, study.selection_years, uri or tracking.tracking_uri(specs[0].train.tracking_uri))
    return results


#: Parent-run tag: the years whose results chose the study's settings (JSON list; absent: not recorded).
SELECTION_TAG = "zoo.selection_years"


def tag_selection(results: Sequence, years: Sequence[int] | None, uri: str) -> None:
    """Tag every parent run with the study's selection years (nothing when the study does not record them)."""
    if years is None or not results:
        return
    from zoo.tracking import runs as tracking

    c = tracking.client(uri)
    for r in results:
        c.set_tag(r.parent_run_id, SELECTION_TAG, json.dumps(list(years)))


def study_description(study: Study) -> str:
    """The study's experiment description in the MLflow UI (Markdown): its purpose and its variants."""
    head = study.description or f"study {study.name}"
    rows = [
        f"- `{v.name}`: {v.path.name}" + (f" {' '.join(v.overrides)}" if v.overrides else "")
        for v in study.variants
    ]
    lines = [head, "", f"Study file `{study.source.name}`, {len(rows)} specs:", *rows]
    if study.selection_years is not None:
        from zoo.train.verdicts import selection_note

        lines += ["", selection_note(study.selection_years, ())]
    return "\n".join(lines)


def study_scores(results: Sequence) -> Any:
    """The variants' ensemble scores as one ``score`` DataArray (model, date, symbol), model = variant."""
    import xarray as xr

    if not results:
        raise SpecError("no study results to combine")
    aligned = xr.align(*[r.score for r in results], join="outer")
    out = xr.concat(aligned, dim="model").assign_coords(model=[r.name for r in results])
    out.name = "score"
    return out.transpose("model", "date", "symbol")
