"""Engines and migrations for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import orjson
from sqlalchemy import CursorResult, Engine, Result, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the API read while the gateway writes; NORMAL sync is durable
    # across process crashes (not power loss), and busy_timeout rides out
    # short write locks instead of failing.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`, with the per-backend settings Anju relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, json_serializer=dump_json)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, json_serializer=dump_json)


def dump_json(value: Any) -> str:
    """JSON columns' text: orjson, the standard library's encoder only for what orjson refuses (an integer beyond
    64 bits). Every stored event and device reading goes through it (docs/architecture.md#measured-decisions)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def checkpoint_in_background(engine: Engine) -> Callable[[], None] | None:
    """SQLite: commits stop copying the write-ahead log back into the database file themselves; the callable
    returned does it instead, off the press path (the gateway's watchdog, twice a second). The commit that crossed
    SQLite's 1,000-page mark had taken the copy on itself: a press's commit every few seconds took 5-25 ms more
    (docs/architecture.md#measured-decisions). A passive checkpoint never blocks a writer. None for PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return None
    event.listen(engine, "connect", _no_autocheckpoint)

    def checkpoint() -> None:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    return checkpoint


def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest Alembic revision (idempotent)."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


_STATEMENTS: dict[tuple[str, str], Any] = {}


def _upsert_insert_for(dialect: str) -> Callable[[Any], Any]:
    """The backend's `insert`, the one with `on_conflict_do_*` (PostgreSQL's, else SQLite's)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def prebuilt(session: Session, name: str, build: Callable[[Callable[[Any], Any]], Any]) -> Any:
    """A statement built once per backend and reused, its values passed as parameters at execution.

    On the press path SQLAlchemy spent more time building a fresh INSERT … ON CONFLICT
    for every alert, history row and timer (and computing its cache key) than the
    database spent running it (py-spy, `anju bench latency`). `build` gets the
    backend's `insert` (ON CONFLICT-capable, as `upsert_insert`).
    """
    dialect = session.get_bind().dialect.name
    stmt = _STATEMENTS.get((dialect, name))
    if stmt is None:
        stmt = _STATEMENTS[(dialect, name)] = build(_upsert_insert_for(dialect))
    return stmt


def upsert_insert(session: Session, model: type[Any]) -> Any:
    """An INSERT for `model` that supports `on_conflict_do_*` on the session's backend (PostgreSQL or SQLite).

    Atomic upserts are how Anju keeps dedup, alert merging and timers correct
    with several gateway processes; both backends speak the same ON CONFLICT.
    """
    return _upsert_insert_for(session.get_bind().dialect.name)(model)


def affected(result: Result[Any]) -> int:
    """Rows an INSERT/UPDATE/DELETE touched. `Session.execute` is typed as returning a `Result`, but for a DML
    statement it is a `CursorResult`, which counts them (0 when the driver cannot tell)."""
    return cast(CursorResult[Any], result).rowcount or 0
