"""`anju bench vision` end to end on the real photos, and the pieces whose mistakes the numbers would hide.

The plate photos live next to the repository (../shared/vision/plates) and the face
photos are fetched once into a cache by pip: outside CI a missing set skips the bench
test with the reason, under CI=true it fails it (tests/conftest.py `unavailable`).
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import unavailable
from tools.bench.vision import lower_bound, upper_bound
from vision.evalset import EvalSetMissing, _extract_test_images, face_identity, face_set, plate_set

PLATE_FLOOR = 14
"""Of the 15 development photos (15 measured): one miss allowed, as in test_vision_plates."""


def _require_sets() -> None:
    for load in (plate_set, face_set):
        try:
            load()
        except EvalSetMissing as exc:
            unavailable(str(exc))


def test_bench_vision_json(tmp_path: Path) -> None:
    from anju.cli import app

    _require_sets()
    out = tmp_path / "vision.json"
    result = CliRunner().invoke(app, ["bench", "vision", "--repeat", "1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["benchmark"] == "vision" and data["repeat"] == 1
    assert data["plates_skipped"] is None and data["faces_skipped"] is None
    assert data["calibration_start_ms"] > 0 and data["calibration_end_ms"] > 0

    plates = data["plates"]
    assert len(plates["photos"]) == 15 and plates["timings"] == 15
    assert 0 < plates["p50_ms"] <= plates["p99_ms"] <= plates["max_ms"]
    assert plates["target_ratio"] == pytest.approx(data["targets"]["plate_p50_ms"] / plates["p50_ms"])
    assert plates["calibration_multiple"] > 0
    assert plates["correct"] >= PLATE_FLOOR, plates["misses"]
    assert len(plates["misses"]) == 15 - plates["correct"]

    faces = data["faces"]
    assert set(faces["enrolled"]) == {"obama", "biden"} and not faces["not_enrolled"]
    probes = {p["file"] for p in faces["probes"]}
    assert "32bit.png" not in probes and not probes & {"obama.jpg", "biden.jpg"}
    assert faces["genuine"] == len(probes) == 4
    assert faces["true_accepts"] == faces["genuine"], faces["probes"]
    assert faces["false_accepts"] == 0 and faces["impostors_at_threshold"] == 0
    assert faces["impostor_comparisons"] == 4
    assert all(set(p["similarities"]) == {"obama", "biden"} for p in faces["probes"])
    assert faces["timed_photos"] == 6 and 0 < faces["p50_ms"] <= faces["max_ms"]
    assert "PASS" in result.output or "SHORT" in result.output


def test_face_labels() -> None:
    assert face_identity("32bit.png") == "obama"
    assert face_identity("obama_partial_face2.jpg") == "obama"
    assert face_identity("biden.jpg") == "biden"
    with pytest.raises(ValueError):
        face_identity("someone.jpg")


def test_extract_keeps_only_test_images_by_name(tmp_path: Path) -> None:
    archive = tmp_path / "sdist.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("pkg/tests/test_images/obama.jpg", "pkg/tests/test_images/../../../evil.jpg",
                     "pkg/tests/test_images/notes.txt", "pkg/tests/test_images/sub/deep.jpg", "pkg/setup.py"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"img"))
        link = tarfile.TarInfo("pkg/tests/test_images/link.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    out = tmp_path / "out"
    out.mkdir()
    _extract_test_images(archive, out)
    assert sorted(p.name for p in out.iterdir()) == ["obama.jpg"]
    assert not (tmp_path / "evil.jpg").exists()


def test_confidence_bounds() -> None:
    assert lower_bound(15, 15) == pytest.approx(0.05 ** (1 / 15), abs=1e-6)
    assert upper_bound(0, 4) == pytest.approx(1 - 0.05 ** (1 / 4), abs=1e-6)
    assert lower_bound(0, 5) == 0.0 and upper_bound(5, 5) == 1.0 and lower_bound(0, 0) is None
    p = lower_bound(14, 15)
    assert p is not None
    assert 15 * p**14 * (1 - p) + p**15 == pytest.approx(0.05, abs=1e-6)  # P(14 or 15 right | p) is 5 %
