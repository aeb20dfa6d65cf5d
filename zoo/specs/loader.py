"""Read, merge, override, validate and write specs (TOML <-> frozen attrs), and hash them."""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import cattrs
import tomli_w
from cattrs.gen import make_dict_unstructure_fn, override

from zoo import catalog
from zoo.convert import strict_converter, structure_checked
from zoo.errors import RegistryError, SpecError
from zoo.specs.data import DataSpec
from zoo.specs.enhance import EnhanceSpec
from zoo.specs.evaluate import EvalSpec
from zoo.specs.experiment import ExperimentSpec
from zoo.specs.model import BranchSpec, ComponentRef, ModelSpec
from zoo.specs.train import OMIT_DEFAULT, TrainSpec

#: Key that names a parent spec file, resolved relative to the file that holds it.
EXTENDS = "extends"
#: The table that makes a TOML file a study (``zoo study``), not a spec.
STUDY = "study"


def _structure_ref(value: Any, _type: type) -> ComponentRef:
    if isinstance(value, str):
        return ComponentRef(value)
    if not isinstance(value, Mapping):
        raise TypeError(f'expected a component like {{name = "gru", hidden = 64}}, got {value!r}')
    if "name" not in value:
        raise ValueError(f"component {dict(value)!r} has no 'name'")
    params = {k: v for k, v in value.items() if k != "name"}
    if not isinstance(value["name"], str):
        raise TypeError(f"component name must be a string, got {value['name']!r}")
    return ComponentRef(value["name"], params)


def _unstructure_ref(ref: ComponentRef) -> dict[str, Any]:
    return {"name": ref.name, **dict(ref.params)}


def _model_unstructurer(conv: cattrs.Converter):
    """ModelSpec as a table; an estimator model is written as its estimator alone."""
    plain = make_dict_unstructure_fn(ModelSpec, conv)

    def unstructure(model: ModelSpec) -> dict[str, Any]:
        out = plain(model)
        # The unused network defaults of an estimator model would only be noise in its canonical form
        # (and in its hash); a network model's table stays exactly as it was (estimator None is dropped).
        return {"estimator": out["estimator"]} if model.estimator is not None else out

    return unstructure


def _omit_defaults(conv: cattrs.Converter, cls: type) -> None:
    """Unstructure ``cls`` without its ``OMIT_DEFAULT`` fields while they hold their defaults."""
    keep_out = {
        f.name: override(omit_if_default=True) for f in attrs.fields(cls) if f.metadata.get(OMIT_DEFAULT)
    }
    if keep_out:
        conv.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, conv, **keep_out))


def make_converter() -> cattrs.Converter:
    """The spec converter: strict types, unknown keys refused, components as ``{name = ..., **params}``."""
    conv = strict_converter()
    conv.register_structure_hook(ComponentRef, _structure_ref)
    conv.register_unstructure_hook(ComponentRef, _unstructure_ref)
    for section in (ExperimentSpec, DataSpec, TrainSpec, EvalSpec, EnhanceSpec):
        _omit_defaults(conv, section)
    # ModelSpec has no OMIT_DEFAULT field; its own unstructurer drops an estimator model's network keys.
    conv.register_unstructure_hook(ModelSpec, _model_unstructurer(conv))
    return conv


converter = make_converter()
_config_converter = strict_converter()


# --------------------------------------------------------------------------- reading


