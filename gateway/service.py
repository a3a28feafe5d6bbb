"""The running gateway: MQTT hub + processing thread + offline watchdog, around one pipeline."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from gateway import commands, snapshots, store
from gateway.decode import RawMessage
from gateway.health import DeadlineTracker, OfflineTimeouts
from gateway.inbox import BatchSizer, Lane
from gateway.mqtt_hub import MqttHub
from gateway.pipeline import BatchResult, Pipeline, is_database_unavailable
from gateway.recognition import SnapshotReader, resume_since
from gateway.registry import DeviceRegistry, apply_site_config
from gateway.timeseries import open_reading_store
from kernel.config import Settings
from kernel.db import make_engine, migrate, session_factory
from kernel.db.engine import checkpoint_in_background
from kernel.db.models import Device
from kernel.db.writes import write_transaction
from kernel.metrics import GatewayMetrics
from kernel.observations import DEVICE_OFFLINE, DEVICE_ONLINE, Observation
from kernel.ports import Service, Ticker, TransactionHook
from kernel.siteconfig import load_site_config
from kernel.timeutil import utcnow

log = logging.getLogger(__name__)

Listener = Callable[[list[Observation]], None]
CommandListener = Callable[[list[dict[str, Any]]], None]
"""Told of commands whose state changed (`gateway.commands.command_json`), after the change is committed."""
PRUNE_EVERY = timedelta(hours=1)


class Gateway:
    """Wire everything from settings; `start()` and `stop()` are all a caller needs."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.db.url)
        self.sessions = session_factory(self.engine)
        self._checkpoint = checkpoint_in_background(self.engine)
        """SQLite's write-ahead log is copied back on the watchdog thread, not in a commit (None: PostgreSQL)."""
        self.metrics = GatewayMetrics()
        self.registry = DeviceRegistry(OfflineTimeouts(settings.health))
        self.deadlines = DeadlineTracker()
        self.readings = open_reading_store(settings.timeseries, self.sessions, self.metrics.registry)
        """Where readings go and are read back from (docs/timeseries.md)."""
        self.pipeline = Pipeline(self.sessions, self.registry, settings.gateway, self.metrics, settings.health,
                                 readings=self.readings, read_pictures=settings.vision.enabled)
        self.hub = MqttHub(settings.mqtt, self.metrics, settings.gateway.queue_limit, settings.gateway.ingest)
        self.hub.refuse_early = self.pipeline.refuse_early
        self.reader = SnapshotReader(settings.vision, self.sessions, self.hub, self.metrics)
        """Reads camera pictures that came without a result, in worker processes (docs/vision.md)."""
        self.listeners: list[Listener] = []
        """Called on the processing thread after each commit (live API stream, alert publishing)."""
        self.batch_listeners: list[Callable[[list[RawMessage], BatchResult], None]] = []
        """Called after each committed batch with its raw messages (benchmarks, instrumentation)."""
        self.command_listeners: list[CommandListener] = []
        """Called after a command's state change is committed: published or not (the thread that sent it, an API
        request's), answered (the processing thread), expired (the watchdog thread). Must not block."""
        self.tickers: list[Ticker] = []
        """Called on the watchdog thread every `watchdog_interval` (rule timers, escalations)."""
        self.services: list[Service] = []
        """Started after the database is ready, stopped last but one (the notification senders)."""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle ------------------------------------------------------------------------------

    def prepare_database(self) -> None:
        """Migrate, load the site file, and warm the registry and the offline deadlines."""
        migrate(self.engine)
        if self.settings.site_file:
            community = load_site_config(self.settings.site_file)
            with self.sessions.begin() as session:
                count = apply_site_config(session, community)
            log.info("site file %s: %d devices registered", self.settings.site_file, count)
        with self.sessions() as session:
            infos = self.registry.load_all(session)
            rows = {d.id: d for d in session.scalars(select(Device).where(Device.online.is_(True)))}
        for info in infos:
            row = rows.get(info.id)
            if row is not None:
                since = max(t for t in (row.last_seen, row.online_changed_at, row.registered_at) if t is not None)
                self.deadlines.arm(info.id, since + info.offline_timeout)

    def start(self) -> None:
        self.prepare_database()
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._process_loop, name="anju-processing", daemon=True),
            threading.Thread(target=self._watchdog_loop, name="anju-watchdog", daemon=True),
        ]
        self.readings.start()
        for thread in self._threads:
            thread.start()
        self.hub.start()
        for service in self.services:
            service.start()
        if self.settings.vision.enabled:
            self.reader.resume(resume_since())

    def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop taking messages, finish what is queued (so it is acknowledged), then disconnect."""
        self.hub.stop_accepting()
        deadline = time.monotonic() + drain_seconds
        while not self.hub.inbox.empty() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        for service in self.services:
            service.stop()
        self.readings.close()
        self.reader.close()
        self.hub.stop()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self.hub.connected.wait(timeout)

    # -- what the alerting layer uses (`kernel.ports.GatewayPort`) --------------------------------

    def add_transaction_hook(self, hook: TransactionHook) -> None:
        """Run `hook` inside every batch's transaction, after the batch is stored (the rule engine)."""
        self.pipeline.transaction_hooks.append(hook)

    def add_ticker(self, ticker: Ticker) -> None:
        """Call `ticker` on the watchdog thread every `watchdog_interval` (rule timers, escalations)."""
        self.tickers.append(ticker)

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 on the gateway's connection (alert changes, after their commit)."""
        self.hub.publish(topic, payload, qos=1)

    def dispatch_command(self, cmd_id: str) -> dict[str, Any] | None:
        """Publish a committed `pending` command on its device's `cmd` topic and record the outcome
        (`gateway.commands.publish_command`); the command as it now is, None if it was no longer pending."""
        change = commands.publish_command(self.sessions, self.hub, cmd_id, utcnow())
        if change is not None:
            self._notify_commands([change])
        return change

    def add_service(self, service: Service) -> None:
        """Start `service` with the gateway (after the database is ready) and stop it with it."""
        self.services.append(service)

    # -- processing thread ------------------------------------------------------------------------

    def _process_loop(self) -> None:
        settings = self.settings.gateway
        urgent, bulk = (BatchSizer(settings.batch_size, settings.batch_seconds) for _ in range(2))
        while not self._stop.is_set():
            lane, batch = self.hub.take(urgent.size, bulk.size, timeout=0.1, linger=settings.bulk_linger_seconds)
            if batch:
                started = time.perf_counter()
                self._process_batch(batch)
                (urgent if lane is Lane.URGENT else bulk).observe(len(batch), time.perf_counter() - started)

    def _process_batch(self, batch: list[RawMessage]) -> None:
        backoff = 0.2
        while True:
            try:
                try:
                    result = self.pipeline.process(batch)
                except Exception as exc:
                    if is_database_unavailable(exc):
                        raise
                    log.warning("batch of %d failed (%s); retrying one by one", len(batch), exc)
                    result = self.pipeline.process_one_by_one(batch)
                break
            except Exception as exc:
                # Only an unavailable database is retried, keeping the batch unacknowledged
                # (process_one_by_one dead-letters everything else message by message). Anything else here
                # is a bug; retrying it forever would hold up every message behind this batch, and leaving
                # it unacknowledged would use up the broker's in-flight window: it is logged, counted and
                # acknowledged, and the loop goes on.
                if not is_database_unavailable(exc):
                    log.exception("batch of %d failed outside the database; dropped", len(batch))
                    self.metrics.dead_letters.labels("batch_failed").inc(len(batch))
                    self.hub.ack(batch)
                    return
                if self._stop.is_set():
                    return  # not acknowledged: the broker redelivers after restart
                log.error("database unavailable (%s); retrying in %.1fs", exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        if result.readings and not self._hand_over_readings(result):
            return  # stopping: not acknowledged, the broker redelivers (dedup drops it: docs/timeseries.md)
        self.hub.ack(batch)
        self.hub.settle(batch, ((o.device.id, o.msg_id) for o in result.observations if o.channel != "status"))
        self._after_commit(batch, result)

    def _hand_over_readings(self, result: BatchResult) -> bool:
        """A committed batch's readings to a store outside the transaction (its buffer), before the ack."""
        backoff = 0.2
        while True:
            try:
                self.readings.write(result.readings)
                return True
            except Exception as exc:  # noqa: BLE001 - e.g. the buffer's disk is full: keep the batch, retry
                if self._stop.is_set():
                    log.error("stopping: %d readings of a committed batch not buffered", len(result.readings))
                    return False
                log.error("reading store unavailable (%s); retrying in %.1fs", exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def _after_commit(self, batch: list[RawMessage], result: BatchResult) -> None:
        now = utcnow()
        for raw in batch:
            self.metrics.latency.observe((now - raw.received_at).total_seconds())
        self._track_deadlines(result.observations)
        self.reader.read(result.observations)
        for listener in self.batch_listeners:
            listener(batch, result)
        self._notify(result.observations)
        self._notify_commands(result.commands)

    def _notify_commands(self, changes: list[dict[str, Any]]) -> None:
        if not changes:
            return
        for listener in self.command_listeners:
            try:
                listener(changes)
            except Exception:
                log.exception("command listener %r failed", listener)

    def _track_deadlines(self, observations: list[Observation]) -> None:
        for obs in observations:
            if obs.type == DEVICE_OFFLINE:
                self.deadlines.disarm(obs.device.id)
            elif obs.channel != "status" or obs.type == DEVICE_ONLINE:  # not health events (flapping: offline)
                self.deadlines.arm(obs.device.id, obs.received_at + obs.device.offline_timeout)

    def _notify(self, observations: list[Observation]) -> None:
        if not observations:
            return
        for listener in self.listeners:
            try:
                listener(observations)
            except Exception:
                log.exception("listener %r failed", listener)

    # -- watchdog thread --------------------------------------------------------------------------

    def _watchdog_loop(self) -> None:
        interval = self.settings.gateway.watchdog_interval
        next_prune = utcnow()
        while not self._stop.wait(interval):
            now = utcnow()
            try:
                self._expire(now)
                for ticker in self.tickers:
                    ticker(now)
                if now >= next_prune:
                    self._prune(now)
                    next_prune = now + PRUNE_EVERY
            except Exception:
                log.exception("watchdog tick failed")
            try:
                self._expire_commands(now)
            except Exception:
                log.exception("expiring commands failed")
            if self._checkpoint is not None:
                try:
                    self._checkpoint()
                except Exception:
                    log.exception("checkpointing the SQLite write-ahead log failed")

    def _expire(self, now: datetime) -> None:
        for device_id in self.deadlines.due(now):
            with self.sessions() as session:
                info = self.registry.lookup(session, device_id)
            if info is None:
                continue
            try:
                observations = self.pipeline.mark_offline(info, now)
            except Exception:
                self.deadlines.arm(device_id, now)  # try again on the next tick
                raise
            if observations:
                log.info("device %s offline: silent for %s", device_id, info.offline_timeout)
                self._notify(observations)

    def _expire_commands(self, now: datetime) -> None:
        """Commands nobody answered by their `expires_at` become `expired` (each once, whichever gateway sees it
        first: `gateway.commands.expire_due`). A read first: the write lock is taken only when one is due."""
        with self.sessions() as session:
            if not commands.any_due(session, now):
                return
        expired = write_transaction(self.sessions, lambda session: commands.expire_due(session, now))
        if expired:
            log.info("%d commands expired unanswered", len(expired))
            self._notify_commands(expired)

    def _prune(self, now: datetime) -> None:
        with self.sessions.begin() as session:
            removed = store.prune_processed_ids(
                session, now - timedelta(days=self.settings.gateway.dedup_retention_days))
        if removed:
            log.info("pruned %d dedup ids", removed)
        gw = self.settings.gateway
        with self.sessions.begin() as session:
            removed = store.prune_dead_letters(session, now - timedelta(days=gw.dead_letter_retention_days),
                                               gw.dead_letter_max_rows)
        if removed:
            log.info("pruned %d dead letters (older than %d days, or beyond the newest %d)", removed,
                     gw.dead_letter_retention_days, gw.dead_letter_max_rows)
        keep = self.settings.privacy.snapshot_retention_days
        with self.sessions.begin() as session:
            removed = snapshots.prune(session, now - timedelta(days=keep))
        if removed:
            log.info("deleted %d camera pictures older than %d days", removed, keep)
        days = self.settings.timeseries.retention_days
        if days is not None:
            removed = self.readings.prune(now - timedelta(days=days))
            if removed:
                log.info("pruned %d readings older than %d days", removed, days)
