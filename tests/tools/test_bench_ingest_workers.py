"""`anju bench ingest --workers 2` runs end to end: two `anju serve` processes sharing one subscription on one
PostgreSQL database, `anju simulate` and the bare subscriber as processes of their own.

Nothing here is timed: the figures are the benchmark's business. The test checks
what the figures rest on: every published message was committed by one of the
workers (none lost, none shed at this rate), both workers got a share, the bare
subscriber saw them all, the CPU cost was measured, and the run's own database
was dropped afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import unavailable
from tools.bench.mosquitto import ManagedMosquitto
from tools.bench.workers import check_workers_database, parse_worker_counts, run_workers_bench

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.timeout(120)]


def test_two_workers_process_every_message(tmp_path: Path, pg_url: str) -> None:
    if not ManagedMosquitto.available():  # fails under CI=true, like a missing PostgreSQL (pg_url)
        unavailable("mosquitto is not installed (apt-get install mosquitto)")
    out = tmp_path / "ingest-workers.json"
    result = run_workers_bench([2], None, devices=50, rate=100, duration=3, db_url=pg_url, out=out)

    (row,) = result.rows
    assert row.workers == 2 and row.published > 200
    assert row.stored == row.published and row.lost == 0 and row.shed == 0 and row.dead_letters == 0
    assert row.processed >= row.published  # /metrics counts a batch retried after a deadlock again
    assert row.bare_received == row.published
    assert sum(row.processed_per_worker) == row.processed
    assert all(n > 0 for n in row.processed_per_worker), f"one worker got everything: {row.processed_per_worker}"
    assert all(ms is not None and ms > 0 for ms in row.cpu_ms_per_1k)
    assert row.rate > 0 and row.bare_rate > 0

    saved = json.loads(out.read_text())
    assert saved["benchmark"] == "ingest-workers" and saved["rows"][0]["processed"] == row.processed
    assert "cannot raise the" in result.summary()

    url = make_url(pg_url)
    admin = create_engine(url)
    with admin.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM pg_database WHERE datname LIKE :prefix"),
                            {"prefix": f"{url.database}_run_%"}).scalar()
    admin.dispose()
    assert left == 0, "the run's database was not dropped"


def test_options_are_checked_before_anything_starts() -> None:
    assert parse_worker_counts("1,2,3") == [1, 2, 3]
    assert parse_worker_counts("2") == [2]
    for bad in ("0", "1,x", ""):
        with pytest.raises(ValueError):
            parse_worker_counts(bad)
    check_workers_database([1], None)  # one worker: a fresh SQLite file
    with pytest.raises(ValueError, match="PostgreSQL"):
        check_workers_database([1, 2], None)
    with pytest.raises(ValueError, match="PostgreSQL"):
        check_workers_database([1], "sqlite:///x.db")