def read_toml(path: Path) -> dict[str, Any]:
    """Parse one TOML file; a syntax error names the file and the line."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise SpecError(f"spec file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None


def _renamed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """A component table that names another component replaces the old one instead of merging."""
    return "name" in old and "name" in new and old["name"] != new["name"]


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value (lists included) is replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        old = out.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping) and not _renamed(old, value):
            out[key] = deep_merge(old, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_raw(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The spec file's table with its ``extends`` chain merged in (child keys win)."""
    given = Path(path)
    path = catalog.resolve(path, "spec").resolve()
    if path in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, path))
        raise SpecError(f"{path}: 'extends' forms a cycle: {cycle}")
    raw = read_toml(path)
    if isinstance(raw.get(STUDY), Mapping):
        raise SpecError(
            f"{given} is a study file (it has a [study] table), not a spec; run it with: zoo study {given}"
        )
    parent = raw.pop(EXTENDS, None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise SpecError(f"{path}: 'extends' must be a file name (string), got {parent!r}")
    target = path.parent / parent
    if not target.is_file():
        target = catalog.find_builtin(parent, "spec")
    if target is None:
        raise SpecError(
            f"{given}: extends = {parent!r}: no such file {path.parent / parent} and no built-in spec of "
            f"that name (a relative name is read from the folder of the file that names it; zoo list specs)"
        )
    base = read_raw(target, (*_chain, path))
    return deep_merge(base, raw)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its key path and a TOML-parsed value (bare words stay strings)."""
    if "=" not in text:
        raise SpecError(f"--set {text!r}: expected KEY.PATH=VALUE, e.g. --set train.patience=5")
    key, _, value = text.partition("=")
    parts = [p for p in key.strip().split(".")]
    if not all(parts):
        raise SpecError(f"--set {text!r}: the key path {key!r} has an empty part")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return parts, parsed


def apply_overrides(raw: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``--set`` overrides to a raw spec table; list items are addressed by index."""
    out = copy.deepcopy(dict(raw))
    for text in overrides:
        parts, value = parse_override(text)
        node: Any = out
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise SpecError(f"--set {text!r}: {where} is not an index of a list of {len(node)}")
                idx = int(part)
                if last:
                    node[idx] = value
                else:
                    node = node[idx]
            elif isinstance(node, dict):
                if last:
                    if depth > 0 and part == "name" and "name" in node and node["name"] != value:
                        node.clear()  # another component (not the spec's own name): params reset
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                raise SpecError(f"--set {text!r}: {'.'.join(parts[:depth])} is a value, not a table")
    return out


#: Top-level key paths whose ``--set`` changes a component (and so shows in the run's name).
_COMPONENT_PREFIXES: tuple[tuple[str, ...], ...] = (("model",), ("train", "loss"))


def variant_name(name: str, overrides: Iterable[str]) -> str:
    """``name`` with the ``--set`` overrides of components shown, e.g. ``decompgru [trend.mixer=demean]``.

    An override of ``name`` itself wins (the user chose the name); other keys are not shown.
    """
    changes = []
    for text in overrides:
        parts, value = parse_override(text)
        if parts == ["name"]:
            return str(value)
        if not any(tuple(parts[: len(p)]) == p for p in _COMPONENT_PREFIXES):
            continue
        short = parts[2:] if parts[:2] == ["model", "branches"] else parts[1:]
        short = short[:-1] if len(short) > 1 and short[-1] == "name" else short
        changes.append(f"{'.'.join(short)}={value}")
    return f"{name} [{', '.join(changes)}]" if changes else name


# --------------------------------------------------------------------------- validation


def structure(raw: Mapping[str, Any], source: str) -> ExperimentSpec:
    """Turn a raw table into an ExperimentSpec; every problem is reported with its key path."""
    return structure_checked(converter, dict(raw), ExperimentSpec, source)


def _resolve_ref(registry, slot: str, ref: ComponentRef, path: str, source: str) -> ComponentRef:
    try:
        comp = registry.get(slot, ref.name)
    except RegistryError as exc:
        raise SpecError(f"{source}: {path}: {exc}") from None
    config = structure_checked(_config_converter, dict(ref.params), comp.config, source, prefix=path)
    full = {f.name: getattr(config, f.name) for f in attrs.fields(type(config))}
    return ComponentRef(ref.name, converter.unstructure(full))


def _resolve_fusion(
    registry, ref: ComponentRef | None, branches: list[str], source: str
) -> ComponentRef | None:
    """The fusion with its defaults filled in, None for the default ``sum`` (however it was written).

    A fusion config's optional ``check(branches)`` refuses the enabled branches here, before any data
    is read (e.g. cross-attention over a single branch).
    """
    from zoo.interfaces import DEFAULT_FUSION, FUSION

    if ref is None:
        return None
    resolved = _resolve_ref(registry, FUSION, ref, "model.fusion", source)
    check = getattr(registry.make_config(FUSION, resolved.name, resolved.params), "check", None)
    if check is not None:
        try:
            check(tuple(branches))
        except RegistryError as exc:
            raise SpecError(f"{source}: model.fusion: {exc}") from None
    if resolved == _resolve_ref(registry, FUSION, ComponentRef(DEFAULT_FUSION), "model.fusion", source):
        return None
    return resolved


def resolve(spec: ExperimentSpec, registry, source: str) -> ExperimentSpec:
    """Check every component against the registry and fill in its defaults (canonical params)."""
    from zoo.interfaces import DECOMPOSITION, ENCODER, ESTIMATOR, HEAD, LOSS, MIXER

    m = spec.model
    if m.estimator is not None:
        estimator = _resolve_ref(registry, ESTIMATOR, m.estimator, "model.estimator", source)
        # The loss is resolved for an estimator too: its label_norm picks the labels' normalisation.
        loss = _resolve_ref(registry, LOSS, spec.train.loss, "train.loss", source)
        model = attrs.evolve(m, estimator=estimator)
        return attrs.evolve(spec, model=model, train=attrs.evolve(spec.train, loss=loss))
    decomposition = _resolve_ref(registry, DECOMPOSITION, m.decomposition, "model.decomposition", source)
    module = registry.build(DECOMPOSITION, decomposition.name, decomposition.params, len(spec.data.fields))
    branches = {}
    for key, branch in m.branches.items():
        where = f"model.branches.{key}"
        if not branch.enabled:  # a disabled branch is ignored entirely (lets ablations extend a base spec)
            branches[key] = branch
            continue
        component = branch.input or key
        if component not in module.components:
            at = f"{where}.input" if branch.input else where
            raise SpecError(
                f"{source}: {at}: decomposition {decomposition.name!r} has no component {component!r}; "
                f"its components are {', '.join(module.components)}"
            )
        encoder = tuple(
            _resolve_ref(registry, ENCODER, r, f"{where}.encoder[{i}]", source)
            for i, r in enumerate(branch.encoder)
        )
        mixer = _resolve_ref(registry, MIXER, branch.mixer, f"{where}.mixer", source)
        _check_ctx(registry, MIXER, mixer, f"{where}.mixer", source)
        own = None if component == key else component  # the default stays out of the canonical form
        branches[key] = BranchSpec(encoder=encoder, mixer=mixer, enabled=branch.enabled, input=own)
    trunk = tuple(
        _resolve_ref(registry, ENCODER, r, f"model.trunk[{i}]", source) for i, r in enumerate(m.trunk)
    )
    head = _resolve_ref(registry, HEAD, m.head, "model.head", source)
    loss = _resolve_ref(registry, LOSS, spec.train.loss, "train.loss", source)
    check_baselines(registry, spec.evaluate.baselines, source)
    fusion = _resolve_fusion(registry, m.fusion, [k for k, b in branches.items() if b.enabled], source)
    model = ModelSpec(
        decomposition=decomposition, branches=branches, norm=m.norm, trunk=trunk, head=head, fusion=fusion
    )
    return attrs.evolve(spec, model=model, train=attrs.evolve(spec.train, loss=loss))


def _check_ctx(registry, slot: str, ref: ComponentRef, path: str, source: str) -> None:
    """A component whose config asks for ctx keys (``ctx_keys()``) gets only keys the day batches carry."""
    from zoo.datasets.batches import CTX_KEYS

    wants = getattr(registry.make_config(slot, ref.name, ref.params), "ctx_keys", None)
    for fld, key in (wants() if wants is not None else {}).items():
        if key not in CTX_KEYS:
            raise SpecError(
                f"{source}: {path}.{fld}: {slot} {ref.name!r} needs ctx[{key!r}], which the data does "
                f"not provide; a day's ctx has {', '.join(CTX_KEYS)}"
            )


def check_baselines(registry, names: Sequence[str], source: str) -> None:
    """Every ``[evaluate] baselines`` name is a registered factor that builds (one error naming the key)."""
    from zoo.interfaces import FACTOR

    for i, name in enumerate(names):
        try:
            registry.build(FACTOR, name)
        except RegistryError as exc:
            raise SpecError(f"{source}: evaluate.baselines[{i}]: {exc}") from None


def loads_spec(
    raw: Mapping[str, Any],
    source: str = "<spec>",
    overrides: Sequence[str] = (),
    plugins: Sequence[str] = (),
) -> ExperimentSpec:
    """Validate a raw (already ``extends``-merged) spec table, apply overrides, resolve components."""
    from zoo.registry import get_registry

    raw = apply_overrides(raw, overrides)
    spec = structure(raw, source)
    registry = get_registry(tuple(plugins) + tuple(spec.plugins))
    return resolve(spec, registry, source)


def load_spec(path: str | Path, overrides: Sequence[str] = (), plugins: Sequence[str] = ()) -> ExperimentSpec:
    """Load a spec file: ``extends`` chain, ``--set`` overrides, validation, component defaults."""
    return loads_spec(read_raw(path), source=str(path), overrides=overrides, plugins=plugins)


def load_section(
    text: str, section: str, cls: type, overrides: Sequence[str] = (), source: str = "spec.toml"
):
    """One section of a spec's TOML text as ``cls`` (defaults when absent), with ``section.*`` overrides.

    Used where a command reads back a logged spec (``zoo evaluate``, ``zoo enhance``).
    """
    try:
        raw = tomllib.loads(text) if text else {}
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source}: not valid TOML: {exc}") from None
    bad = [o for o in overrides if not o.strip().startswith(f"{section}.")]
    if bad:
        raise SpecError(f"only {section}.KEY=VALUE overrides apply here; got {bad}")
    table = apply_overrides({section: raw.get(section, {})}, overrides)[section]
    return structure_checked(converter, table, cls, source, prefix=section)


