"""`anju bench ingest --workers N|1,2,3`: the gateway in production shape, N `anju serve` processes sharing one
subscription on PostgreSQL, against a bare subscriber counting the same traffic (docs/deployment.md).

Each part runs as its own process (simulator, workers, bare subscriber, broker, database), so the load
generator is never the gateway's bottleneck; CPU per message is read from /proc for each of them.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from kernel.mqtt import forget_session, parse_broker_url
from tools.bench.mosquitto import ManagedMosquitto, free_port
from tools.bench.probes import (
    BareCounter,
    MetricsPoller,
    RunDatabase,
    database_cpu,
    per_1k,
    processing_span,
    published_count,
    stored_ids,
    write_site_file,
)
from tools.bench.processes import AnjuProcess, cpu_seconds, wait_ready

# -- production shape: N `anju serve` workers sharing one subscription (--workers) ----------------------

SHARED_GROUP = "anju"
STALL_TIMEOUT = 30.0
"""After the simulator finished, the workers work through their backlog (offered beyond their capacity, it
waits at the broker) for as long as they make progress; this long without any is where the bench stops
waiting and reports the rest as lost."""


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
class WorkersRow:
    """One run with `workers` processes; rates are per second of the run, costs per 1,000 messages."""

    workers: int
    offered_rate: float
    published: int
    processed: int
    """Messages the workers finished (accepted, duplicate or dead-lettered), from their /metrics, summed. A
    batch retried after a database error (a deadlock between workers) is counted again: at least once."""
    stored: int
    """Distinct messages committed: rows of `processed_messages` (dedup ids) in the run's database. Exact."""
    rate: float
    """`processed` over the seconds from the first to the last processing (see `processing_span`)."""
    bare_received: int
    bare_rate: float
    ratio: float
    broker_dropped: int | None
    shed: int
    """QoS 0 telemetry the workers dropped over their `queue_limit` (the overload policy, not a loss)."""
    lost: int
    """Published, but neither committed (`stored`), dead-lettered nor shed: must be 0."""
    dead_letters: int
    processed_per_worker: list[int]
    cpu_seconds_per_worker: list[float | None]
    cpu_ms_per_1k: list[float | None]
    """Per worker: its CPU (user + system, every thread) per 1,000 messages it processed."""
    cpu_ms_per_1k_all: float | None
    """All workers' CPU over all their messages: the cost of one message, wherever it went."""
    broker_cpu_ms_per_1k: float | None
    """The private Mosquitto's CPU per 1,000 published messages (delivered twice: workers and bare subscriber)."""
    database_cpu_ms_per_1k: float | None
    """The PostgreSQL backends serving the run's database, per 1,000 processed (local server only, else None)."""


@dataclass
class WorkersResult:
    """Rows of one `--workers` run; `cores` because on a small machine the rows compete for the same CPU."""

    broker: str
    database: str
    devices: int
    kind: str
    duration: float
    cores: int
    rows: list[WorkersRow]

    def summary(self) -> str:
        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.0f}"

        lines = [f"{self.devices} devices ({self.kind}), {self.duration:.0f} s of traffic per run "
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
            f"On {self.cores} cores the simulator, the broker, the bare subscriber, PostgreSQL and "
            f"{'the worker' if most == 1 else f'up to {most} workers'} share the CPU: more workers cannot raise the "
            f"processed rate linearly here, and can lower it. The per-worker CPU-ms per 1,000 messages is the "
            f"figure to size machines with (docs/deployment.md).")
        if any(row.lost for row in self.rows):
            lines.append("LOST MESSAGES: some published messages were neither stored, dead-lettered nor shed.")
        return "\n".join(lines)


