"""Per-kind device models: one module per SPEC device kind."""

from __future__ import annotations

import random
from typing import Any

from simulators.kinds.access_gate import AccessGateModel
from simulators.kinds.base import KindModel
from simulators.kinds.elder_button import ElderButtonModel
from simulators.kinds.face_camera import FaceCameraModel
from simulators.kinds.fence import FenceModel
from simulators.kinds.plate_camera import PlateCameraModel

MODEL_CLASSES: dict[str, type[KindModel]] = {
    cls.kind: cls
    for cls in (ElderButtonModel, AccessGateModel, PlateCameraModel, FaceCameraModel, FenceModel)
}


def make_model(
    kind: str, rng: random.Random | None = None, attributes: dict[str, Any] | None = None
) -> KindModel:
    """The model for a device kind, configured from the site file's `attributes` where that matters."""
    attributes = attributes or {}
    if kind == "fence":
        zones = [str(z) for z in attributes.get("zones") or ["Z1"]]
        return FenceModel(rng, zones=zones, nominal_kv=float(attributes.get("pulse_kv", 8.5)))
    try:
        return MODEL_CLASSES[kind](rng)
    except KeyError:
        raise ValueError(f"unknown device kind {kind!r}") from None


__all__ = [
    "MODEL_CLASSES",
    "AccessGateModel",
    "ElderButtonModel",
    "FaceCameraModel",
    "FenceModel",
    "KindModel",
    "PlateCameraModel",
    "make_model",
]