# --------------------------------------------------------------------------- canonical form


def _drop_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_drop_none(v) for v in value]
    return value


def canonical_dict(spec: ExperimentSpec) -> dict[str, Any]:
    """The spec as plain TOML-able data: every field written, None fields left out."""
    return _drop_none(converter.unstructure(spec))


def canonical_toml(spec: ExperimentSpec) -> str:
    """The canonical TOML text; loading it gives back an equal spec."""
    return tomli_w.dumps(canonical_dict(spec))


#: Canonical keys the hash leaves out: evaluation-only settings added after hashes were first logged.
#: Setting them changes no existing hash and never makes a finished (year, seed) look unfinished.
HASH_EXCLUDED: tuple[tuple[str, str], ...] = (("evaluate", "baselines"),)


def spec_hash(spec: ExperimentSpec) -> str:
    """A stable 12-hex-digit hash of the canonical form (without the keys in ``HASH_EXCLUDED``)."""
    data = canonical_dict(spec)
    for section, key in HASH_EXCLUDED:
        data.get(section, {}).pop(key, None)
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def flatten(spec: ExperimentSpec) -> dict[str, str]:
    """Dotted keys -> string values (list items by index), as MLflow params."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
            for i, v in enumerate(value):
                walk(f"{prefix}.{i}", v)
        else:
            out[prefix] = json.dumps(value) if isinstance(value, list) else str(value)

    walk("", canonical_dict(spec))
    return out
