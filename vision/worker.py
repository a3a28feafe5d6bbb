"""A bounded pool of recognition processes.

Recognition takes 30-300 ms of CPU per picture, and dlib holds Python's GIL
while it works, so it runs in separate processes: the gateway's MQTT and
processing threads never wait for it, and a burst of pictures queues here (up
to `queue_limit`, then further ones are refused and counted) instead of in
front of an elder's SOS.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlateFound:
    text: str
    color: str
    confidence: float
    box: tuple[int, int, int, int]
    uncertain: bool = False


@dataclass(frozen=True)
class FaceFound:
    box: tuple[int, int, int, int]
    embedding: list[float]
    sharpness: float = 0.0
    """What enrolment judges the photo by (vision.faces.FoundFace)."""
    turn: float = 0.0


@dataclass(frozen=True)
class ReadResult:
    task: str
    plates: list[PlateFound] = field(default_factory=list)
    faces: list[FaceFound] = field(default_factory=list)
    error: str | None = None
    """Why the picture could not be read (not an image, ...); None when it was read (even if nothing was found)."""


def decode_image(content: bytes) -> Any:
    import cv2
    import numpy as np

    return cv2.imdecode(np.frombuffer(content, dtype=np.uint8), cv2.IMREAD_COLOR)


def read_picture(task: str, content: bytes, face_upsample: int = 0) -> ReadResult:
    """Read one picture: `plate` → the plates in it, `face` → the faces and their embeddings."""
    image = decode_image(content)
    if image is None:
        return ReadResult(task, error="not a readable image")
    if task == "plate":
        from vision.plates import read_plates

        return ReadResult(task, plates=[PlateFound(r.text, r.color, r.confidence, r.box, r.uncertain)
                                       for r in read_plates(image)])
    if task == "face":
        from vision.faces import find_faces

        return ReadResult(task, faces=[FaceFound(f.box, [float(x) for x in f.embedding], f.sharpness, f.turn)
                                       for f in find_faces(image, face_upsample)])
    return ReadResult(task, error=f"unknown task {task!r}")


def _one_core() -> None:
    """Worker start-up: one thread for the ONNX runtime (the pool's size is its number of cores)."""
    os.environ.setdefault("ANJU_VISION_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")


class RecognitionPool:
    """`submit` hands a picture to a worker process and never blocks; the callback runs on a pool thread."""

    def __init__(self, workers: int = 1, queue_limit: int = 64, face_upsample: int = 0) -> None:
        self.workers = workers
        self.queue_limit = queue_limit
        self.face_upsample = face_upsample
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._in_flight = 0
        self.refused = 0
        self.failed = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _pool(self) -> ProcessPoolExecutor:
        # Started on first use (most gateways never see a picture); "spawn" because the gateway is threaded.
        if self._executor is None:
            self._executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_one_core)
        return self._executor

    def submit(self, task: str, content: bytes, done: Callable[[ReadResult], None]) -> bool:
        """Queue one picture; False (and counted) when `queue_limit` pictures are already waiting."""
        with self._lock:
            if self._in_flight >= self.queue_limit:
                self.refused += 1
                return False
            try:
                future = self._pool().submit(read_picture, task, content, self.face_upsample)
            except BrokenProcessPool:  # a worker died (out of memory, a crash in native code): start afresh
                log.error("a recognition worker died; restarting the pool")
                self._executor = None
                future = self._pool().submit(read_picture, task, content, self.face_upsample)
            self._in_flight += 1

        def finished(f: Future[ReadResult]) -> None:
            with self._lock:
                self._in_flight -= 1
            try:
                result = f.result()
            except Exception as exc:  # noqa: BLE001 - a worker crash (or a model failure) loses one picture only
                self.failed += 1
                log.warning("recognition of a %s picture failed: %s", task, exc)
                result = ReadResult(task, error=f"recognition failed: {type(exc).__name__}: {exc}"[:180])
            try:
                done(result)
            except Exception:
                log.exception("recognition callback failed")

        future.add_done_callback(finished)
        return True

    def read(self, task: str, content: bytes) -> Future[ReadResult] | None:
        """`submit` for a caller that waits (enrolment through the API): None when the queue is full."""
        future: Future[ReadResult] = Future()
        return future if self.submit(task, content, future.set_result) else None

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
