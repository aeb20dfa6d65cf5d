"""Strict cattrs conversion shared by specs and component configs: no silent coercion, clear paths."""

from __future__ import annotations

from typing import Any

import attrs
import cattrs
from cattrs.errors import ForbiddenExtraKeysError

from zoo.errors import SpecError


def _strict(kind: type, allowed: tuple[type, ...]):
    """A structure hook that refuses coercion (plain cattrs turns "5" or 5.7 into 5)."""

    def hook(value: Any, _type: type) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {kind.__name__}, got a boolean {value!r}")
        if not isinstance(value, allowed):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return kind(value)

    return hook


def strict_converter() -> cattrs.Converter:
    """A converter that refuses unknown keys and values of the wrong type."""
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(int, _strict(int, (int,)))
    conv.register_structure_hook(float, _strict(float, (int, float)))
    conv.register_structure_hook(bool, _strict(bool, (bool,)))
    conv.register_structure_hook(str, _strict(str, (str,)))
    return conv


def _format_exception(exc: BaseException, type_: type | None) -> str:
    if isinstance(exc, ForbiddenExtraKeysError):
        allowed = [f.name for f in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        extra = ", ".join(sorted(exc.extra_fields))
        return f"unknown key(s) {extra}; allowed here: {', '.join(allowed) or '(none)'}"
    if isinstance(exc, KeyError):
        return "required key is missing"
    if exc.args and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc) or type(exc).__name__


def _clean_path(path: str, prefix: str) -> str:
    path = path.replace("['", ".").replace("']", "").replace("$.", "").replace("$", "")
    if prefix:
        path = f"{prefix}.{path}" if path else prefix
    return path or "(top level)"


def structure_checked(conv: cattrs.Converter, data: Any, cls: type, where: str, prefix: str = "") -> Any:
    """Structure ``data`` into ``cls``; every problem becomes one SpecError line ``where: key.path: why``."""
    try:
        return conv.structure(data, cls)
    except cattrs.BaseValidationError as exc:
        lines = []
        for msg in cattrs.transform_error(exc, path="$", format_exception=_format_exception):
            text, _, path = msg.rpartition(" @ ")
            lines.append(f"{_clean_path(path, prefix)}: {text}")
        raise SpecError(f"{where}: " + "; ".join(lines)) from None
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{where}: {prefix + ': ' if prefix else ''}{_format_exception(exc, None)}") from None
