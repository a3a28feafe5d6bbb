"""`anju bench vision`, the held-apart measurements: plates per category on a split set, faces over all pairs.

- Plates (``../shared/vision/plates-more``, split by ``vision.evalset.split_of``): per
  split and category (``crop/blue``, ``scene/blue``, ...) the exact-read rate with its
  95 % Wilson interval, latency per picture on the caller's core, and the confidence
  calibration refitted on the tuning part and checked on the validation part. A crop
  is right when the top reading is its plate; a scene when its labelled plate is
  among the readings (scenes hold several plates, each returned).
- Faces (``../shared/vision/faces``): every photo's largest face embedded; every pair
  of photos of one person is a genuine pair, every other pair (strangers included)
  an impostor pair. The true-match rate and the false-accept rate at each threshold
  of a grid, at the configured threshold and at ``vision.faces.DEFAULT_THRESHOLD``.
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from vision.evalset import LabelledFace, LabelledPlate

TARGET_ACCURACY = 0.97
MIN_CATEGORY = 20
"""Categories with fewer validation pictures are reported, but too small to hold to the target."""
THRESHOLD_GRID = tuple(round(0.86 + 0.01 * i, 2) for i in range(10))


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The 95 % Wilson score interval of a rate (sound near 0 and 1, where the normal one is not)."""
    if n == 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class PlateCase:
    file: str
    split: str
    category: str
    expected: str
    got: list[str]
    right: bool
    confidence: float | None
    uncertain: bool
    median_ms: float


@dataclass
class CategoryRow:
    split: str
    category: str
    n: int
    correct: int
    interval: tuple[float, float] | None
    p50_ms: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0


@dataclass
class PlatesMoreResult:
    source: str
    rows: list[CategoryRow]
    cases: list[PlateCase]
    calibration_in_use: tuple[float, float]
    calibration_refit: tuple[float, float]
    reliability: list[tuple[str, int, float, float]]
    """Validation readings by calibrated confidence band: (band, n, mean confidence, share right)."""
    p50_ms: float
    p99_ms: float

    @property
    def meets_target(self) -> bool:
        gated = [r for r in self.rows if r.split == "validation" and r.n >= MIN_CATEGORY]
        return bool(gated) and all(r.accuracy >= TARGET_ACCURACY for r in gated)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fit_platt(samples: list[tuple[float, bool]], ridge: float = 0.1) -> tuple[float, float]:
    """Slope and intercept of P(right) = sigmoid(a·logit(weakest) + b), by Newton's method with a small ridge
    (a handful of wrong readings would otherwise let the slope run away)."""
    import numpy as np

    w = np.clip(np.array([s for s, _ in samples], dtype=float), 1e-4, 1 - 1e-4)
    y = np.array([ok for _, ok in samples], dtype=float)
    x = np.stack([np.log(w / (1 - w)), np.ones_like(w)], 1)
    theta = np.zeros(2)
    for _ in range(50):
        p = 1 / (1 + np.exp(-x @ theta))
        grad = x.T @ (y - p) - ridge * theta
        hess = -(x.T * (p * (1 - p))) @ x - ridge * np.eye(2)
        theta = theta - np.linalg.solve(hess, grad)
    return round(float(theta[0]), 3), round(float(theta[1]), 3)


def bench_plates_more(rows: list[LabelledPlate], repeat: int, decode: Any) -> PlatesMoreResult:
    """Every photo read once untimed (accuracy, calibration samples), then `repeat` timed passes."""
    from vision import plates

    images = [(r, decode(r.path)) for r in rows]
    readings = {r.path: plates.read_plates(image) for r, image in images}
    times: dict[Any, list[float]] = {r.path: [] for r, _ in images}
    for _ in range(repeat):
        for r, image in images:
            started = time.perf_counter()
            plates.read_plates(image)
            times[r.path].append((time.perf_counter() - started) * 1000)
    cases, samples = [], {"tuning": [], "validation": []}  # type: ignore[var-annotated]
    for r, _ in images:
        got = readings[r.path]
        texts = [g.text for g in got]
        right = r.plate in texts if r.kind == "scene" else texts[:1] == [r.plate]
        mine = next((g for g in got if g.text == r.plate), got[0] if got else None)
        cases.append(PlateCase(r.path.name, r.split, r.category, r.plate, texts, right,
                               mine.confidence if mine else None, bool(mine and mine.uncertain),
                               round(statistics.median(times[r.path]), 2)))
        for g in got:
            samples[r.split].append((g.weakest, g.confidence, g.text == r.plate or g.text in r.others))
    table = []
    for split in ("validation", "tuning"):
        for category in sorted({c.category for c in cases}):
            chosen = [c for c in cases if c.split == split and c.category == category]
            if chosen:
                correct = sum(c.right for c in chosen)
                table.append(CategoryRow(split, category, len(chosen), correct, wilson(correct, len(chosen)),
                                         _percentile([t for c in chosen for t in times[_path(rows, c.file)]], 0.5)))
    bands = [("< 0.50", 0.0, 0.5), ("0.50-0.90", 0.5, 0.9), ("0.90-0.97", 0.9, 0.97), (">= 0.97", 0.97, 1.01)]
    reliability = []
    for name, lo, hi in bands:
        inside = [(conf, ok) for _, conf, ok in samples["validation"] if lo <= conf < hi]
        if inside:
            reliability.append((name, len(inside), statistics.fmean(c for c, _ in inside),
                                sum(ok for _, ok in inside) / len(inside)))
    every = [t for ts in times.values() for t in ts]
    return PlatesMoreResult(str(rows[0].path.parent), table, cases, plates.CALIBRATION,
                            fit_platt([(w, ok) for w, _, ok in samples["tuning"]]), reliability,
                            _percentile(every, 0.5), _percentile(every, 0.99))


