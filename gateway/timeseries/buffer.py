"""A bounded on-disk FIFO of line-protocol lines: what InfluxDB has not yet accepted.

A small SQLite file (WAL, synchronous=FULL): `append` returns only after the
lines are on disk, `remove_through` deletes them only after the server took
them, so a crash or a restart loses nothing that was appended. When the lines
held exceed `max_bytes`, the oldest not being sent right now are dropped (and
counted by the caller).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

FILE_NAME = "readings-buffer.sqlite"


class DiskBuffer:
    def __init__(self, directory: str | Path, max_bytes: int) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self.path = path / FILE_NAME
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS lines (id INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL)")
        self.count, self.bytes = self._totals()
        self._sending_through = 0
        self._sending = (0, 0)
        """Lines up to this id are in a request right now: never dropped under it."""

    def append(self, lines: list[str]) -> int:
        """Store lines durably (fsync'd when this returns); returns how many old lines were dropped to fit."""
        if not lines:
            return 0
        size = sum(len(line) for line in lines)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT INTO lines (line) VALUES (?)", [(line,) for line in lines])
                self.count += len(lines)
                self.bytes += size
                dropped = self._trim() if self.bytes > self.max_bytes else 0
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self.count, self.bytes = self._totals()
                raise
        return dropped

    def _totals(self) -> tuple[int, int]:
        return self._db.execute("SELECT count(*), coalesce(sum(length(line)), 0) FROM lines").fetchone()

    def _trim(self) -> int:
        excess, last, dropped = self.bytes - self.max_bytes, None, 0
        rows = self._db.execute("SELECT id, length(line) FROM lines WHERE id > ? ORDER BY id",
                                (self._sending_through,))
        for row_id, length in rows:
            if excess <= 0:
                break
            excess -= length
            self.bytes -= length
            last, dropped = row_id, dropped + 1
        rows.close()
        if last is not None:
            self._db.execute("DELETE FROM lines WHERE id > ? AND id <= ?", (self._sending_through, last))
            self.count -= dropped
        return dropped

    def peek(self, limit: int) -> tuple[int, list[str]]:
        """The oldest lines (at most `limit`) and the id of the last one; they stay until `remove_through`."""
        with self._lock:
            rows = self._db.execute("SELECT id, line FROM lines ORDER BY id LIMIT ?", (limit,)).fetchall()
            lines = [line for _id, line in rows]
            self._sending_through = rows[-1][0] if rows else 0
            self._sending = (len(lines), sum(len(line) for line in lines))
        return self._sending_through, lines

    def remove_through(self, last_id: int) -> int:
        """Forget the lines up to `last_id` (the server accepted them); returns how many were removed."""
        with self._lock:
            if last_id == self._sending_through:  # the lines of the last peek: never trimmed, sizes known
                removed, size = self._sending
            else:
                size, removed = self._db.execute(
                    "SELECT coalesce(sum(length(line)), 0), count(*) FROM lines WHERE id <= ?", (last_id,)).fetchone()
            self._db.execute("DELETE FROM lines WHERE id <= ?", (last_id,))
            self.count -= removed
            self.bytes -= size
            self._sending_through = 0
        return removed

    def close(self) -> None:
        with self._lock:
            self._db.close()
