"""One run of the production-shape ingest bench: gateways, bare subscriber and publishers, each its own process.

Both `anju bench ingest` (one gateway, a fixed rate and a sweep) and
`anju bench ingest --workers N` (N gateways sharing one subscription) are rows
of this: `anju serve` with its rules and API on a fresh database, the bare
subscriber (`tools.bench.bare --count`) and the publishers
(`tools.bench.loadgen`) on the same private broker. CPU comes from /proc for
every process, read once the load starts and once everything is counted, so
start-up is excluded and the gateway's CPU per message stands against the bare
subscriber's on the same messages in the same window.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from kernel.mqtt import forget_session, parse_broker_url
from tools.bench.loadgen import LoadReport, Publishers
from tools.bench.mosquitto import ManagedMosquitto, free_port
from tools.bench.probes import (
    BareCounter,
    MetricsPoller,
    RunDatabase,
    database_cpu,
    per_1k,
    processing_span,
    stored_ids,
)
from tools.bench.processes import AnjuProcess, cpu_seconds, wait_ready

SHARED_GROUP = "anju"
STALL_TIMEOUT = 30.0
"""After the publishers finished, the gateways work through their backlog (offered beyond their capacity, it
waits at the broker) for as long as they make progress; this long without any is where the bench stops
waiting and reports the rest as lost."""
HELD_FRACTION = 0.95
"""A row is held when nothing was shed or lost and the gateways processed at least this share of the rate the
publishers achieved: below it a backlog grew during the run."""


@dataclass
class RowSpec:
    """What one row runs: `workers` gateways (sharing a subscription when `shared`) at `rate` msg/s."""

    workers: int
    shared: bool
    site_file: Path
    devices: int
    rate: float
    duration: float
    workdir: Path
    mix: str
    kind: str | None
    publishers: int
    influx_url: str | None = None
    broker_url: str = ""
    """Set by `run_fresh_row`: the private broker of the row, or `--broker`."""
    broker_pid: int | None = None


@dataclass
class IngestRow:
    """One row; rates per second of the run, CPU per message processed (or published, for broker and load)."""

    workers: int
    offered_rate: float
    """What was asked (`--rate`)."""
    offered_actual: float
    """What the publishers achieved: published over their publishing seconds."""
    published: int
    processed: int
    """Messages the gateways finished (accepted, duplicate or dead-lettered), from their /metrics, summed. A
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
    """QoS 0 telemetry the gateways dropped over their `queue_limit` (the overload policy, not a loss)."""
    lost: int
    """Published, but neither committed (`stored`), dead-lettered nor shed: must be 0."""
    dead_letters: int
    held: bool
    """Nothing shed or lost, and processed at (nearly) the offered rate: see `HELD_FRACTION`."""
    processed_per_worker: list[int]
    cpu_seconds_per_worker: list[float | None]
    cpu_ms_per_1k: list[float | None]
    """Per gateway: its CPU (user + system, every thread) per 1,000 messages it processed."""
    cpu_ms_per_1k_all: float | None
    """All gateways' CPU over all their messages: the cost of one message, wherever it went."""
    gateway_cpu_ms_per_msg: float | None
    gateway_msgs_per_cpu_second: float | None
    bare_cpu_ms_per_msg: float | None
    """The bare subscriber's CPU over the same window, per message it received."""
    cpu_ratio: float | None
    """Gateway CPU per message over the bare subscriber's: how many times just receiving the gateway costs."""
    broker_cpu_ms_per_1k: float | None
    """The private Mosquitto's CPU per 1,000 published messages (delivered twice: gateways and bare subscriber)."""
    database_cpu_ms_per_1k: float | None
    """The PostgreSQL backends serving the run's database, per 1,000 processed (local server only, else None)."""
    load_cpu_ms_per_1k: float | None
    """The publishers' CPU per 1,000 published: small next to the gateway's, or the load generator is the limit."""
    publishers: int
    backpressure_waits: int
    """Times a publisher waited for the broker to take its messages (the broker, not the gateway, was full)."""


