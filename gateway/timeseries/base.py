"""The storage interface for readings (telemetry values), whatever keeps them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

MAX_POINTS = 5000
"""Most points one read returns (the API's limit)."""

ReadingRow = dict[str, Any]
"""One reading as the pipeline produces it: device_id, site, kind, metric, zone (or None), ts (aware), value."""


@dataclass(frozen=True, slots=True)
class Point:
    ts: datetime
    value: float
    zone: str | None


def bucket_order(points: list[Point]) -> list[Point]:
    """Time order, then zone (no zone first): the order every backend returns downsampled points in."""
    return sorted(points, key=lambda p: (p.ts, p.zone or ""))


def bucket_start(epoch_bucket: int, step: int) -> datetime:
    return datetime.fromtimestamp(epoch_bucket * step, UTC)


class ReadingStore(ABC):
    """Where the readings of committed batches go, and where the API reads them back from."""

    backend: str

    def start(self) -> None:  # noqa: B027 - optional: background work (the InfluxDB writer)
        """Start background work; called by the gateway's `start()`."""

    @abstractmethod
    def stage(self, session: Session, rows: list[ReadingRow]) -> list[ReadingRow]:
        """Inside the batch's transaction: store what belongs to it, return what `write` takes after the commit.

        The SQL backend inserts into the batch's transaction (and returns nothing); others return
        `rows`, so that a rolled-back batch never reaches them.
        """

    @abstractmethod
    def write(self, rows: list[ReadingRow]) -> None:
        """Store readings of an already committed batch (or, for benchmarks and tools, any readings)."""

    @abstractmethod
    def read(self, device_id: str, metric: str | None, since: datetime, until: datetime, step: int | None,
             limit: int = MAX_POINTS) -> list[Point]:
        """Points of a device in [since, until], oldest first: the first `limit` raw ones, or with `step`
        the mean per `step`-second bucket (aligned to the epoch) and zone, stamped at the bucket's start,
        the latest `limit` of them."""

    @abstractmethod
    def prune(self, older_than: datetime) -> int:
        """Delete readings older than this; the number deleted (0 where the server owns retention)."""

    def close(self) -> None:  # noqa: B027 - optional
        """Stop background work, leaving whatever is not yet delivered on disk."""
