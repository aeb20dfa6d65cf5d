"""The component registry: a pluggy manager that loads built-ins, entry points and named modules."""

from __future__ import annotations

import difflib
import fnmatch
import functools
import hashlib
import importlib
import importlib.metadata
import os
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import pluggy

from zoo import hookspecs
from zoo.errors import RegistryError, SpecError
from zoo.interfaces import SLOTS

#: Entry-point group third-party packages register their plugin modules under.
ENTRY_POINT_GROUP = "zoo"
#: Set to a comma list of entry-point names to load only those; set to "" to load none.
LOAD_PLUGINS_ENV = "ZOO_LOAD_PLUGINS"

Builder = Callable[[Any, int], Any]


@attrs.frozen
class Component:
    """One registered component: its slot, name, attrs config class and builder."""

    slot: str
    name: str
    config: type
    build: Builder
    doc: str = ""
    origin: str = ""

    def __attrs_post_init__(self) -> None:
        if self.slot not in SLOTS:
            raise RegistryError(f"component {self.name!r} names unknown slot {self.slot!r}; slots: {SLOTS}")
        if not attrs.has(self.config):
            raise RegistryError(f"component {self.slot}/{self.name}: config must be an attrs class")

    def fields(self) -> list[tuple[str, str, Any]]:
        """(name, type, default) of every config field."""
        out = []
        for f in attrs.fields(self.config):
            typ = getattr(f.type, "__name__", None) or str(f.type)
            default = f.default if f.default is not attrs.NOTHING else "<required>"
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                default = default.factory()
            out.append((f.name, typ, default))
        return out


@functools.cache
def _converter():
    """The strict cattrs converter for component configs (imported on first use: building a model
    from ready config objects, as the GPU bench does, needs no cattrs)."""
    from zoo.convert import strict_converter

    return strict_converter()


class Registry:
    """Every component known to one plugin manager, indexed by (slot, name)."""

    def __init__(self, pm: pluggy.PluginManager, broken: Mapping[str, str] | None = None) -> None:
        self.pm = pm
        self.broken: dict[str, str] = dict(broken or {})
        self._components: dict[tuple[str, str], Component] = {}
        for impl in pm.hook.zoo_components.get_hookimpls():
            for comp in impl.function() or ():
                self._add(attrs.evolve(comp, origin=impl.plugin_name))

    def _add(self, comp: Component) -> None:
        key = (comp.slot, comp.name)
        if key in self._components:
            first = self._components[key].origin
            raise RegistryError(
                f"{comp.slot} {comp.name!r} is registered twice: by {first!r} and by {comp.origin!r}; "
                f"rename one of them"
            )
        self._components[key] = comp

    def outside_versions(self) -> dict[str, str]:
        """Each outside (not built-in) plugin module's version: ``{module: dist==v or sha256:...}``."""
        builtin = set(_builtin_modules())
        return {
            name: module_version(plugin)
            for name, plugin in sorted(self.pm.list_name_plugin())
            if name not in builtin and plugin is not None and hasattr(plugin, "__name__")
        }

    def names(self, slot: str) -> list[str]:
        """Sorted names registered in ``slot``."""
        return sorted(name for s, name in self._components if s == slot)

    def list(self, slot: str | None = None, pattern: str = "*") -> list[Component]:
        """Components in ``slot`` (all slots when None) whose name matches the wildcard ``pattern``."""
        if slot is not None and slot not in SLOTS:
            raise RegistryError(f"unknown slot {slot!r}; slots are {', '.join(SLOTS)}")
        comps = [
            c
            for (s, n), c in self._components.items()
            if (slot is None or s == slot) and fnmatch.fnmatch(n, pattern)
        ]
        return sorted(comps, key=lambda c: (SLOTS.index(c.slot), c.name))

    def get(self, slot: str, name: str) -> Component:
        """The component registered as (slot, name); an unknown name lists the known ones."""
        if slot not in SLOTS:
            raise RegistryError(f"unknown slot {slot!r}; slots are {', '.join(SLOTS)}")
        try:
            return self._components[(slot, name)]
        except KeyError:
            known = self.names(slot)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RegistryError(
                f"unknown {slot} {name!r}{hint} known {plural(slot)}: {', '.join(known) or '(none)'}"
            ) from None

    def make_config(self, slot: str, name: str, params: Mapping[str, Any] | None = None) -> Any:
        """Structure ``params`` into the component's config class (unknown keys are an error)."""
        from zoo.convert import structure_checked

        comp = self.get(slot, name)
        try:
            return structure_checked(_converter(), dict(params or {}), comp.config, f"{slot} {name!r}")
        except SpecError as exc:
            raise RegistryError(str(exc)) from None

    def build(self, slot: str, name: str, params: Mapping[str, Any] | Any = None, in_features: int = 0):
        """Build the module for (slot, name) from a params mapping or a ready config object."""
        comp = self.get(slot, name)
        config = params if isinstance(params, comp.config) else self.make_config(slot, name, params)
        try:
            return comp.build(config, in_features)
        except RegistryError:
            raise
        except (TypeError, ValueError) as exc:
            raise RegistryError(f"building {slot} {name!r} from {comp.origin}: {exc}") from exc


