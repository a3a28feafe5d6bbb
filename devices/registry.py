"""Driver discovery: the built-in drivers plus third-party ones from the `anju.devices` entry-point group.

An integrator ships a driver as their own pip package that declares

    [project.entry-points."anju.devices"]
    acme_camera = "anju_driver_acme.driver:AcmeVC200"

The entry point's target is a `DeviceDriver` subclass; its `kind` is the topic
kind. A driver that fails to import, is not a `DeviceDriver` subclass, has an
invalid kind, or clashes with a built-in (or an earlier) kind is skipped with one
log line and recorded in `driver_errors`: a broken driver never takes the gateway
down, and the other devices keep being processed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from devices.base import DeviceDriver

log = logging.getLogger("anju.devices")

ENTRY_POINT_GROUP = "anju.devices"
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
"""A topic segment: lower-case letters, digits and `_`, starting with a letter."""


@dataclass(frozen=True, slots=True)
class DriverError:
    """Why one entry point's driver was not loaded (for start-up logs and `/healthz`)."""

    package: str
    """The distribution that declares the entry point, e.g. `anju-driver-acme`."""
    entry_point: str
    """`name = module:attr`, as declared."""
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"device driver {self.entry_point!r} from package {self.package!r} skipped: {self.reason}"


def _package(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return getattr(dist, "name", None) or "(unknown package)"


def check_driver(obj: object, *, taken: dict[str, DeviceDriver]) -> str | None:
    """Why `obj` cannot be a driver next to `taken`, or None when it can."""
    if not (isinstance(obj, type) and issubclass(obj, DeviceDriver)) or obj is DeviceDriver:
        return f"{obj!r} is not a subclass of devices.base.DeviceDriver"
    kind = getattr(obj, "kind", None)
    if not isinstance(kind, str) or not KIND_PATTERN.match(kind):
        return f"invalid kind {kind!r} (lower-case letters, digits and '_', starting with a letter)"
    if kind in taken:
        return f"kind {kind!r} is already provided by {type(taken[kind]).__module__}.{type(taken[kind]).__name__}"
    canonical = obj.canonical_kind or kind
    if canonical != kind and canonical not in taken:
        return f"canonical_kind {canonical!r} is not a known kind (known: {sorted(taken)})"
    if canonical != kind and taken[canonical].canonical_kind not in (None, canonical):
        return f"canonical_kind {canonical!r} is itself a vendor kind; name the canonical kind"
    for attr in ("title", "heartbeat_interval", "offline_timeout"):
        if not hasattr(obj, attr):
            return f"missing class attribute {attr!r}"
    return None


def discover(builtins: tuple[type[DeviceDriver], ...],
             group: str = ENTRY_POINT_GROUP) -> tuple[dict[str, DeviceDriver], list[DriverError]]:
    """Built-in drivers, then every valid entry-point driver of `group`, in a stable (name) order."""
    drivers: dict[str, DeviceDriver] = {cls.kind: cls() for cls in builtins}
    errors: list[DriverError] = []
    try:
        found = sorted(entry_points(group=group), key=lambda ep: (ep.name, ep.value))
    except Exception as exc:  # noqa: BLE001 - a broken installed distribution must not stop start-up
        log.error("could not list %s entry points: %s", group, exc)
        return drivers, [DriverError("(unknown package)", group, f"listing entry points failed: {exc!r}")]
    for ep in found:
        label = f"{ep.name} = {ep.value}"
        reason: str | None
        try:
            obj = ep.load()
        except BaseException as exc:  # ImportError, SyntaxError, SystemExit in a module body...
            if isinstance(exc, KeyboardInterrupt):
                raise
            reason = f"import failed: {type(exc).__name__}: {exc}"
        else:
            reason = check_driver(obj, taken=drivers)
            if reason is None:
                try:
                    driver = obj()
                except Exception as exc:  # noqa: BLE001 - a third-party constructor: report, skip
                    reason = f"could not be instantiated: {type(exc).__name__}: {exc}"
                else:
                    drivers[driver.kind] = driver
                    log.info("device driver %r loaded from package %r (%s)", driver.kind, _package(ep), label)
                    continue
        error = DriverError(_package(ep), label, reason)
        errors.append(error)
        log.error("%s", error)
    return drivers, errors
