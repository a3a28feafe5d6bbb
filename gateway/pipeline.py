"""The processing pipeline: a batch of raw messages in, one committed transaction out.

decode → registry check → dedup → store (events, readings, health) → hooks.
Everything for one batch commits together, and only then does the MQTT hub
acknowledge the QoS 1 messages: a crash before the commit means the broker
redelivers, and the dedup table makes the redelivery harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from devices import get_driver
from devices.base import Capture
from gateway import snapshots, store
from gateway.commands import apply_result
from gateway.decode import (
    NO_CONTEXT,
    CommandResult,
    DecodeContext,
    DeviceMessage,
    RawMessage,
    Rejection,
    StatusMessage,
    decode,
)
from gateway.quarantine import LogLimiter, RejectionBudget
from gateway.registry import DeviceRegistry, SiteContext, register_device
from gateway.timeseries import ReadingRow, ReadingStore, SqlReadingStore
from gateway.tolerance import Deviation
from kernel.config import GatewaySettings, HealthSettings
from kernel.db.models import Event
from kernel.deviceinfo import DeviceInfo
from kernel.durations import parse_duration
from kernel.metrics import GatewayMetrics
from kernel.observations import (
    BATTERY_CRITICAL,
    BATTERY_LOW,
    DEVICE_FAULT,
    DEVICE_FLAPPING,
    DEVICE_OFFLINE,
    DEVICE_ONLINE,
    DEVICE_TAMPER,
    MESSAGES_REJECTED,
    UNRECOGNISED_ALARM,
    Observation,
    PendingRead,
)
from kernel.siteconfig import DeviceConfig
from kernel.topics import DeviceTopic, parse_device_topic

log = logging.getLogger(__name__)

# Called inside the batch's transaction (rules, alerts): an exception rolls the batch back.
TransactionHook = Callable[[Session, list[Observation]], None]


@dataclass(slots=True)
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    observations: list[Observation] = field(default_factory=list)
    readings: list[ReadingRow] = field(default_factory=list)
    """Readings the store takes after the commit (`ReadingStore.write`); empty for the SQL backend."""
    commands: list[dict[str, Any]] = field(default_factory=list)
    """Commands a `cmd_result` of the batch closed (`gateway.commands.command_json`), for the command listeners."""


class Pipeline:
    def __init__(self, sessions: sessionmaker[Session], registry: DeviceRegistry, settings: GatewaySettings,
                 metrics: GatewayMetrics, health: HealthSettings | None = None,
                 readings: ReadingStore | None = None, read_pictures: bool = True) -> None:
        self.sessions = sessions
        self.read_pictures = read_pictures
        """Queue camera pictures without a result for reading (`vision.enabled`); stored either way."""
        self.readings = readings or SqlReadingStore(sessions)
        self.registry = registry
        self.settings = settings
        self.metrics = metrics
        self.health = health or HealthSettings()
        self._flapping_within = parse_duration(self.health.flapping.within)
        self.transaction_hooks: list[TransactionHook] = []
        self.rejections = RejectionBudget(settings.rejected_per_minute, settings.quarantine_seconds,
                                          settings.quarantine_sample_every)
        """Refusals per device: over budget, a device's garbage is sampled, not stored (`gateway.quarantine`)."""
        metrics.quarantined.set_function(lambda: len(self.rejections.quarantined()))
        self._log_refusal = LogLimiter(log, settings.rejected_log_per_minute)
        self._contexts: dict[tuple[str, str], tuple[SiteContext, DecodeContext]] = {}

    def process(self, batch: list[RawMessage]) -> BatchResult:
        """Process and commit one batch. Raises only when the database itself fails (the caller retries)."""
        try:
            with self.sessions.begin() as session:
                if all(raw.qos == 0 for raw in batch) and session.get_bind().dialect.name == "postgresql":
                    # Nobody is told a QoS 0 message was stored (MQTT's at most once), so its batch need not
                    # wait for PostgreSQL's WAL flush: a press behind it starts sooner. A crash of the
                    # database (not of the gateway) can lose the last fraction of a second of such batches.
                    session.execute(text("SET LOCAL synchronous_commit TO OFF"))
                return self._process(session, batch)
        except Exception:
            # The cache may hold state from the rolled-back transaction: reload it lazily.
            self.registry.clear()
            raise

    def process_one_by_one(self, batch: list[RawMessage]) -> BatchResult:
        """Fallback after a batch failed for a reason other than the database: isolate the poison message.

        Each message gets its own transaction; one that still fails is dead-lettered with the error, and if
        even its dead letter cannot be stored it is counted, logged and let go (acknowledged): a poison message
        costs only itself, never an endless retry that holds up every message behind it. Raises only when the
        database itself is unavailable (the caller keeps the batch and retries).
        """
        total = BatchResult()
        for raw in batch:
            try:
                result = self.process([raw])
            except Exception as exc:
                if is_database_unavailable(exc):
                    raise
                log.exception("internal error processing %s", raw.topic)
                topic = parse_device_topic(raw.topic)
                self._dead_letter_alone(raw, Rejection("internal_error", f"{type(exc).__name__}: {exc}",
                                                       topic.device if topic else None))
                total.rejected += 1
                continue
            total.accepted += result.accepted
            total.duplicates += result.duplicates
            total.rejected += result.rejected
            total.observations.extend(result.observations)
            total.readings.extend(result.readings)
            total.commands.extend(result.commands)
        return total

    def _dead_letter_alone(self, raw: RawMessage, rejection: Rejection) -> None:
        try:
            with self.sessions.begin() as session:
                self._dead_letter(session, raw, rejection)
        except Exception as exc:
            if is_database_unavailable(exc):
                raise
            log.exception("message on %s could not even be dead-lettered; dropped", raw.topic[:200])
            self.metrics.dead_letters.labels("unstorable").inc()

    # -- inside the transaction -------------------------------------------------------------

    def _process(self, session: Session, batch: list[RawMessage]) -> BatchResult:
        result = BatchResult()
        accepted: list[tuple[RawMessage, DeviceMessage, DeviceInfo]] = []
        def context(topic: DeviceTopic) -> DecodeContext:
            return self._decode_context(session, topic)

        for raw in batch:
            if raw.refused is not None:  # refused and counted on the network thread: kept as a sample
                self._dead_letter(session, raw, raw.refused)
                result.rejected += 1
                continue
            decoded = decode(raw, self.settings.max_payload_bytes, context=context)
            if isinstance(decoded, Rejection):
                result.observations.extend(self._refuse(session, raw, decoded))
                result.rejected += 1
                continue
            info = self._resolve_device(session, raw, decoded)
            if isinstance(info, Rejection):
                result.observations.extend(self._refuse(session, raw, info))
                result.rejected += 1
                continue
            if isinstance(decoded, CommandResult):
                self._command_result(session, raw, decoded, info, result)
                continue
            if isinstance(decoded, StatusMessage):
                result.observations.extend(
                    self._status_change(session, info, decoded.online, raw.received_at, "status"))
                self.metrics.messages.labels(info.kind, "status", "accepted").inc()
                result.accepted += 1
                continue
            accepted.append((raw, decoded, info))

        fresh = self._dedup(session, accepted, result)
        result.observations.extend(self._store(session, fresh, result))
        result.accepted += len(fresh)
        for hook in self.transaction_hooks:
            hook(session, result.observations)
        return result

    def _command_result(self, session: Session, raw: RawMessage, answer: CommandResult, info: DeviceInfo,
                        result: BatchResult) -> None:
        """Close the command a device answered (`gateway.commands.apply_result`); an answer to no command of this
        device is dead-lettered, a repeat of one already recorded counted as a duplicate."""
        outcome = apply_result(session, info.id, answer, raw.received_at)
        if isinstance(outcome, Rejection):
            result.observations.extend(self._refuse(session, raw, outcome))
            result.rejected += 1
        elif outcome is None:
            self.metrics.messages.labels(info.kind, "cmd_result", "duplicate").inc()
            result.duplicates += 1
        else:
            self.metrics.messages.labels(info.kind, "cmd_result", "accepted").inc()
            result.commands.append(outcome)
            result.accepted += 1

    def _decode_context(self, session: Session, topic: DeviceTopic) -> DecodeContext:
        """The sending device's time zone and type names: its own aliases over its site's (over the driver's)."""
        site = self.registry.site_context(session, topic.site)
        info = self.registry.lookup(session, topic.device)
        key = (topic.site, topic.kind)
        cached = self._contexts.get(key)
        if cached is None or cached[0] is not site:
            cached = self._contexts[key] = (site, DecodeContext(site.timezone, site.type_aliases.get(topic.kind, {})))
        return _with_device_aliases(cached[1], info)

    def refuse_early(self, raw: RawMessage) -> bool:
        """On the MQTT network thread: refuse a quarantined device's invalid message before it is queued.

        A device flooding faster than the gateway processes would otherwise fill the queue, and the broker's
        in-flight window, ahead of every other device's press. Only quarantined devices are decoded here, with
        what is cached of their context (else the message is queued as usual), and only a refusal stops here:
        their valid messages, a press among them, are processed as ever. One refusal in `sample_every` is still
        queued, marked, to be kept as a dead letter.
        """
        if not self.rejections.any_quarantined():
            return False
        topic = parse_device_topic(raw.topic)
        if topic is None or not self.rejections.is_quarantined(topic.device):
            return False
        asked: list[bool] = []

        def cached_context(_topic: DeviceTopic) -> DecodeContext:
            site = self._contexts.get((topic.site, topic.kind))
            asked.append(site is None)
            return NO_CONTEXT if site is None else _with_device_aliases(site[1], self.registry.cached(topic.device))

        decoded = decode(raw, self.settings.max_payload_bytes, context=cached_context)
        if not isinstance(decoded, Rejection) or (asked and asked[0]):
            return False  # valid, or judged without the site's context: the processing thread decides
        if self.rejections.record(topic.device, decoded.reason).store:
            raw.refused = decoded
            return False
        self.metrics.unstored_rejections.labels(decoded.reason).inc()
        return True

    def _refuse(self, session: Session, raw: RawMessage, rejection: Rejection) -> list[Observation]:
        """Dead-letter a refused message within the device's budget, and make sure a person hears of what
        matters: an unrecognised alarm of a safety kind, or a device going over its budget of refusals."""
        verdict = self.rejections.record(rejection.device_id or raw.topic[:200], rejection.reason)
        if verdict.store:
            self._dead_letter(session, raw, rejection)
        else:
            self.metrics.unstored_rejections.labels(rejection.reason).inc()
        if not ((rejection.alarm and not verdict.quarantined) or verdict.alert) or rejection.topic is None:
            return []
        info = self.registry.lookup(session, rejection.topic.device)
        if info is None or info.site != rejection.topic.site or info.kind != rejection.topic.kind:
            return []  # an unregistered device's refusals alert nobody: there is nobody to route them to
        out = []
        if rejection.alarm and not verdict.quarantined:
            out.append(self._gateway_event(session, info, UNRECOGNISED_ALARM, raw.received_at, {
                "original_type": rejection.original_type, "reason": rejection.reason,
                "detail": rejection.detail[:500], "topic": raw.topic}))
        if verdict.alert:
            out.append(self._gateway_event(session, info, MESSAGES_REJECTED, raw.received_at, {
                "rejected": self.rejections.per_minute + 1, "window_s": 60,
                "reasons": self.rejections.reasons(info.id), "last_detail": rejection.detail[:500]}))
        return out

    def _resolve_device(self, session: Session, raw: RawMessage,
                        msg: DeviceMessage | StatusMessage | CommandResult) -> DeviceInfo | Rejection:
        topic = msg.topic
        info = self.registry.lookup(session, topic.device)
        if info is None and self.settings.auto_register and not isinstance(msg, CommandResult):
            info = self._auto_register(session, topic.site, topic.kind, topic.device)
        if info is None:
            return Rejection("unregistered_device", f"device {topic.device!r} is not registered", topic.device)
        if info.site != topic.site:
            return Rejection("site_mismatch", f"device {topic.device!r} is registered at site {info.site!r}, "
                             f"not {topic.site!r}", topic.device)
        if info.kind != topic.kind:
            return Rejection("kind_mismatch", f"device {topic.device!r} is a {info.kind}, not a {topic.kind}",
                             topic.device)
        return info

    def _auto_register(self, session: Session, site: str, kind: str, device_id: str) -> DeviceInfo | None:
        from kernel.db.models import Site

        if session.get(Site, site) is None:
            return None
        with session.begin_nested():
            register_device(session, site, DeviceConfig(id=device_id, kind=kind))
        self.registry.forget(device_id)
        log.info("auto-registered %s device %s at site %s", kind, device_id, site)
        return self.registry.lookup(session, device_id)

    def _dedup(self, session: Session, accepted: list[tuple[RawMessage, DeviceMessage, DeviceInfo]],
               result: BatchResult) -> list[tuple[RawMessage, DeviceMessage, DeviceInfo]]:
        keys: list[tuple[str, str]] = []
        seen_in_batch: set[tuple[str, str]] = set()
        for _raw, msg, info in accepted:
            if msg.msg_id is not None:
                key = (info.id, msg.msg_id)
                if key not in seen_in_batch:
                    seen_in_batch.add(key)
                    keys.append(key)
        now = accepted[0][0].received_at if accepted else None
        new_keys = store.claim_message_ids(session, keys, now) if now else set()
        fresh = []
        for raw, msg, info in accepted:
            if msg.msg_id is not None:
                key = (info.id, msg.msg_id)
                if key not in new_keys:
                    self.metrics.messages.labels(info.kind, msg.topic.channel, "duplicate").inc()
                    result.duplicates += 1
                    continue
                new_keys.discard(key)  # a repeat later in the same batch is a duplicate too
            fresh.append((raw, msg, info))
        return fresh

    def _store(self, session: Session, fresh: list[tuple[RawMessage, DeviceMessage, DeviceInfo]],
               result: BatchResult) -> list[Observation]:
        observations: list[Observation] = []
        event_rows: list[dict[str, Any]] = []
        event_obs: list[Observation] = []
        reading_rows: list[ReadingRow] = []
        health: dict[str, tuple[DeviceInfo, store.HealthDelta]] = {}
        came_online: list[tuple[DeviceInfo, datetime]] = []
        changes: list[tuple[DeviceInfo, str, datetime, dict[str, Any]]] = []
        pictures: list[tuple[int, Observation]] = []
        deviations: dict[tuple[str, str], dict[str, Any]] = {}
        for raw, msg, info in fresh:
            meaning = msg.meaning
            obs = Observation(info, msg.topic.channel, msg.payload.type, msg.ts, raw.received_at, msg.msg_id,
                              msg.data, meaning.readings)
            observations.append(obs)
            if meaning.store_event and isinstance(msg.payload, Capture):
                snapshot_id = self._keep_picture(session, info, obs, msg.payload.result_field)
                if snapshot_id is not None:
                    pictures.append((snapshot_id, obs))
            if meaning.store_event:
                event_rows.append({
                    "site_id": info.site, "device_id": info.id, "kind": info.kind, "type": obs.type,
                    "ts": msg.ts, "received_at": raw.received_at, "msg_id": msg.msg_id, "data": msg.data,
                })
                event_obs.append(obs)
            reading_rows.extend(
                {"device_id": info.id, "metric": r.metric, "zone": r.zone, "ts": msg.ts, "value": r.value,
                 "site": info.site, "kind": info.kind}
                for r in meaning.readings
            )
            if info.id in health:
                delta = health[info.id][1]
            else:
                delta = store.HealthDelta(seen=raw.received_at)
                health[info.id] = (info, delta)
                if info.online is not True:
                    came_online.append((info, raw.received_at))
            delta.seen = max(delta.seen, raw.received_at)
            if meaning.readings and msg.topic.channel == "telemetry":
                delta.readings = {(f"{r.metric}:{r.zone}" if r.zone else r.metric): r.value for r in meaning.readings}
            h = meaning.health
            if h.battery is not None:
                delta.battery = h.battery
            if h.tamper is not None:
                delta.tamper = h.tamper
            fault_set = h.fault is not None or (msg.topic.channel == "telemetry" and "fault" in msg.data)
            if fault_set:
                delta.fault, delta.fault_set = h.fault, True
            changes.extend((info, type_, raw.received_at, data)
                           for type_, data in self._health_changes(info, h.battery, h.tamper, fault_set, h.fault))
            self.metrics.messages.labels(info.kind, msg.topic.channel, "accepted").inc()
            for deviation in msg.deviations:
                self._count_deviation(deviations, info, deviation, raw.received_at)

        for event_id, obs in zip(store.insert_events(session, event_rows), event_obs, strict=True):
            obs.event_id = event_id
        snapshots.link_events(session, [(sid, obs.event_id) for sid, obs in pictures if obs.event_id is not None])
        store.count_deviations(session, list(deviations.values()))
        result.readings.extend(self.readings.stage(session, reading_rows))
        store.update_health(session, {device_id: delta for device_id, (_info, delta) in health.items()})
        for info, at in came_online:
            observations.extend(self._status_change(session, info, True, at, "traffic"))
        for info, d in health.values():
            info.last_seen = d.seen if info.last_seen is None else max(info.last_seen, d.seen)
        observations.extend(self._gateway_event(session, info, type_, at, data) for info, type_, at, data in changes)
        return observations

    def _count_deviation(self, counts: dict[tuple[str, str], dict[str, Any]], info: DeviceInfo,
                         deviation: Deviation, at: datetime) -> None:
        self.metrics.tolerated.labels(info.kind, deviation.reason).inc()
        row = counts.get((info.id, deviation.reason))
        if row is None:
            counts[(info.id, deviation.reason)] = {"device_id": info.id, "reason": deviation.reason, "count": 1,
                                                   "field": deviation.field[:200], "first_at": at, "last_at": at,
                                                   "last_sent": deviation.sent[:200]}
        else:
            row.update(count=row["count"] + 1, last_at=at, last_sent=deviation.sent[:200])

    def _keep_picture(self, session: Session, info: DeviceInfo, obs: Observation, result_field: str) -> int | None:
        """Move a camera event's base64 `snapshot` into `snapshots` (the event keeps `snapshot_id`).

        A picture without the camera's own result is queued for reading after the commit; an event
        that is such a reading (`read_by: anju`) closes its picture's task in this transaction.
        """
        data = obs.data
        if data.get("read_by") == "anju" and isinstance(data.get("snapshot_id"), int):
            driver = get_driver(info.kind)  # what was read, in the kind's words (`DeviceDriver.describe_reading`)
            snapshots.finish(session, data["snapshot_id"], info.id,
                             driver.describe_reading(data) if driver is not None else str(data.get("type")))
            return None
        content = snapshots.take_picture(data)
        if content is None:
            return None
        task = snapshots.READ_TASKS.get(result_field) if data.get(result_field) is None else None
        task = task if self.read_pictures else None
        snapshot_id = snapshots.store(session, info.site, info.id, obs.received_at, content, task)
        data["snapshot_id"] = snapshot_id
        if task is not None:
            obs.unread = PendingRead(snapshot_id, task, content)
        return snapshot_id

    def _health_changes(self, info: DeviceInfo, battery: float | None, tamper: bool | None, fault_set: bool,
                        fault: str | None) -> list[tuple[str, dict[str, Any]]]:
        """What one message changes in the device's health, as gateway event types and data (the rules turn
        them into maintenance alerts): a battery crossing a threshold, a tamper report, a new or cleared fault
        code. Compared message by message (the cached device follows), so a batch loses no transition."""
        out: list[tuple[str, dict[str, Any]]] = []
        if battery is not None:
            before, after = self._battery_level(info.battery), self._battery_level(battery)
            if after > before:
                kind = BATTERY_CRITICAL if after == 2 else BATTERY_LOW
                threshold = self.health.battery_critical if after == 2 else self.health.battery_low
                out.append((kind, {"battery": battery, "threshold": threshold}))
            info.battery = battery
        if tamper:
            out.append((DEVICE_TAMPER, {"tamper": True}))
            info.tamper = True
        if fault_set and fault != info.fault:
            out.append((DEVICE_FAULT, {"fault": fault, "previous": info.fault}))
            info.fault = fault
        return out

    def _battery_level(self, battery: float | None) -> int:
        """0 fine (or unknown), 1 low, 2 critical."""
        if battery is None or battery >= self.health.battery_low:
            return 0
        return 2 if battery < self.health.battery_critical else 1

    def _gateway_event(self, session: Session, info: DeviceInfo, type_: str, at: datetime,
                       data: dict[str, Any]) -> Observation:
        """Store something the gateway itself observed about a device, as an event of the device."""
        obs = Observation(info, "status", type_, at, at, data=data)
        (obs.event_id,) = store.insert_events(session, [{
            "site_id": info.site, "device_id": info.id, "kind": info.kind, "type": type_,
            "ts": at, "received_at": at, "msg_id": None, "data": data,
        }])
        return obs

    def _status_change(self, session: Session, info: DeviceInfo, online: bool, at: datetime,
                       reason: str, silent_since: datetime | None = None) -> list[Observation]:
        """Record an online/offline transition once (nothing when the device already was in that state);
        an offline transition that makes the device flap is followed by a `device_flapping` observation."""
        if not store.set_online(session, info.id, online, at, silent_since):
            if silent_since is None:
                info.online = online  # the database already had this state
            return []
        info.online = online
        out = [self._gateway_event(session, info, DEVICE_ONLINE if online else DEVICE_OFFLINE, at,
                                   {"reason": reason})]
        self.metrics.status_changes.labels(str(online).lower(), reason).inc()
        if not online:
            flapping = self.health.flapping
            offline = session.scalar(select(func.count(Event.id)).where(
                Event.device_id == info.id, Event.type == DEVICE_OFFLINE, Event.ts > at - self._flapping_within))
            if offline is not None and offline >= flapping.count:
                out.append(self._gateway_event(session, info, DEVICE_FLAPPING, at, {
                    "offline_count": offline, "within": flapping.within}))
        return out

    def mark_offline(self, info: DeviceInfo, now: datetime) -> list[Observation]:
        """The timeout path: the device was silent past its deadline."""
        with self.sessions.begin() as session:
            observations = self._status_change(session, info, False, now, "timeout",
                                               silent_since=now - info.offline_timeout)
            if observations:
                for hook in self.transaction_hooks:
                    hook(session, observations)
        return observations

    def _dead_letter(self, session: Session, raw: RawMessage, rejection: Rejection) -> None:
        self._log_refusal.info("dead letter (%s) on %s: %s", rejection.reason, raw.topic, rejection.detail[:300])
        store.insert_dead_letters(session, [{
            "received_at": raw.received_at, "topic": raw.topic[:1024], "reason": rejection.reason,
            "detail": rejection.detail[:2000], "device_id": rejection.device_id, "size": len(raw.payload),
            "payload": raw.payload,
        }])
        self.metrics.dead_letters.labels(rejection.reason).inc()


def _with_device_aliases(site: DecodeContext, info: DeviceInfo | None) -> DecodeContext:
    """The site's decoding context, with the device's own type names over the site's (`attributes.type_aliases`)."""
    if info is None or not info.type_aliases:
        return site
    return DecodeContext(site.timezone, {**site.aliases, **info.type_aliases})


def is_database_unavailable(exc: BaseException) -> bool:
    """Connection-level database failures: worth retrying the whole batch, not dead-lettering it."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