def describe_setup(broker_url: str | None, db_url: str | None, influx_url: str | None) -> tuple[str, str]:
    """The broker and the database of a run as its report names them (no password)."""
    broker = parse_broker_url(broker_url).describe() if broker_url else "private Mosquitto per run, configured for load"
    database = (db_url or "sqlite").split("://", 1)[0] + ("" if influx_url is None else ", readings to InfluxDB")
    return broker, database


def gateway_env(spec: RowSpec, index: int, db_url: str, port: int, token: str, client_id: str) -> dict[str, str]:
    """`anju serve` as deployed (rules and API on), on the run's broker, database and site file."""
    url = spec.broker_url
    env = {"ANJU_MQTT__URL": url if "@" in url else url.replace("://", "://anju-bench@", 1),
           "ANJU_MQTT__CLIENT_ID": client_id, "ANJU_DB__URL": db_url, "ANJU_SITE_FILE": str(spec.site_file),
           "ANJU_API__PORT": str(port), "ANJU_API__ADMIN_TOKEN": token, "ANJU_LOG_LEVEL": "WARNING",
           "ANJU_VISION__ENABLED": "false"}
    if spec.shared:
        env["ANJU_MQTT__SHARED_GROUP"] = SHARED_GROUP
    if spec.influx_url:
        env |= {"ANJU_TIMESERIES__BACKEND": "influxdb", "ANJU_TIMESERIES__URL": spec.influx_url,
                "ANJU_TIMESERIES__BUFFER_DIR": str(spec.workdir / f"buffer-{index}")}
    return env


def _cpu(pids: list[int]) -> list[float | None]:
    return [cpu_seconds(pid) for pid in pids]


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def run_row(spec: RowSpec, database: RunDatabase) -> IngestRow:
    """Start the gateways (the first alone: it migrates the empty database), the bare subscriber and the
    publishers; drive the load; wait until every message is counted or progress stops; read the figures."""
    spec.workdir.mkdir(parents=True, exist_ok=True)
    run, token = uuid.uuid4().hex[:6], uuid.uuid4().hex
    ports = [free_port() for _ in range(spec.workers)]
    client_ids = [f"anju-bench-{run}-w{i}" for i in range(spec.workers)]
    procs: list[AnjuProcess] = []
    bare: BareCounter | None = None
    poller: MetricsPoller | None = None
    load: Publishers | None = None
    try:
        for i in range(spec.workers):
            procs.append(AnjuProcess(["serve"], gateway_env(spec, i, database.url, ports[i], token, client_ids[i]),
                                     spec.workdir / f"worker-{i}.log"))
            if i == 0:
                # Start-up migrations take no lock: N workers racing through them on an empty database collide.
                wait_ready(procs[0], ports[0])
        for proc, port in zip(procs[1:], ports[1:], strict=True):
            wait_ready(proc, port)
        bare = BareCounter(spec.broker_url)
        bare.start()
        load = Publishers(spec.broker_url, spec.publishers, spec.mix, spec.kind, spec.devices, spec.rate,
                          spec.duration, run)
        poller = MetricsPoller(ports, token)
        poller.poll()
        poller.start()
        pids = [p.pid for p in procs] + [bare.process.pid] + ([spec.broker_pid] if spec.broker_pid else [])
        before, db_before = _cpu(pids), database_cpu(database.backend_pids())
        load.go()
        while load.running():
            for proc in procs:
                proc.check()
            time.sleep(0.2)
        report = load.finish()
        published = report.published
        progress, stalled_since = -1, time.monotonic()
        while ((poller.processed + poller.shed < published or bare.received < published)
               and time.monotonic() - stalled_since < STALL_TIMEOUT):
            for proc in procs:
                proc.check()
            if (now := poller.processed + poller.shed + bare.received) != progress:
                progress, stalled_since = now, time.monotonic()
            time.sleep(0.1)
        time.sleep(1.2)  # one more $SYS interval, and one more poll
        after, db_after = _cpu(pids), database_cpu(database.backend_pids())
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
            forget_session(spec.broker_url, client_id)

    assert poller is not None and bare is not None  # set on the only way here
    deltas = [_delta(b, a) for b, a in zip(before, after, strict=True)]
    db_cpu = sum(a - db_before.get(pid, 0.0) for pid, a in db_after.items()) if db_after else None
    return _row(spec, poller, bare, report, deltas, db_cpu, stored_ids(database.url))