def module_version(module: Any) -> str:
    """``dist==version`` of the installed distribution that ships ``module``, else a hash of its file."""
    top = module.__name__.split(".")[0]
    dists = importlib.metadata.packages_distributions().get(top, [])
    for dist in dists:
        try:
            return f"{dist}=={importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    path = getattr(module, "__file__", None)
    if not path or not os.path.isfile(path):
        return "unknown"
    with open(path, "rb") as fh:
        return "sha256:" + hashlib.sha256(fh.read()).hexdigest()[:12]


def plural(slot: str) -> str:
    """``mixer`` -> ``mixers``, ``loss`` -> ``losses``."""
    return slot + ("es" if slot.endswith("s") else "s")


def _where_it_failed(exc: BaseException) -> tuple[str, int]:
    """(file, line) of the plugin's own code that raised ``exc`` (its innermost frame)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno or 0
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "<unknown>", 0
    return frames[-1].filename, frames[-1].lineno or 0


def _builtin_modules() -> list[str]:
    from zoo.plugins import DEFAULT_PLUGINS  # the built-ins are listed there, like datasette's

    return list(DEFAULT_PLUGINS)


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    wanted = os.environ.get(LOAD_PLUGINS_ENV)
    eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    if wanted is None:
        return eps
    names = {n.strip() for n in wanted.split(",") if n.strip()}
    return [ep for ep in eps if ep.name in names]


def make_plugin_manager(plugins: Sequence[str] = ()) -> tuple[pluggy.PluginManager, dict[str, str]]:
    """A fresh manager: built-ins, then entry points (each wrapped), then the named modules."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for modname in _builtin_modules():
        pm.register(importlib.import_module(modname), name=modname)
    broken: dict[str, str] = {}
    for ep in _entry_points():
        try:
            plugin = ep.load()
        except Exception as exc:  # one broken package must not take the registry down
            filename, lineno = _where_it_failed(exc)
            why = f"{type(exc).__name__}: {exc} ({filename}:{lineno})"
            broken[f"entry point {ep.name} ({ep.value})"] = why
            # Point the warning at the plugin's own failing line, not at this loader.
            warnings.warn_explicit(
                f"zoo: skipped plugin entry point {ep.name!r} ({ep.value}): {type(exc).__name__}: {exc}",
                UserWarning,
                filename,
                lineno,
                module=ep.value,
            )
            continue
        if pm.get_plugin(ep.value) is None:
            pm.register(plugin, name=ep.value)
    for modname in plugins:
        if pm.get_plugin(modname) is not None:
            continue
        try:
            module = importlib.import_module(modname)
        except ImportError as exc:
            raise RegistryError(
                f"cannot import plugin module {modname!r}: {exc}; check the name and that it is on "
                f"PYTHONPATH (or installed)"
            ) from None
        pm.register(module, name=modname)
    return pm, broken


_cache: dict[tuple[str, ...], Registry] = {}


def get_registry(plugins: Sequence[str] = ()) -> Registry:
    """The registry for built-ins + entry points + ``plugins`` (cached per plugin list)."""
    key = tuple(dict.fromkeys(plugins))
    if key not in _cache:
        pm, broken = make_plugin_manager(key)
        _cache[key] = Registry(pm, broken)
    return _cache[key]


def clear_registry_cache() -> None:
    """Forget cached registries (tests that register modules on the fly use this)."""
    _cache.clear()