def _run_workers(workers: int, broker_url: str, broker_pid: int | None, database: RunDatabase, site_file: Path,
                 devices: int, rate: float, duration: float, workdir: Path, influx_url: str | None,
                 kind: str | None) -> WorkersRow:
    """One row: start the workers and the bare subscriber, drive the load, wait until everything is counted."""
    workdir.mkdir(parents=True, exist_ok=True)
    run, token = uuid.uuid4().hex[:6], uuid.uuid4().hex
    gateway_url = broker_url if "@" in broker_url else broker_url.replace("://", "://anju-bench@", 1)
    ports = [free_port() for _ in range(workers)]
    client_ids = [f"anju-bench-{run}-w{i}" for i in range(workers)]
    procs: list[AnjuProcess] = []
    bare: BareCounter | None = None
    poller: MetricsPoller | None = None
    load: AnjuProcess | None = None
    try:
        for i in range(workers):
            env = {"ANJU_MQTT__URL": gateway_url, "ANJU_MQTT__CLIENT_ID": client_ids[i],
                   "ANJU_MQTT__SHARED_GROUP": SHARED_GROUP, "ANJU_DB__URL": database.url,
                   "ANJU_SITE_FILE": str(site_file), "ANJU_API__PORT": str(ports[i]), "ANJU_API__ADMIN_TOKEN": token,
                   "ANJU_LOG_LEVEL": "WARNING", "ANJU_VISION__ENABLED": "false"}
            if influx_url:
                env |= {"ANJU_TIMESERIES__BACKEND": "influxdb", "ANJU_TIMESERIES__URL": influx_url,
                        "ANJU_TIMESERIES__BUFFER_DIR": str(workdir / f"buffer-{i}")}
            procs.append(AnjuProcess(["serve"], env, workdir / f"worker-{i}.log"))
            if i == 0:
                # The first worker migrates the empty database and loads the site file alone: start-up
                # migrations take no lock, so N workers racing through them on an empty database could collide.
                wait_ready(procs[0], ports[0])
        for proc, port in zip(procs[1:], ports[1:], strict=True):
            wait_ready(proc, port)
        bare = BareCounter(broker_url)
        bare.start()
        poller = MetricsPoller(ports, token)
        poller.poll()
        poller.start()
        cpu_before = [cpu_seconds(p.pid) for p in procs]
        broker_before = cpu_seconds(broker_pid) if broker_pid else None
        db_before = database_cpu(database.backend_pids())

        load = AnjuProcess(["simulate", "--broker", broker_url, "--scenario", "load", "--devices", str(devices),
                            "--rate", str(rate), "--duration", str(duration), "--site-file", str(site_file),
                            *(["--kind", kind] if kind else [])], {}, workdir / "simulate.log")
        deadline = time.monotonic() + duration + 120
        while load.process.poll() is None:
            for proc in procs:
                proc.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not finish (log: {load.log})")
            time.sleep(0.2)
        if load.process.returncode != 0:
            load.check()
        published = published_count(load.output())

        progress, stalled_since = -1, time.monotonic()
        while ((poller.processed + poller.shed < published or bare.received < published)
               and time.monotonic() - stalled_since < STALL_TIMEOUT):
            for proc in procs:
                proc.check()
            if (now := poller.processed + poller.shed + bare.received) != progress:
                progress, stalled_since = now, time.monotonic()
            time.sleep(0.1)
        time.sleep(1.2)  # one more $SYS interval, and one more poll
        cpu_after = [cpu_seconds(p.pid) for p in procs]
        broker_after = cpu_seconds(broker_pid) if broker_pid else None
        db_after = database_cpu(database.backend_pids())
        poller.finish()
    finally:
        if poller is not None:
            poller.done.set()
        if load is not None:
            load.stop()
        if bare is not None:
            bare.close()
        for proc in procs:
            proc.stop()
        for client_id in client_ids:
            forget_session(broker_url, client_id)

    assert poller is not None and bare is not None  # set on the only way here
    per_worker = [c.processed for c in poller.latest]
    processed, shed = poller.processed, poller.shed
    dead_letters = sum(c.dead_letters for c in poller.latest)
    stored = stored_ids(database.url)
    spans = [span for span in map(processing_span, poller.series) if span is not None]
    seconds = max(end for _s, end in spans) - min(start for start, _e in spans) if spans else 0.0
    cpu = [None if b is None or a is None else a - b for b, a in zip(cpu_before, cpu_after, strict=True)]
    known = [(c, n) for c, n in zip(cpu, per_worker, strict=True) if c is not None]
    db_cpu = sum(after - db_before.get(pid, 0.0) for pid, after in db_after.items()) if db_after else None
    rate_processed = processed / seconds if seconds > 0 else 0.0
    return WorkersRow(
        workers=workers, offered_rate=rate, published=published, processed=processed, stored=stored,
        rate=rate_processed,
        bare_received=bare.received, bare_rate=bare.rate(),
        ratio=rate_processed / bare.rate() if bare.rate() else 0.0,
        broker_dropped=bare.dropped(), shed=shed, lost=max(0, published - stored - dead_letters - shed),
        dead_letters=dead_letters, processed_per_worker=per_worker,
        cpu_seconds_per_worker=cpu, cpu_ms_per_1k=[per_1k(c, n) for c, n in zip(cpu, per_worker, strict=True)],
        cpu_ms_per_1k_all=per_1k(sum(c for c, _n in known), sum(n for _c, n in known)) if known else None,
        broker_cpu_ms_per_1k=per_1k(broker_after - broker_before, published)
        if broker_after is not None and broker_before is not None else None,
        database_cpu_ms_per_1k=per_1k(db_cpu, processed),
    )


def run_workers_bench(counts: list[int], broker_url: str | None, devices: int, rate: float, duration: float,
                      db_url: str | None, out: Path | None = None, influx_url: str | None = None,
                      kind: str | None = None) -> WorkersResult:
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
    own on-disk buffer instead of SQL. `kind`: every simulated device of that kind (`anju simulate --kind`)
    instead of the five kinds in turn, whose captures, passages and alarms make the default mix event-heavy.
    """
    check_workers_database(counts, db_url)
    workdir = Path(tempfile.mkdtemp(prefix="anju-bench-workers-"))
    site_file = write_site_file(workdir, devices, kind)
    rows: list[WorkersRow] = []
    for n in counts:
        managed = ManagedMosquitto() if broker_url is None else None
        if managed is not None:
            managed.start()
        url = managed.url if managed is not None else broker_url
        assert url is not None
        pid = managed.process.pid if managed is not None and managed.process is not None else None
        try:
            with RunDatabase(db_url, workdir, n) as database:
                rows.append(_run_workers(n, url, pid, database, site_file, devices, rate, duration,
                                         workdir / f"workers-{n}-run-{len(rows) + 1}", influx_url, kind))
        finally:
            if managed is not None:
                managed.stop()
    described = (parse_broker_url(broker_url).describe() if broker_url
                 else "private Mosquitto per run, configured for load")
    result = WorkersResult(broker=described, database=(db_url or "sqlite").split("://", 1)[0]
                           + ("" if influx_url is None else ", readings to InfluxDB"),
                           devices=devices, kind=kind or "all five kinds", duration=duration,
                           cores=os.cpu_count() or 1, rows=rows)
    if out is not None:
        out.write_text(json.dumps({"benchmark": "ingest-workers", **asdict(result)}, indent=2), encoding="utf-8")
    return result
