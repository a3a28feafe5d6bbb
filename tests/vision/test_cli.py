"""`anju enroll` and `anju recognize face` on real photos, against a real database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from anju.cli import app
from kernel.db import make_engine, migrate, session_factory
from kernel.db.models import FaceEmbedding, Person, PersonDataAccess, Site
from kernel.timeutil import utcnow
from tests.vision.test_e2e import _faces


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'anju.db'}"
    engine = make_engine(url)
    migrate(engine)
    with session_factory(engine).begin() as session:
        session.add(Site(id="s1", name="测试社区"))
        session.flush()
        session.add(Person(id="p-obama", site_id="s1", name="王某", updated_at=utcnow()))
    engine.dispose()
    monkeypatch.setenv("ANJU_DB__URL", url)
    return url


def test_enroll_then_recognize(database: str, tmp_path: Path) -> None:
    faces = _faces()
    runner = CliRunner()
    unknown = runner.invoke(app, ["recognize", "face", str(faces.enrolment()["obama"])])
    assert unknown.exit_code == 0 and unknown.stdout.split("\t")[1] == "unknown"  # nobody enrolled yet

    not_a_photo = tmp_path / "notes.txt"
    not_a_photo.write_text("hello")
    enrolled = runner.invoke(app, ["enroll", "p-obama", str(faces.enrolment()["obama"]), str(not_a_photo)])
    assert enrolled.exit_code == 0, enrolled.output
    ok, refused = enrolled.stdout.splitlines()
    assert ok.startswith("obama.jpg\tface ") and refused.startswith("notes.txt\trefused\tnot a readable image")
    assert runner.invoke(app, ["enroll", "nobody", str(faces.enrolment()["obama"])]).exit_code == 1

    probes = [p for who, p in faces.probes() if who == "obama"]
    stranger = faces.enrolment()["biden"]
    result = runner.invoke(app, ["recognize", "face", *map(str, probes), str(stranger)])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [r[1] for r in rows] == ["p-obama"] * len(probes) + ["unknown"]
    assert all(0.9 <= float(r[2]) <= 1 for r in rows[:-1]) and float(rows[-1][2]) < 0.9

    engine = make_engine(database)
    with session_factory(engine)() as session:
        face = session.scalars(select(FaceEmbedding)).one()
        assert face.photo is None and face.created_by.startswith("cli:")
        assert session.scalars(select(PersonDataAccess.action)).all() == ["enrol"]
    engine.dispose()
