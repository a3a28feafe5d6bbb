"""The simulated fence host, now `devices.fence.simulated` (kept importable: `simulators.incidents` uses `CAUSES`)."""

from __future__ import annotations

from devices.fence.simulated import CAUSES, FenceModel

__all__ = ["CAUSES", "FenceModel"]