def _row(spec: RowSpec, poller: MetricsPoller, bare: BareCounter, load: LoadReport, deltas: list[float | None],
         db_cpu: float | None, stored: int) -> IngestRow:
    """The figures of a finished row, from what was counted and the CPU each process used."""
    per_worker = [c.processed for c in poller.latest]
    processed, shed, published = poller.processed, poller.shed, load.published
    dead_letters = sum(c.dead_letters for c in poller.latest)
    spans = [span for span in map(processing_span, poller.series) if span is not None]
    seconds = max(end for _s, end in spans) - min(start for start, _e in spans) if spans else 0.0
    rate = processed / seconds if seconds > 0 else 0.0
    cpu = deltas[:spec.workers]
    bare_cpu = deltas[spec.workers]
    broker_cpu = deltas[spec.workers + 1] if spec.broker_pid else None
    known = [(c, n) for c, n in zip(cpu, per_worker, strict=True) if c is not None]
    all_1k = per_1k(sum(c for c, _n in known), sum(n for _c, n in known)) if known else None
    bare_ms = per_1k(bare_cpu, bare.received)
    gateway_ms = None if all_1k is None else all_1k / 1000
    bare_ms = None if bare_ms is None else bare_ms / 1000
    lost = max(0, published - stored - dead_letters - shed)
    return IngestRow(
        workers=spec.workers, offered_rate=spec.rate, offered_actual=load.offered_rate, published=published,
        processed=processed, stored=stored, rate=rate, bare_received=bare.received, bare_rate=bare.rate(),
        ratio=rate / bare.rate() if bare.rate() else 0.0, broker_dropped=bare.dropped(), shed=shed, lost=lost,
        dead_letters=dead_letters,
        held=shed == 0 and lost == 0 and rate >= HELD_FRACTION * load.offered_rate,
        processed_per_worker=per_worker, cpu_seconds_per_worker=cpu,
        cpu_ms_per_1k=[per_1k(c, n) for c, n in zip(cpu, per_worker, strict=True)], cpu_ms_per_1k_all=all_1k,
        gateway_cpu_ms_per_msg=gateway_ms,
        gateway_msgs_per_cpu_second=1000 / gateway_ms if gateway_ms else None,
        bare_cpu_ms_per_msg=bare_ms,
        cpu_ratio=gateway_ms / bare_ms if gateway_ms is not None and bare_ms else None,
        broker_cpu_ms_per_1k=per_1k(broker_cpu, published), database_cpu_ms_per_1k=per_1k(db_cpu, processed),
        load_cpu_ms_per_1k=per_1k(load.cpu_seconds, published), publishers=load.publishers,
        backpressure_waits=load.backpressure_waits)


def run_fresh_row(spec: RowSpec, broker_url: str | None, db_url: str | None) -> IngestRow:
    """`spec` on a fresh private Mosquitto (unless `broker_url`) and a fresh database (`RunDatabase`), so a row
    never inherits another's rows, sessions or queued messages."""
    managed = ManagedMosquitto() if broker_url is None else None
    if managed is not None:
        managed.start()
    url = managed.url if managed is not None else broker_url
    assert url is not None
    pid = managed.process.pid if managed is not None and managed.process is not None else None
    try:
        with RunDatabase(db_url, spec.workdir, spec.workers) as database:
            return run_row(replace(spec, broker_url=url, broker_pid=pid), database)
    finally:
        if managed is not None:
            managed.stop()
