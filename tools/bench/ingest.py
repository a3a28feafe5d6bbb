"""`anju bench ingest`: the gateway's end-to-end processed rate against a bare MQTT subscriber.

Both receive the same simulated traffic on the same broker in the same run, so
the ratio says what the gateway's work (decode, validate, dedup, store, health)
costs relative to just receiving, whatever else the machine is doing.

Two shapes:

- in-process (`run_ingest_bench`, no `--workers`): one `Gateway` object (no rule
  engine, no API), the simulator and the bare subscriber as threads of this
  process. Quick, and it is the figure the README has quoted since the start.
- `--workers N` (`run_workers_bench`): production shape, every part its own
  process: N `anju serve` workers sharing one subscription (`$share/anju/...`,
  the built-in rules and the API included, as deployed), `anju simulate` for the
  load and `tools.bench.bare --count` for the limit. It adds what scale-out needs:
  each worker's CPU cost per message, which sizes machines (docs/deployment.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from gateway.service import Gateway
from kernel.config import load_settings
from kernel.db import make_engine
from kernel.mqtt import forget_session, parse_broker_url, plain_client
from tools.bench.mosquitto import ManagedMosquitto, free_port
from tools.bench.processes import AnjuProcess, cpu_seconds, wait_ready

TARGET_RATIO = 0.7
SITE = "bench"


@dataclass
class IngestResult:
    broker: str
    database: str
    devices: int
    offered_rate: float
    published: int
    bare_received: int
    bare_rate: float
    gateway_processed: int
    gateway_rate: float
    ratio: float
    target_ratio: float
    broker_dropped: int | None
    gateway_shed: int
    """QoS 0 telemetry the gateway dropped because its queue was over `queue_limit` (overload policy)."""
    dead_letters: int

    def summary(self) -> str:
        verdict = "OK" if self.ratio >= self.target_ratio and self.gateway_processed >= self.published else "BELOW"
        dropped = "unknown" if self.broker_dropped is None else str(self.broker_dropped)
        return (
            f"published {self.published} messages from {self.devices} devices ({self.broker}, {self.database})\n"
            f"bare subscriber : {self.bare_received:>8} received  {self.bare_rate:>9.0f} msg/s\n"
            f"gateway         : {self.gateway_processed:>8} processed {self.gateway_rate:>9.0f} msg/s\n"
            f"ratio {self.ratio:.2f} (target >= {self.target_ratio})  broker dropped: {dropped}  "
            f"gateway shed (QoS 0 over queue limit): {self.gateway_shed}  dead letters: {self.dead_letters}"
            f"  -> {verdict}"
        )


class _Counter:
    """Counts messages and remembers the first and last arrival times."""

    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.lock = threading.Lock()

    def add(self, n: int = 1) -> None:
        now = time.perf_counter()
        with self.lock:
            if self.count == 0:
                self.first = now
            self.count += n
            self.last = now

    def rate(self) -> float:
        span = self.last - self.first
        return self.count / span if span > 0 else 0.0


def _bare_subscriber(url: str, counter: _Counter, dropped: dict[str, int]) -> mqtt.Client:
    client, addr = plain_client(url, f"bench-bare-{uuid.uuid4().hex[:6]}", "bench-bare")

    def on_connect(c: mqtt.Client, *_: Any) -> None:
        c.subscribe([(f"anju/v1/{SITE}/+/+/+", 1), ("$SYS/broker/publish/messages/dropped", 0)])

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.startswith("$SYS"):
            with contextlib.suppress(ValueError):
                dropped["now"] = int(msg.payload)
                dropped.setdefault("start", dropped["now"])
            return
        counter.add()

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(addr.host, addr.port)
    client.loop_start()
    return client


def run_ingest_bench(broker_url: str | None, devices: int, rate: float, duration: float, db_url: str | None,
                     out: Path | None = None, influx_url: str | None = None) -> IngestResult:
    """`influx_url`: readings go to InfluxDB (or VictoriaMetrics) through the on-disk buffer instead of SQL."""
    from simulators.load import synthetic_devices
    from simulators.runner import run_simulation

    workdir = Path(tempfile.mkdtemp(prefix="anju-bench-"))
    managed = None
    if broker_url is None:
        managed = ManagedMosquitto()
        managed.start()
        broker_url = managed.url
    site_file = workdir / "site.yaml"
    site_file.write_text(yaml.safe_dump({"sites": [{
        "id": SITE, "name": "bench",
        "devices": [{"id": d.device_id, "kind": d.kind} for d in synthetic_devices(devices)],
    }]}), encoding="utf-8")
    db_url = db_url or f"sqlite:///{workdir / 'bench.db'}"
    client_id = f"anju-bench-{uuid.uuid4().hex[:6]}"
    gateway_url = broker_url if "@" in broker_url else broker_url.replace("://", "://anju-bench@", 1)
    timeseries = ({"backend": "influxdb", "url": influx_url, "buffer_dir": str(workdir / "buffer")}
                  if influx_url else {})
    settings = load_settings(mqtt={"url": gateway_url, "client_id": client_id}, db={"url": db_url},
                             site_file=str(site_file), timeseries=timeseries)
    gateway = Gateway(settings)
    bare_count = _Counter()
    dropped: dict[str, int] = {}
    bare = None
    try:
        gateway.start()
        if not gateway.wait_connected(10):
            raise RuntimeError(f"gateway could not connect to {broker_url}")
        bare = _bare_subscriber(broker_url, bare_count, dropped)
        time.sleep(0.5)

        processed = _Counter()
        # Every message the gateway finished (accepted, duplicate or rejected), counted as its batch commits.
        gateway.batch_listeners.append(lambda batch, _result: processed.add(len(batch)))
        report = run_simulation(broker_url, scenario="load", devices=devices, rate=rate, duration=duration,
                                seed=1, site_file=str(site_file))
        published = report.total_published
        deadline = time.monotonic() + 60
        shed = lambda: gateway.metrics.total("anju_qos0_shed_total")  # noqa: E731
        while ((processed.count + shed() < published or bare_count.count < published)
               and time.monotonic() < deadline):
            time.sleep(0.05)
        time.sleep(1.2)  # one more $SYS interval
        result = IngestResult(
            broker=broker_url if managed is None else f"{broker_url} (private Mosquitto, configured for load)",
            database=db_url.split("://", 1)[0],
            devices=devices,
            offered_rate=rate,
            published=published,
            bare_received=bare_count.count,
            bare_rate=bare_count.rate(),
            gateway_processed=processed.count,
            gateway_rate=processed.rate(),
            ratio=processed.rate() / bare_count.rate() if bare_count.rate() else 0.0,
            target_ratio=TARGET_RATIO,
            broker_dropped=(dropped["now"] - dropped["start"]) if "now" in dropped else None,
            gateway_shed=int(gateway.metrics.total("anju_qos0_shed_total")),
            dead_letters=int(gateway.metrics.total("anju_dead_letters_total")),
        )
    finally:
        if bare is not None:
            bare.disconnect()
            bare.loop_stop()
        gateway.stop(drain_seconds=2)
        forget_session(broker_url, client_id)
        if managed is not None:
            managed.stop()
    if out is not None:
        out.write_text(json.dumps({"benchmark": "ingest", **asdict(result)}, indent=2), encoding="utf-8")
    return result


# -- production shape: N `anju serve` workers sharing one subscription (--workers) ----------------------

SHARED_GROUP = "anju"
POLL_INTERVAL = 0.5
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
    """`processed` over the seconds from the first to the last processing (see `_processing_span`)."""
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


class _RunDatabase:
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

    def __enter__(self) -> _RunDatabase:
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


def _database_cpu(pids: list[int]) -> dict[int, float]:
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
class _WorkerCounts:
    processed: int = 0
    shed: int = 0
    dead_letters: int = 0


def _read_counts(metrics_text: str) -> _WorkerCounts:
    """Processed = `anju_messages_total` (accepted and duplicates) + `anju_dead_letters_total`, over all labels."""
    counts = _WorkerCounts()
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name in ("anju_messages_total", "anju_dead_letters_total"):
                counts.processed += int(sample.value)
            if sample.name == "anju_dead_letters_total":
                counts.dead_letters += int(sample.value)
            elif sample.name == "anju_qos0_shed_total":
                counts.shed += int(sample.value)
    return counts


class _MetricsPoller(threading.Thread):
    """Reads every worker's `/metrics` every 0.5 s and keeps, per worker, (time, processed) samples.

    The time of a sample is the midpoint of its request on `time.perf_counter`. A
    busy worker answers late; a request that fails is simply a missing sample.
    """

    def __init__(self, ports: list[int], token: str) -> None:
        super().__init__(name="bench-metrics", daemon=True)
        import httpx

        self.http = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=5)
        self.ports = ports
        self.latest = [_WorkerCounts() for _ in ports]
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
            counts = _read_counts(response.text)
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


def _processing_span(series: list[tuple[float, int]]) -> tuple[float, float] | None:
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


class _BareCounter(threading.Thread):
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


def _published(simulate_output: str) -> int:
    """The simulator's own count, from its report line `published N messages (R/s); ...`."""
    match = re.search(r"^published (\d+) messages", simulate_output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no 'published N messages' line in the simulator's report:\n{simulate_output[-2000:]}")
    return int(match.group(1))


def _stored_ids(db_url: str) -> int:
    """Rows of `processed_messages`: each (device, msg_id) committed, once, whichever worker and however often
    it was tried. Every load message has a msg_id, so this counts exactly what /metrics counts at least once."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM processed_messages")).scalar_one())
    finally:
        engine.dispose()


def _per_1k(cpu: float | None, messages: int) -> float | None:
    return cpu * 1000 / (messages / 1000) if cpu is not None and messages else None


def _write_site_file(workdir: Path, devices: int, kind: str | None = None) -> Path:
    from simulators.load import synthetic_devices

    site_file = workdir / "site.yaml"
    site_file.write_text(yaml.safe_dump({"sites": [{
        "id": SITE, "name": "bench",
        "devices": [{"id": d.device_id, "kind": d.kind} for d in synthetic_devices(devices, kind)],
    }]}), encoding="utf-8")
    return site_file


def _run_workers(workers: int, broker_url: str, broker_pid: int | None, database: _RunDatabase, site_file: Path,
                 devices: int, rate: float, duration: float, workdir: Path, influx_url: str | None,
                 kind: str | None) -> WorkersRow:
    """One row: start the workers and the bare subscriber, drive the load, wait until everything is counted."""
    workdir.mkdir(parents=True, exist_ok=True)
    run, token = uuid.uuid4().hex[:6], uuid.uuid4().hex
    gateway_url = broker_url if "@" in broker_url else broker_url.replace("://", "://anju-bench@", 1)
    ports = [free_port() for _ in range(workers)]
    client_ids = [f"anju-bench-{run}-w{i}" for i in range(workers)]
    procs: list[AnjuProcess] = []
    bare: _BareCounter | None = None
    poller: _MetricsPoller | None = None
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
        bare = _BareCounter(broker_url)
        bare.start()
        poller = _MetricsPoller(ports, token)
        poller.poll()
        poller.start()
        cpu_before = [cpu_seconds(p.pid) for p in procs]
        broker_before = cpu_seconds(broker_pid) if broker_pid else None
        db_before = _database_cpu(database.backend_pids())

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
        published = _published(load.output())

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
        db_after = _database_cpu(database.backend_pids())
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
    stored = _stored_ids(database.url)
    spans = [span for span in map(_processing_span, poller.series) if span is not None]
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
        cpu_seconds_per_worker=cpu, cpu_ms_per_1k=[_per_1k(c, n) for c, n in zip(cpu, per_worker, strict=True)],
        cpu_ms_per_1k_all=_per_1k(sum(c for c, _n in known), sum(n for _c, n in known)) if known else None,
        broker_cpu_ms_per_1k=_per_1k(broker_after - broker_before, published)
        if broker_after is not None and broker_before is not None else None,
        database_cpu_ms_per_1k=_per_1k(db_cpu, processed),
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
      0.5 s samples (`_processing_span`): the counters carry no timestamps, and polling keeps the workers
      unchanged. The bare subscriber's rate is its own count over its own first-to-last arrival.
    - CPU: `/proc/<pid>/stat` of each worker before the load starts and once everything is counted, so start-up
      is excluded; the same for the private broker and for the PostgreSQL backends of the run's database.

    `db_url`: PostgreSQL (required beyond one worker); the bench connects to it and creates and drops a
    database per run beside it (`_RunDatabase`). `influx_url`: readings go to InfluxDB through each worker's
    own on-disk buffer instead of SQL. `kind`: every simulated device of that kind (`anju simulate --kind`)
    instead of the five kinds in turn, whose captures, passages and alarms make the default mix event-heavy.
    """
    check_workers_database(counts, db_url)
    workdir = Path(tempfile.mkdtemp(prefix="anju-bench-workers-"))
    site_file = _write_site_file(workdir, devices, kind)
    rows: list[WorkersRow] = []
    for n in counts:
        managed = ManagedMosquitto() if broker_url is None else None
        if managed is not None:
            managed.start()
        url = managed.url if managed is not None else broker_url
        assert url is not None
        pid = managed.process.pid if managed is not None and managed.process is not None else None
        try:
            with _RunDatabase(db_url, workdir, n) as database:
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
