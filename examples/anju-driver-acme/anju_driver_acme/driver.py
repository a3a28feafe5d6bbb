"""ACME VC-200: a licence-plate camera with its own JSON format, mapped to Anju's `plate_camera` events.

The camera publishes on `anju/v1/{site}/acme_camera/{device}/event`:

    {"evt": "LPR", "plateNo": "辽E12345", "conf": 93, "time": "2026-11-23T08:00:00+08:00"}

and a heartbeat `{"evt": "HB"}` on `.../telemetry`. Anju registers these cameras as
`plate_camera` devices, so the plate rules (blacklist, overstay...) apply unchanged.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from devices.base import DeviceDriver, Heartbeat
from devices.plate_camera import Plate

EVENTS = {"LPR": "plate"}
TELEMETRY = {"HB": "heartbeat"}
DIRECTIONS = {"IN": "in", "OUT": "out"}


class AcmeVC200(DeviceDriver):
    kind = "acme_camera"  # the topic segment that selects this driver
    canonical_kind = "plate_camera"  # what the devices are for rules, the registry and the console
    title = "ACME VC-200 licence-plate camera"
    heartbeat_interval = timedelta(minutes=1)
    offline_timeout = timedelta(minutes=5)
    events: ClassVar = {"plate": Plate}  # the canonical models: validated after `normalize`
    telemetry: ClassVar = {"heartbeat": Heartbeat}

    def normalize(self, channel: str, data: dict[str, Any]) -> dict[str, Any]:
        """ACME's JSON -> Anju's canonical payload; the vendor's original is kept under `vendor`."""
        table = EVENTS if channel == "event" else TELEMETRY
        evt = data.get("evt")
        if evt not in table:
            raise ValueError(f"evt: expected one of {sorted(table)}, got {evt!r}")
        out: dict[str, Any] = {"type": table[evt], "vendor": data}
        if "time" in data:
            out["ts"] = data["time"]  # RFC 3339 with offset: Anju's `ts` takes it as is
        if evt == "LPR":
            out["plate"] = data.get("plateNo")
            conf = data.get("conf")
            if conf is not None:  # ACME: 0-100; Anju: 0-1
                if isinstance(conf, bool) or not isinstance(conf, int | float):
                    raise ValueError(f"conf: expected a number 0-100, got {conf!r}")
                out["confidence"] = conf / 100
            if data.get("dir") in DIRECTIONS:
                out["direction"] = DIRECTIONS[data["dir"]]
        return out

    def simulated(self, rng: Any = None, attributes: Any = None) -> Any:
        from anju_driver_acme.simulator import AcmeVC200Model  # the simulator is only loaded when used

        return AcmeVC200Model(rng)
