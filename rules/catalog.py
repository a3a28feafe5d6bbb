"""What the device drivers say exists: kinds, message types, readings, and the fixed values of fields.

Rules are cross-checked against this at load time, so `kind: elder_buton`,
`type: pres` or `metric: voltage` is an error the operator sees when saving the
file, not a rule that silently never fires. Everything is read from
`devices.DRIVERS` on each call, so a kind added there is known here at once.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Any, Literal

from devices import DRIVERS
from devices.base import Payload
from kernel.observations import HEALTH_TYPES

GATEWAY_TYPES: tuple[str, ...] = HEALTH_TYPES
"""Types the gateway itself observes for every kind (status and health transitions), not sent by devices."""

_COMMON_FIELDS = frozenset(Payload.model_fields)


def kinds() -> list[str]:
    """Kinds rules can name: a vendor driver's devices are its `canonical_kind` (docs/integrators.md)."""
    return sorted({driver.canonical for driver in DRIVERS.values()})


def types_of(kind: str) -> list[str]:
    """Event and telemetry types of `kind`, plus the gateway's own status types."""
    driver = DRIVERS[kind]
    return sorted({*driver.events, *driver.telemetry, *GATEWAY_TYPES})


def all_types() -> list[str]:
    return sorted({t for kind in kinds() for t in types_of(kind)})


def _numeric(annotation: Any) -> bool:
    """int/float (optionally None), or a mapping of them (per-zone readings such as the fence's `voltage_kv`)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(args) and all(_numeric(a) for a in args)
    if origin is dict:
        return _numeric(typing.get_args(annotation)[1])
    return annotation in (int, float)


def metrics_of(kind: str) -> list[str]:
    """Readings `kind` produces: the numeric fields of its telemetry (e.g. `battery`, `voltage_kv`), and the
    readings its driver derives (`derived_readings`, e.g. a heating loop's `spread_c`)."""
    found = set(getattr(DRIVERS[kind], "derived_readings", ()))
    for model in DRIVERS[kind].telemetry.values():
        for name, info in model.model_fields.items():
            if name not in _COMMON_FIELDS and _numeric(info.annotation):
                found.add(name)
    return sorted(found)


def all_metrics() -> list[str]:
    return sorted({m for kind in kinds() for m in metrics_of(kind)})


def _literals(annotation: Any) -> set[Any] | None:
    """The values a `Literal[...]` (optionally `| None`) allows; None when the field takes free values."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return set(typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        values: set[Any] = set()
        for arg in typing.get_args(annotation):
            if arg is type(None):
                continue
            sub = _literals(arg)
            if sub is None:
                return None
            values |= sub
        return values
    return None


def field_values(kind: str, msg_types: Iterable[str] | None, field: str) -> set[Any] | None:
    """Every value `field` can take in `kind`'s messages of `msg_types`, if the drivers fix them.

    None means "free": a type that does not declare the field may carry any
    vendor value (`extra="allow"`), so no check is possible. Used to catch `cause: {in: [intrusoin]}` at load time.
    """
    driver = DRIVERS.get(kind)
    if driver is None:
        return None
    tables = {**driver.events, **driver.telemetry}
    chosen = list(msg_types) if msg_types else list(tables)
    if field in _COMMON_FIELDS or not chosen:
        return None
    values: set[Any] = set()
    for name in chosen:
        model = tables.get(name)
        if model is None or field not in model.model_fields:
            return None  # a type that does not declare the field may carry any vendor value
        allowed = _literals(model.model_fields[field].annotation)
        if allowed is None:
            return None
        values |= allowed
    return values
