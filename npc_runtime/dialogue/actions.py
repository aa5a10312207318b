"""Checking a proposed action's arguments against the persona's typed parameters. Pure.

The model proposes, the runtime decides: an action is applied only after its arguments pass
:func:`check_args`, its ``when`` holds and every concern's rules accept it (any of them may raise
:class:`ActionRejected`)."""

from __future__ import annotations

from typing import Any

from ..personas.schema import ActionSpec, ParamSpec


class ActionRejected(Exception):
    """An action the persona's parameters, its condition or the world's rules refuse."""


def _coerce(name: str, spec: ParamSpec, value: Any) -> Any:
    kind = spec.type
    if kind in ("string", "entity"):
        if not isinstance(value, str):
            raise ActionRejected(f"parameter '{name}' must be a string, got {type(value).__name__}")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise ActionRejected(f"parameter '{name}' must be an integer, got {value!r}")
        value = int(value)
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ActionRejected(f"parameter '{name}' must be a number, got {value!r}")
        value = float(value)
    elif kind == "bool" and not isinstance(value, bool):
        raise ActionRejected(f"parameter '{name}' must be true or false, got {value!r}")
    if spec.enum is not None and value not in spec.enum:
        raise ActionRejected(f"parameter '{name}' must be one of {spec.enum}, got {value!r}")
    if spec.min is not None and isinstance(value, int | float) and value < spec.min:
        raise ActionRejected(f"parameter '{name}' must be >= {spec.min}, got {value}")
    if spec.max is not None and isinstance(value, int | float) and value > spec.max:
        raise ActionRejected(f"parameter '{name}' must be <= {spec.max}, got {value}")
    return value


def check_args(spec: ActionSpec, args: dict[str, Any]) -> dict[str, Any]:
    """Return the validated arguments or raise ActionRejected naming every problem's parameter."""
    unknown = sorted(set(args) - set(spec.params))
    if unknown:
        raise ActionRejected(f"action '{spec.name}' has no parameter(s) {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for name, pspec in spec.params.items():
        if name not in args:
            if pspec.required:
                raise ActionRejected(f"action '{spec.name}' needs parameter '{name}'")
            continue
        out[name] = _coerce(name, pspec, args[name])
    return out
