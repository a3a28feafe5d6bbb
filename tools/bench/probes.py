"""What the production-shape ingest bench (`tools.bench.rig`) measures with: a fresh database per row, CPU from
/proc, the workers' /metrics polled for their processed counts, and a bare subscriber in a process of its own."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from kernel.db import make_engine
from tools.bench.mixes import SITE, mix_devices
from tools.bench.processes import cpu_seconds

POLL_INTERVAL = 0.5
"""Seconds between reads of each worker's /metrics."""


class RunDatabase:
    """A database of its own for one run, so every row starts from the same empty schema.

    PostgreSQL: `CREATE DATABASE <name>_run_<hex>_w<N>` on the server of `--db`,
    dropped (`WITH (FORCE)`) after the run. The database named in `--db` is only
    connected to, never written, so pointing the bench at the wrong database cannot
    empty it, and nothing a previous run left (rows, sequences, a half-applied
    migration, notification listeners) can reach the next run. It needs the
    CREATEDB privilege. No `--db` (one worker): a fresh SQLite file.
    """

    def __init__(self, db_url: str | None, workdir: Path, workers: int) -> None:
        self.admin: Any = None
        self.name = self.described = ""
        if db_url is None:
            self.url = f"sqlite:///{workdir / f'bench-w{workers}.db'}"
            return
        base = make_url(db_url)
        self.name = f"{(base.database or 'anju')[:30]}_run_{uuid.uuid4().hex[:8]}_w{workers}"
        self.url = base.set(database=self.name).render_as_string(hide_password=False)
        self.admin = create_engine(base, isolation_level="AUTOCOMMIT")
        self.described = base.render_as_string(hide_password=True)

    def __enter__(self) -> RunDatabase:
        if self.admin is not None:
            try:
                with self.admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{self.name}"'))
            except SQLAlchemyError as exc:
                self.admin.dispose()
                raise RuntimeError(f"could not create the run's database {self.name!r} through {self.described} "
                                   f"(the bench needs an existing database there and the CREATEDB privilege): "
                                   f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}") from None
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.admin is not None:
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self.admin.dispose()

    def backend_pids(self) -> list[int]:
        """The PostgreSQL server processes serving the run's database now (none for SQLite)."""
        if self.admin is None:
            return []
        with self.admin.connect() as conn:
            return [row[0] for row in conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :name"), {"name": self.name})]


def database_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds of those PostgreSQL backends that run on this host (a remote server's pids mean nothing here)."""
    found = {}
    for pid in pids:
        try:
            local = b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        seconds = cpu_seconds(pid) if local else None
        if seconds is not None:
            found[pid] = seconds
    return found


@dataclass
class WorkerCounts:
    processed: int = 0
    shed: int = 0
    dead_letters: int = 0


def read_counts(metrics_text: str) -> WorkerCounts:
    """Processed = `anju_messages_total` (accepted and duplicates) + `anju_dead_letters_total`, over all labels."""
    counts = WorkerCounts()
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name in ("anju_messages_total", "anju_dead_letters_total"):
                counts.processed += int(sample.value)
            if sample.name == "anju_dead_letters_total":
                counts.dead_letters += int(sample.value)
            elif sample.name == "anju_qos0_shed_total":
                counts.shed += int(sample.value)
    return counts


class MetricsPoller(threading.Thread):
    """Reads every worker's `/metrics` every 0.5 s and keeps, per worker, (time, processed) samples.

    The time of a sample is the midpoint of its request on `time.perf_counter`. A
    busy worker answers late; a request that fails is simply a missing sample.
    """

    def __init__(self, ports: list[int], token: str) -> None:
        super().__init__(name="bench-metrics", daemon=True)
        import httpx

        self.http = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=5)
        self.ports = ports
        self.latest = [WorkerCounts() for _ in ports]
        self.series: list[list[tuple[float, int]]] = [[] for _ in ports]
        self.done = threading.Event()

    def poll(self) -> None:
        import httpx

        for i, port in enumerate(self.ports):
            start = time.perf_counter()
            try:
                response = self.http.get(f"http://127.0.0.1:{port}/metrics")
                response.raise_for_status()
            except httpx.HTTPError:
                continue
            counts = read_counts(response.text)
            self.latest[i] = counts
            self.series[i].append(((start + time.perf_counter()) / 2, counts.processed))

    def run(self) -> None:
        while not self.done.wait(POLL_INTERVAL):
            self.poll()

    def finish(self) -> None:
        """Stop polling and take one last sample of every worker."""
        self.done.set()
        self.join(10)
        self.poll()
        self.http.close()

    @property
    def processed(self) -> int:
        return sum(c.processed for c in self.latest)

    @property
    def shed(self) -> int:
        return sum(c.shed for c in self.latest)


def processing_span(series: list[tuple[float, int]]) -> tuple[float, float] | None:
    """(first, last) processing time of one worker, from its samples polled every 0.5 s.

    The first message was processed after the last sample that still counted 0
    and before the first that counted some; within that interval it is placed by
    running the next interval's rate backwards from the first count (at that
    rate, `count` messages took `count / rate` seconds). The last one likewise,
    between the last sample short of the final count and the first that had it,
    running the previous interval's rate forwards. So each end is estimated to a
    fraction of the poll interval instead of up to a whole one, which on a 15 s
    run would move the rate by several per cent.
    """
    if not series or series[-1][1] == 0:
        return None
    final = series[-1][1]
    i = next(k for k, (_t, n) in enumerate(series) if n > 0)
    j = next(k for k, (_t, n) in enumerate(series) if n == final)
    t_first, n_first = series[i]
    start = series[i - 1][0] if i > 0 else t_first
    if i + 1 < len(series) and series[i + 1][1] > n_first:
        rate = (series[i + 1][1] - n_first) / (series[i + 1][0] - t_first)
        start = max(start if i > 0 else float("-inf"), t_first - n_first / rate)
    end = series[j][0]
    if j - 2 >= i:
        (t_a, n_a), (t_b, n_b) = series[j - 2], series[j - 1]
        if n_b > n_a:
            end = min(end, t_b + (final - n_b) / ((n_b - n_a) / (t_b - t_a)))
    return start, end


class BareCounter(threading.Thread):
    """`tools.bench.bare --count` in its own process; keeps the latest of the totals it prints."""

    def __init__(self, url: str) -> None:
        super().__init__(name="bench-bare", daemon=True)
        self.process = subprocess.Popen([sys.executable, "-m", "tools.bench.bare", url, "--count"],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            self.process.kill()
            raise RuntimeError("the bare subscriber did not subscribe")
        self.latest: dict[str, Any] = {"received": 0, "first": 0.0, "last": 0.0, "dropped_start": None,
                                       "dropped_now": None}

    def run(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                self.latest = json.loads(line)

    @property
    def received(self) -> int:
        return int(self.latest["received"])

    def rate(self) -> float:
        span = self.latest["last"] - self.latest["first"]
        return self.received / span if span > 0 else 0.0

    def dropped(self) -> int | None:
        if self.latest["dropped_now"] is None:
            return None
        return int(self.latest["dropped_now"]) - int(self.latest["dropped_start"])

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def stored_ids(db_url: str) -> int:
    """Rows of `processed_messages`: each (device, msg_id) committed, once, whichever worker and however often
    it was tried. Every load message has a msg_id, so this counts exactly what /metrics counts at least once."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM processed_messages")).scalar_one())
    finally:
        engine.dispose()


def per_1k(cpu: float | None, messages: int) -> float | None:
    return cpu * 1000 / (messages / 1000) if cpu is not None and messages else None


def write_site_file(workdir: Path, devices: int, mix: str = "all-kinds", kind: str | None = None) -> Path:
    """Registers the run's devices with the gateway: a message from an unknown device is dead-lettered."""
    site_file = workdir / "site.yaml"
    site_file.write_text(yaml.safe_dump({"sites": [{
        "id": SITE, "name": "bench",
        "devices": [{"id": d.device_id, "kind": d.kind} for d in mix_devices(mix, devices, kind)],
    }]}), encoding="utf-8")
    return site_file


