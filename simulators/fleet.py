"""Where scenario actions land: real devices on MQTT, or a recording for dry runs.

Scenarios talk to a `Fleet` only, so the same seeded scenario can be played live
against a broker or run instantly into a list (tests, `plan_scenario`).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol

from kernel.mqtt import BrokerSettings
from simulators import faults
from simulators.commands import command_mode
from simulators.connection import BrokerUnavailable, MqttConnection
from simulators.device import DeviceOffline, SimulatedDevice
from simulators.kinds import ElderButtonModel
from simulators.messages import Message
from simulators.netloop import NetLoop
from simulators.report import Counters
from simulators.world import CommunityWorld

log = logging.getLogger(__name__)


class Fleet(Protocol):
    def send(self, device_id: str, message: Message) -> None: ...
    def is_active(self, device_id: str) -> bool: ...
    def drop(self, device_id: str, abrupt: bool) -> None: ...
    def restore(self, device_id: str) -> None: ...
    def inject(self, fault: str, device_id: str | None = None, variant: str | None = None) -> None: ...


Record = tuple[Any, ...]


class RecordingFleet:
    """Records every action with its simulated time; devices go on/offline in name only."""

    def __init__(self, world: CommunityWorld, now: Callable[[], float]) -> None:
        self.world = world
        self.now = now
        self.records: list[Record] = []
        self._inactive: set[str] = set()

    def send(self, device_id: str, message: Message) -> None:
        self.records.append((round(self.now(), 3), device_id, message.channel, message.type, message.fields))

    def is_active(self, device_id: str) -> bool:
        return device_id not in self._inactive

    def drop(self, device_id: str, abrupt: bool) -> None:
        self._inactive.add(device_id)
        self.records.append((round(self.now(), 3), device_id, "drop", "abrupt" if abrupt else "silent", {}))

    def restore(self, device_id: str) -> None:
        self._inactive.discard(device_id)
        self.records.append((round(self.now(), 3), device_id, "restore", "", {}))

    def inject(self, fault: str, device_id: str | None = None, variant: str | None = None) -> None:
        model = self.world.models.get(device_id) if device_id else None
        if fault == "battery_drain" and isinstance(model, ElderButtonModel):
            faults.drain_battery(model)  # world state, exactly as the live fleet does
        self.records.append((round(self.now(), 3), device_id, "fault", fault, {"variant": variant}))


class LiveFleet:
    """Every device of the world as a `SimulatedDevice` with its own connection,
    plus one injector connection for faults that belong to no real device."""

    def __init__(
        self, world: CommunityWorld, broker: BrokerSettings, counters: Counters, netloop: NetLoop
    ) -> None:
        self.world = world
        self.broker = broker
        self.counters = counters
        self.site = world.layout.site
        self.devices: dict[str, SimulatedDevice] = {
            dev.id: SimulatedDevice(
                self.site,
                dev.kind,
                dev.id,
                broker,
                model=world.models[dev.id],
                listener=counters,
                netloop=netloop,
                command_mode=command_mode(dev.attributes),
            )
            for dev in world.layout.devices.values()
        }
        injector_id = f"anju-sim-injector-{secrets.token_hex(3)}"
        self.injector = MqttConnection(
            injector_id, broker, username=broker.username or injector_id, netloop=netloop, listener=counters
        )

    @property
    def connection_count(self) -> int:
        return len(self.devices) + 1

    def connect_all(self, timeout: float = 15.0) -> None:
        """Connect every device; all-or-nothing, so a run never starts half a community."""
        self.injector.connect(wait=True, timeout=timeout)  # fails fast if the broker is down
        for dev in self.devices.values():
            dev.connect(wait=False)
        deadline = time.monotonic() + timeout
        for dev in self.devices.values():
            dev.connection.wait_connected(max(0.1, deadline - time.monotonic()))

    def send(self, device_id: str, message: Message) -> None:
        try:
            self.devices[device_id].publish(message)
        except DeviceOffline:
            self.counters.note("suppressed_while_offline")

    def is_active(self, device_id: str) -> bool:
        return self.devices[device_id].active

    def drop(self, device_id: str, abrupt: bool) -> None:
        dev = self.devices[device_id]
        if abrupt:
            faults.drop_offline(dev)
        else:
            faults.go_silent(dev)
        self.counters.fault("drop_offline" if abrupt else "go_silent")

    def restore(self, device_id: str) -> None:
        try:
            self.devices[device_id].come_back(wait=False)
            self.counters.note("came_back")
        except BrokerUnavailable as exc:
            self.counters.error(str(exc))

    def inject(self, fault: str, device_id: str | None = None, variant: str | None = None) -> None:
        """One fault of class `fault`; `device_id` is the device it is about or sent from."""
        dev = self.devices.get(device_id) if device_id else None
        site, inj = self.site, self.injector
        if fault == "not_json" and dev:
            faults.publish_not_json(dev, site, dev.kind, dev.device_id)
        elif fault == "wrong_types" and dev:
            faults.publish_wrong_types(dev, site, dev.kind, dev.device_id)
        elif fault == "oversized" and dev:
            faults.publish_oversized(dev, site, dev.kind, dev.device_id)
        elif fault == "unknown_kind":
            faults.publish_unknown_kind(inj, site)
        elif fault == "unregistered_device":
            faults.publish_unregistered_device(inj, site, dev.kind if dev else "elder_button")
        elif fault == "malformed_topic":
            faults.publish_malformed_topic(inj, site, variant or "short")
        elif fault == "bad_characters":
            faults.publish_bad_characters(inj, site, variant or "chinese")
        elif fault == "duplicate" and dev:
            if not dev.active:
                return
            faults.publish_duplicate(dev)
        elif fault == "battery_drain" and dev and isinstance(dev.model, ElderButtonModel):
            faults.drain_battery(dev.model)
        else:
            raise ValueError(f"cannot inject {fault!r} on {device_id!r}")
        self.counters.fault(fault)

    def shutdown(self, timeout: float = 6.0) -> None:
        """Flush, tell the broker every device is leaving (retained `offline`), disconnect.

        One time budget for all of it: `anju demo` joins this thread with a timeout,
        and a broker that has gone away must not make every device wait in turn."""
        start = time.monotonic()
        conns = [d.connection for d in self.devices.values()] + [self.injector]

        def flush(until: float) -> None:
            for conn in conns:
                conn.wait_idle(max(0.0, until - time.monotonic()))

        flush(start + timeout * 0.5)
        for dev in self.devices.values():
            if not dev.dropped:
                dev.announce_offline()
        flush(start + timeout * 0.9)
        for conn in conns:
            conn.close(timeout=max(0.05, start + timeout - time.monotonic()))
