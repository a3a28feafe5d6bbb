"""The simulated-device base, now `devices.simulation.KindModel` (kept importable for plugins written against it)."""

from __future__ import annotations

from devices.simulation import KindModel

__all__ = ["KindModel"]
