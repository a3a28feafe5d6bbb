"""SQLite's write-ahead log is copied back by the gateway's watchdog, never inside a commit (kernel/db/engine.py)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from kernel.db import make_engine
from kernel.db.engine import checkpoint_in_background


def _wal_frames(engine_url: str) -> tuple[int, int]:
    """(frames in the log, frames copied back), from a passive checkpoint of a connection of its own."""
    import sqlite3

    conn = sqlite3.connect(engine_url.removeprefix("sqlite:///"))
    try:
        _busy, log, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return log, done
    finally:
        conn.close()


def test_commits_leave_the_log_to_the_background_checkpoint(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wal.db'}"
    engine = make_engine(url)
    checkpoint = checkpoint_in_background(engine)
    assert checkpoint is not None
    with engine.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)"))
    for _ in range(40):  # ~2,000 pages: twice SQLite's own 1,000-page mark
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (pad) VALUES (:pad)"), [{"pad": "x" * 4000}] * 50)
    checkpoint()
    log, done = _wal_frames(url)
    # A commit that checkpointed would have restarted the log: it would hold fewer than 1,100 pages.
    assert log > 1500
    assert done == log  # and the background checkpoint copied all of it back
    engine.dispose()


def test_postgresql_needs_no_checkpointer() -> None:
    from sqlalchemy import create_engine

    assert checkpoint_in_background(create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")) is None
