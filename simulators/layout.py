"""Read the community's shape from the site file: which gate belongs to which courtyard,
which camera watches which gate, where the vehicle entrances are.

The sample community states this in `attributes.role`, `location.gate` and
`zone`; a site file without those hints still works, just more plainly (every
gate is its own courtyard, cameras are spread over gates in order).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from devices import KINDS
from kernel.siteconfig import DeviceConfig, SiteConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Courtyard:
    """A building courtyard (院落) behind its own gate."""

    id: str
    gate: str
    face_camera: str | None
    grid: str | None


@dataclass(frozen=True)
class MainGate:
    """A main pedestrian gate, its face camera and the nearest vehicle entrance."""

    gate: str
    face_camera: str | None
    plate_camera: str | None


@dataclass
class Layout:
    site: str
    timezone: str
    devices: dict[str, DeviceConfig]
    courtyards: list[Courtyard] = field(default_factory=list)
    main_gates: list[MainGate] = field(default_factory=list)
    plate_cameras: list[str] = field(default_factory=list)
    fences: list[str] = field(default_factory=list)
    elder_buttons: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # devices of kinds the simulators do not know

    def by_kind(self, kind: str) -> list[str]:
        return [d.id for d in self.devices.values() if d.kind == kind]

    @classmethod
    def from_site(cls, site: SiteConfig) -> Layout:
        devices = {d.id: d for d in site.devices if d.kind in KINDS}
        skipped = [d.id for d in site.devices if d.kind not in KINDS]
        if skipped:
            log.warning(
                "site %s: not simulating %d devices of unknown kinds: %s", site.id, len(skipped), skipped
            )
        layout = cls(site=site.id, timezone=site.timezone, devices=devices, skipped=skipped)
        gates = [d for d in devices.values() if d.kind == "access_gate"]
        faces = [d for d in devices.values() if d.kind == "face_camera"]
        layout.plate_cameras = sorted(d.id for d in devices.values() if d.kind == "plate_camera")
        layout.fences = sorted(d.id for d in devices.values() if d.kind == "fence")
        layout.elder_buttons = sorted(d.id for d in devices.values() if d.kind == "elder_button")

        camera_of_gate: dict[str, str] = {}
        for cam in faces:
            gate = cam.location.get("gate") or next(
                (g.id for g in gates if g.zone and g.zone == cam.zone), None
            )
            if gate and gate not in camera_of_gate:
                camera_of_gate[gate] = cam.id
        plate_by_zone = {devices[p].zone: p for p in layout.plate_cameras if devices[p].zone}

        mains = sorted((g for g in gates if g.attributes.get("role") == "main"), key=lambda g: g.id)
        for i, g in enumerate(mains):
            plate = plate_by_zone.get(g.zone) if g.zone else None
            if plate is None and layout.plate_cameras:
                plate = layout.plate_cameras[i % len(layout.plate_cameras)]
            layout.main_gates.append(MainGate(g.id, camera_of_gate.get(g.id), plate))
        for g in sorted((g for g in gates if g.attributes.get("role") != "main"), key=lambda g: g.id):
            layout.courtyards.append(Courtyard(g.zone or g.id, g.id, camera_of_gate.get(g.id), g.grid))
        return layout

    def courtyard_of(self, device_id: str) -> Courtyard | None:
        """The courtyard a device (e.g. an elder button) is in, by its zone."""
        zone = self.devices[device_id].zone
        return next((c for c in self.courtyards if c.id == zone), None)
