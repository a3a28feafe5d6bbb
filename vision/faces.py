"""Face detection and face embeddings on BGR images, with dlib.

Models: dlib's built-in HOG frontal-face detector, and the 5-point landmark and
ResNet face-embedding models that the ``face_recognition_models`` package
(CC0) carries.  Only its model files are used, looked up without importing it,
so nothing is downloaded at run time.  An embedding is 128 numbers, stored
scaled to length 1 so that the similarity of two faces is the cosine of their
angle (a 0-1 score that reads like a camera's). dlib's published same-person
threshold, Euclidean distance 0.6 on its raw vectors (length about 1.38), is a
cosine of about 0.90; measured on 16 people, 0.91 keeps false accepts under 1 % (`DEFAULT_THRESHOLD`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vision import load_once, package_dir

EMBEDDING_SIZE = 128
DEFAULT_THRESHOLD = 0.91
"""Cosine similarity at or above which a face is taken to be the enrolled person: chosen from the true-match /
false-accept curve of ../shared/vision/faces (docs/vision.md#faces); dlib's published 0.6 distance, a cosine
of about 0.90, let 1.4 % of impostor pairs through there."""
DETECT_MAX_SIDE = 960
"""Detection runs on a copy at most this wide/high (HOG time grows with pixels); embeddings use the original."""
MIN_FACE = 40
"""Faces smaller than this many pixels across are left out: their embeddings are too unreliable to match."""


@dataclass(frozen=True)
class FoundFace:
    box: tuple[int, int, int, int]
    """x, y, w, h in image pixels."""
    score: float
    """The detector's confidence (HOG margin; above 0 is a face)."""
    embedding: np.ndarray
    sharpness: float = 0.0
    """Variance of the Laplacian of the face scaled to 100×100 grey: low is blurred (enrolment refuses it)."""
    turn: float = 0.0
    """How far the head is turned: the nose's offset from between the eyes, in eye distances (0 frontal)."""


class _Models:
    def __init__(self) -> None:
        import dlib

        models = package_dir("face_recognition_models") / "models"
        self.detector = dlib.get_frontal_face_detector()
        self.landmarks = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        self.rectangle = dlib.rectangle


_models = load_once(_Models)


def find_faces(image: np.ndarray, upsample: int = 0) -> list[FoundFace]:
    """Detect faces and compute one unit-length embedding per face, largest face first.

    The HOG detector finds faces from about 80 pixels across; ``upsample=1``
    doubles the detection image to find them from about 40 (and takes about
    twice as long): for wide scenes rather than a face camera's close-ups.
    """
    if image is None or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("expected a BGR image of shape (h, w, 3)")
    models = _models()
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    h, w = rgb.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    rects, scores, _ = models.detector.run(small, upsample, 0.0)
    found = []
    for rect, score in zip(rects, scores, strict=True):
        x1, y1 = max(0, round(rect.left() / scale)), max(0, round(rect.top() / scale))
        x2, y2 = min(w, round(rect.right() / scale)), min(h, round(rect.bottom() / scale))
        if min(x2 - x1, y2 - y1) < MIN_FACE:
            continue
        shape = models.landmarks(rgb, models.rectangle(x1, y1, x2, y2))
        embedding = np.asarray(models.encoder.compute_face_descriptor(rgb, shape), dtype=np.float32)
        embedding /= max(float(np.linalg.norm(embedding)), 1e-6)
        found.append(FoundFace((x1, y1, x2 - x1, y2 - y1), float(score), embedding,
                               _sharpness(rgb[y1:y2, x1:x2]), _turn(shape)))
    found.sort(key=lambda f: f.box[2] * f.box[3], reverse=True)
    return found


def _sharpness(face: np.ndarray) -> float:
    """Blur measure at a fixed scale, so that big and small faces compare."""
    if face.size == 0:
        return 0.0
    grey = cv2.cvtColor(cv2.resize(np.ascontiguousarray(face), (100, 100), interpolation=cv2.INTER_AREA),
                        cv2.COLOR_RGB2GRAY)
    return round(float(cv2.Laplacian(grey, cv2.CV_64F).var()), 1)


def _turn(shape: object) -> float:
    """Yaw from the 5 landmarks (eye corners 0-1 and 2-3, nose 4): 0 frontal, about 0.5 in profile."""
    pts = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], dtype=np.float64)  # type: ignore[attr-defined]
    right, left, nose = pts[0:2].mean(0), pts[2:4].mean(0), pts[4]
    eyes = left - right
    distance = float(np.linalg.norm(eyes))
    if distance < 1e-6:
        return 1.0
    offset = float(np.dot(nose - (left + right) / 2, eyes / distance))
    return round(abs(offset) / distance, 3)


@dataclass(frozen=True)
class FaceMatch:
    person_id: str | None
    """None: nobody enrolled is similar enough."""
    similarity: float
    """Similarity to the closest enrolled person (0 when nobody is enrolled)."""
    nearest: str | None
    """The closest enrolled person, even below the threshold (for the audit trail and tuning)."""


class Gallery:
    """Enrolled embeddings, several per person; a probe matches its nearest person above the threshold."""

    def __init__(self, entries: list[tuple[str, np.ndarray]] | None = None) -> None:
        entries = entries or []
        self.person_ids = [p for p, _ in entries]
        self.matrix = (np.stack([np.asarray(e, dtype=np.float32) for _, e in entries])
                       if entries else np.zeros((0, EMBEDDING_SIZE), np.float32))

    def __len__(self) -> int:
        return len(self.person_ids)

    def match(self, embedding: np.ndarray, threshold: float) -> FaceMatch:
        if not self.person_ids:
            return FaceMatch(None, 0.0, None)
        scores = self.matrix @ np.asarray(embedding, dtype=np.float32)
        best = int(scores.argmax())
        score = round(max(0.0, float(scores[best])), 4)
        nearest = self.person_ids[best]
        return FaceMatch(nearest if score >= threshold else None, score, nearest)


def embedding_to_bytes(embedding: np.ndarray) -> bytes:
    return np.asarray(embedding, dtype="<f4").tobytes()


def embedding_from_bytes(data: bytes) -> np.ndarray:
    vector = np.frombuffer(data, dtype="<f4")
    if vector.size != EMBEDDING_SIZE:
        raise ValueError(f"a face embedding has {EMBEDDING_SIZE} values, not {vector.size}")
    return vector