def _path(rows: list[LabelledPlate], name: str) -> Any:
    return next(r.path for r in rows if r.path.name == name)


def plates_more_lines(r: PlatesMoreResult) -> list[str]:
    def pct(v: float) -> str:
        return f"{v * 100:.1f} %"

    lines = [f"plates, held apart: {len(r.cases)} photos in {r.source}, split by vision.evalset.split_of "
             "(SHA-256 of the file name, alternating within kind x colour x low light)",
             f"  {'split':<11} {'category':<12} {'n':>4} {'exact':>6} {'rate':>8}  {'95 % Wilson':<17} {'p50':>8}"]
    for row in r.rows:
        interval = f"{pct(row.interval[0])}-{pct(row.interval[1])}" if row.interval else "n/a"
        gate = ("  target >= 97 % -> " + ("PASS" if row.accuracy >= TARGET_ACCURACY else "SHORT")
                if row.split == "validation" and row.n >= MIN_CATEGORY else
                "  (n < 20: reported, not held to the target)" if row.split == "validation" else "")
        lines.append(f"  {row.split:<11} {row.category:<12} {row.n:>4} {row.correct:>6} {pct(row.accuracy):>8}  "
                     f"{interval:<17} {row.p50_ms:>5.1f} ms{gate}")
    lines += [f"  read_plates, every photo x repetition: p50 {r.p50_ms:.1f} ms  p99 {r.p99_ms:.1f} ms",
              f"  confidence: Platt fit in use (slope, intercept) {r.calibration_in_use}, refitted on this run's "
              f"tuning part {r.calibration_refit}",
              "  validation readings by confidence: "
              + "; ".join(f"{band}: n={n}, mean {conf:.2f}, right {ok:.2f}" for band, n, conf, ok in r.reliability),
              "  misses (validation): " + (", ".join(f"{c.file} (got {'/'.join(c.got) or '-'})" for c in r.cases
                                                     if c.split == "validation" and not c.right) or "none"),
              "  misses (tuning): " + (", ".join(f"{c.file} (got {'/'.join(c.got) or '-'})" for c in r.cases
                                                 if c.split == "tuning" and not c.right) or "none"),
              f"  every validation category with >= {MIN_CATEGORY} photos at >= 97 % -> "
              + ("PASS" if r.meets_target else "SHORT")]
    return lines


@dataclass
class CurvePoint:
    threshold: float
    true_match_rate: float
    false_accept_rate: float
    impostors_accepted: int


@dataclass
class FacePairsResult:
    source: str
    photos: int
    people: int
    strangers: int
    no_face: list[str]
    genuine_pairs: int
    impostor_pairs: int
    configured: float
    recommended: float
    curve: list[CurvePoint] = field(default_factory=list)
    at_configured: CurvePoint | None = None
    at_recommended: CurvePoint | None = None


def _point(threshold: float, genuine: list[float], impostor: list[float]) -> CurvePoint:
    accepted = sum(s >= threshold for s in impostor)
    return CurvePoint(threshold, sum(s >= threshold for s in genuine) / max(1, len(genuine)),
                      accepted / max(1, len(impostor)), accepted)


def bench_face_pairs(faces: list[LabelledFace], configured: float, decode: Any) -> FacePairsResult:
    from vision.faces import DEFAULT_THRESHOLD, find_faces

    embedded, no_face = [], []
    for f in faces:
        found = find_faces(decode(f.path))
        if found:
            embedded.append((f.identity, found[0].embedding))
        else:
            no_face.append(f.path.name)
    genuine: list[float] = []
    impostor: list[float] = []
    for (a, ea), (b, eb) in itertools.combinations(embedded, 2):
        similarity = float(ea @ eb)
        (genuine if a == b and a != "_unknown" else impostor).append(similarity)
    people = {f.identity for f in faces if f.identity != "_unknown"}
    return FacePairsResult(str(faces[0].path.parent.parent), len(faces), len(people),
                           sum(f.identity == "_unknown" for f in faces), no_face, len(genuine), len(impostor),
                           configured, DEFAULT_THRESHOLD, [_point(t, genuine, impostor) for t in THRESHOLD_GRID],
                           _point(configured, genuine, impostor), _point(DEFAULT_THRESHOLD, genuine, impostor))


def face_pairs_lines(r: FacePairsResult, tar: float, far: float) -> list[str]:
    lines = [f"faces, by pairs: {r.photos} photos of {r.people} people + {r.strangers} strangers in {r.source}; "
             f"{r.genuine_pairs} genuine pairs, {r.impostor_pairs} impostor pairs"
             + (f"; no face found in {', '.join(r.no_face)}" if r.no_face else ""),
             f"  {'threshold':>9} {'true matches':>13} {'false accepts':>14}"]
    for p in r.curve:
        mark = " <- configured" if abs(p.threshold - r.configured) < 1e-9 else ""
        mark += " <- vision default" if abs(p.threshold - r.recommended) < 1e-9 else ""
        lines.append(f"  {p.threshold:>9.2f} {p.true_match_rate * 100:>12.1f} % {p.false_accept_rate * 100:>8.2f} % "
                     f"({p.impostors_accepted:>3}){mark}")
    for name, at in (("configured", r.at_configured), ("vision default", r.at_recommended)):
        if at is not None:
            ok = at.true_match_rate >= tar and at.false_accept_rate <= far
            lines.append(f"  at the {name} threshold {at.threshold:.2f}: true matches {at.true_match_rate * 100:.1f} %"
                         f", false accepts {at.false_accept_rate * 100:.2f} %  target >= 95 % at <= 1 % -> "
                         + ("PASS" if ok else "SHORT"))
    return lines
