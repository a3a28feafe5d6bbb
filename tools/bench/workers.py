"""`anju bench ingest --workers N|1,2,3`: the gateway in production shape, N `anju serve` processes sharing one
subscription on PostgreSQL, against a bare subscriber counting the same traffic (docs/deployment.md).

Each row is a `tools.bench.rig` run (publishers, workers, bare subscriber, broker, database, each its own
process); this module adds what scale-out needs: several workers on one shared subscription, and a table of
each worker's CPU per 1,000 messages, which sizes machines.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from tools.bench.mixes import describe_mix
from tools.bench.probes import write_site_file
from tools.bench.rig import IngestRow, RowSpec, describe_setup, run_fresh_row


def parse_worker_counts(text: str) -> list[int]:
    """`--workers 3` or `--workers 1,2,3`: the worker counts to run, in order, each at least 1."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--workers {text!r}: a number or a comma-separated list of numbers") from None
    if not counts or min(counts) < 1:
        raise ValueError(f"--workers {text!r}: every count must be at least 1")
    return counts


def check_workers_database(counts: list[int], db_url: str | None) -> None:
    """Several workers share one database, which SQLite cannot serve to several processes at this rate:
    PostgreSQL is required (and it is what a scaled-out deployment runs). One worker may use a fresh SQLite file."""
    if db_url is None:
        if max(counts) > 1:
            raise ValueError("more than one worker needs PostgreSQL: --db postgresql+psycopg://user@host/database "
                             "(an existing database the bench connects to; each run gets a fresh database beside "
                             "it, dropped afterwards)")
        return
    if not db_url.startswith("postgresql"):
        raise ValueError(f"--workers: --db must be a PostgreSQL URL (postgresql+psycopg://...), not {db_url!r}; "
                         "leave --db out for one worker on a fresh SQLite file")


@dataclass
class WorkersResult:
    """Rows of one `--workers` run; `cores` because on a small machine the rows compete for the same CPU."""

    broker: str
    database: str
    devices: int
    mix: str
    duration: float
    cores: int
    rows: list[IngestRow]

    def summary(self) -> str:
        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.0f}"

        lines = [f"{self.devices} devices ({self.mix}), {self.duration:.0f} s of traffic per run "
                 f"({self.broker}, {self.database}), {self.cores} cores",
                 f"{'workers':>7} {'offered':>8} {'published':>9} {'processed':>9} {'stored':>7} {'msg/s':>7} "
                 f"{'bare/s':>7} {'ratio':>5} {'dropped':>7} {'shed':>6} {'lost':>5}  "
                 f"CPU-ms/1k msg: all (each worker)  broker  postgres"]
        for row in self.rows:
            dropped = "?" if row.broker_dropped is None else str(row.broker_dropped)
            each = ", ".join(ms(v) for v in row.cpu_ms_per_1k)
            lines.append(f"{row.workers:>7} {row.offered_rate:>8.0f} {row.published:>9} {row.processed:>9} "
                         f"{row.stored:>7} {row.rate:>7.0f} {row.bare_rate:>7.0f} {row.ratio:>5.2f} {dropped:>7} "
                         f"{row.shed:>6} {row.lost:>5}  {ms(row.cpu_ms_per_1k_all):>4} ({each})"
                         f"{'':<{max(0, 22 - len(each))}}{ms(row.broker_cpu_ms_per_1k):>6}  "
                         f"{ms(row.database_cpu_ms_per_1k):>8}")
        most = max(row.workers for row in self.rows)
        lines.append(
            f"On {self.cores} cores the publishers, the broker, the bare subscriber, PostgreSQL and "
            f"{'the worker' if most == 1 else f'up to {most} workers'} share the CPU: more workers cannot raise the "
            f"processed rate linearly here, and can lower it. The per-worker CPU-ms per 1,000 messages is the "
            f"figure to size machines with (docs/deployment.md).")
        if any(row.lost for row in self.rows):
            lines.append("LOST MESSAGES: some published messages were neither stored, dead-lettered nor shed.")
        return "\n".join(lines)


def run_workers_bench(counts: list[int], broker_url: str | None, devices: int, rate: float, duration: float,
                      db_url: str | None, out: Path | None = None, influx_url: str | None = None,
                      kind: str | None = None, mix: str = "issue", publishers: int = 2) -> WorkersResult:
    """One run per entry of `counts`, in order, each with a fresh database and (unless `broker_url`) a fresh
    private Mosquitto, so a row never inherits another's rows, sessions or queued messages.

    What is measured, and how:
    - processed: each worker's `/metrics` (`anju_messages_total` over all labels + `anju_dead_letters_total`),
      polled every 0.5 s by this process; `stored` checks it exactly against the database afterwards.
    - rate: processed messages over the seconds from the first to the last processing, both placed from the
      0.5 s samples (`processing_span`): the counters carry no timestamps, and polling keeps the workers
      unchanged. The bare subscriber's rate is its own count over its own first-to-last arrival.
    - CPU: `/proc/<pid>/stat` of each worker before the load starts and once everything is counted, so start-up
      is excluded; the same for the private broker and for the PostgreSQL backends of the run's database.

    `db_url`: PostgreSQL (required beyond one worker); the bench connects to it and creates and drops a
    database per run beside it (`RunDatabase`). `influx_url`: readings go to InfluxDB through each worker's
    own on-disk buffer instead of SQL. `mix`: the traffic (`tools.bench.mixes`: the issue's, or all five kinds
    in turn, whose captures, passages and alarms make it event-heavy); `kind`: every device of that kind
    with its routine mix. `publishers`: load generator processes sharing the rate.
    """
    check_workers_database(counts, db_url)
    workdir = Path(tempfile.mkdtemp(prefix="anju-bench-workers-"))
    site_file = write_site_file(workdir, devices, mix, kind)
    rows = [run_fresh_row(RowSpec(workers=n, shared=True, site_file=site_file, devices=devices, rate=rate,
                                  duration=duration, workdir=workdir / f"workers-{n}-run-{i + 1}", mix=mix,
                                  kind=kind, publishers=publishers, influx_url=influx_url), broker_url, db_url)
            for i, n in enumerate(counts)]
    broker, database = describe_setup(broker_url, db_url, influx_url)
    result = WorkersResult(broker=broker, database=database, devices=devices, mix=describe_mix(mix, kind),
                           duration=duration, cores=os.cpu_count() or 1, rows=rows)
    if out is not None:
        out.write_text(json.dumps({"benchmark": "ingest-workers", **asdict(result)}, indent=2), encoding="utf-8")
    return result
