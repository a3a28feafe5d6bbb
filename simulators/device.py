"""A simulated device: one kind model speaking the SPEC over its own MQTT connection.

Own connection per device (client id = username = device id) because that is
what real devices do and what makes the broker publish the device's will
(`offline`, retained) when it drops. `online` is published retained on every
(re)connect.
"""

from __future__ import annotations

import contextlib
import random
import threading
from typing import Any

import paho.mqtt.client as mqtt

from kernel.mqtt import BrokerSettings
from kernel.topics import STATUS_OFFLINE, STATUS_ONLINE, command_topic, device_topic
from simulators.commands import CommandResponder
from simulators.connection import MqttConnection, PublishListener
from simulators.kinds import KindModel, make_model
from simulators.messages import Message, MsgIdFactory, encode_payload, epoch_ms
from simulators.netloop import NetLoop

EVENT_QOS = 1
TELEMETRY_QOS = 0


class DeviceOffline(RuntimeError):
    """The device was told to go offline (dropped or silent) and cannot publish."""


class SimulatedDevice:
    """A device of `kind` at `site`, publishing SPEC payloads.

    `model` defaults to the kind's model (`device.model.press()` etc.); pass one
    to share state with a scenario. `listener` gets publish accounting.
    `command_mode` is how it answers the gateway's commands on its `cmd` topic: `ok`, `fail` or `silent`
    (`simulators.commands`; changeable later through `commands.mode`).
    """

    def __init__(
        self,
        site: str,
        kind: str,
        device_id: str,
        broker: BrokerSettings,
        *,
        model: KindModel | None = None,
        rng: random.Random | None = None,
        listener: PublishListener | None = None,
        netloop: NetLoop | None = None,
        msg_ids: MsgIdFactory | None = None,
        telemetry_qos: int = TELEMETRY_QOS,
        keepalive: int = 30,
        command_mode: str = "ok",
    ) -> None:
        self.site = site
        self.kind = kind
        self.device_id = device_id
        self.model = model or make_model(kind, rng)
        self.msg_ids = msg_ids or MsgIdFactory()
        self.telemetry_qos = telemetry_qos
        self.status_topic = device_topic(site, kind, device_id, "status")
        self._topics = {ch: device_topic(site, kind, device_id, ch) for ch in ("event", "telemetry", "cmd_result")}
        self.command_topic = command_topic(site, kind, device_id)
        self.commands = CommandResponder(kind, list(getattr(self.model, "zones", None) or []), command_mode)
        """Its answers to commands and the state they left (`simulators.commands`)."""
        self.silent = False
        self.dropped = False
        self.last_sent: tuple[str, bytes, int] | None = None  # topic, payload, qos of the last message
        self._last_heartbeat: Message | None = None
        self._status_listener = listener
        self._lock = threading.Lock()
        self._announced = threading.Event()
        """Set once this connection's `online` has been handed to paho (cleared by a reconnect)."""
        self._online: mqtt.MQTTMessageInfo | None = None
        self.connection = MqttConnection(
            device_id,
            broker,
            username=broker.username or device_id,
            will=(self.status_topic, STATUS_OFFLINE),
            on_connected=self._announce_online,
            on_message=self._on_command,
            listener=listener,
            netloop=netloop,
            keepalive=keepalive,
        )

    @property
    def active(self) -> bool:
        """Neither dropped nor silent: scenarios only make active devices talk."""
        return not (self.silent or self.dropped)

    def topic(self, channel: str) -> str:
        return self._topics[channel]

    def connect(self, wait: bool = True, timeout: float = 10.0) -> None:
        """Connect; the broker then holds `online` (retained) on the status topic. With `wait`, also until the
        broker confirmed the subscription to the device's `cmd` topic."""
        self.connection.connect(wait=wait, timeout=timeout)
        if wait:
            self.connection.subscribed.wait(timeout)

    def publish(self, message: Message, ts_ms: int | None = None) -> str:
        """Publish a model message with a fresh `msg_id`; `ts` is `ts_ms`, else the message's own
        `ts_ms`, else now. Returns the msg_id."""
        if not self.active:
            raise DeviceOffline(f"{self.device_id} is offline")
        if message.channel == "telemetry" and message.type == "heartbeat":
            self._last_heartbeat = message
        shaped = self.commands.shape(message)
        if shaped is None:  # e.g. an alarm of a fence zone a command disarmed: the device raises none
            note = getattr(self._status_listener, "note", None)
            if callable(note):
                note("suppressed_by_command")
            return ""
        message = shaped
        msg_id = self.msg_ids.next()
        if ts_ms is None:
            ts_ms = message.ts_ms if message.ts_ms is not None else epoch_ms()
        payload = encode_payload(self.model.encode(message, msg_id, ts_ms))
        qos = EVENT_QOS if message.channel == "event" else self.telemetry_qos
        topic = self._topics[message.channel]
        with self._lock:
            self.connection.publish(topic, payload, qos=qos, label=(self.kind, message.type))
            self.last_sent = (topic, payload, qos)
        return msg_id

    def publish_event(self, type_: str, **fields: Any) -> str:
        """Publish an event of any type (QoS 1); returns its msg_id."""
        return self.publish(Message.event(type_, **fields))

    def publish_telemetry(self, type_: str = "heartbeat", **fields: Any) -> str:
        """Publish a reading; with no fields, the model's heartbeat is sent."""
        if type_ == "heartbeat" and not fields:
            return self.publish(self.model.heartbeat())
        return self.publish(Message.telemetry(type_, **fields))

    def publish_raw(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Send bytes as they are, on this device's connection (fault injection)."""
        self.connection.publish(topic, payload, qos=qos, retain=retain)

    def resend_last(self) -> bool:
        """Re-send the last message byte for byte (same msg_id): a duplicate. False if none yet."""
        with self._lock:
            last = self.last_sent
        if last is None:
            return False
        self.connection.publish(last[0], last[1], qos=last[2])
        return True

    def go_offline(self, abrupt: bool = True) -> None:
        """`abrupt`: close the socket without DISCONNECT, so the will (`offline`) fires.
        Otherwise go silent: stay connected but publish nothing (a hung device
        the gateway must notice from missing heartbeats)."""
        if abrupt:
            if not self.dropped:
                self._settle()
            self.dropped = True
            self.connection.abort()
        else:
            self.silent = True

    def _settle(self, timeout: float = 5.0) -> None:
        """A device can only drop a connection it has: a reconnect still under way (a restore moments ago,
        on a loaded machine) is let finish and its `online` reach the broker first. Dropping it half-way
        sent no will, or a will the gateway took for no change, and a flapping device flapped once less
        (the device-flapping scenario failed so in loaded CI runs: 30 simulated seconds are 75 ms there)."""
        if not self._announced.wait(timeout):
            return
        online = self._online
        if online is not None:
            with contextlib.suppress(RuntimeError, ValueError):  # the connection went meanwhile: nothing to wait for
                online.wait_for_publish(timeout)

    def come_back(self, wait: bool = True) -> None:
        """Undo `go_offline`: reconnect (publishing `online`) or resume talking."""
        self.silent = False
        if self.dropped:
            self.dropped = False
            self._announced.clear()
            self.connection.resume(wait=wait)

    def close(self, timeout: float = 3.0) -> None:
        """Leave cleanly: publish retained `offline`, then DISCONNECT."""
        self.announce_offline()
        self.connection.wait_idle(timeout)
        self.connection.close(timeout)

    def announce_offline(self) -> None:
        """Publish retained `offline` (a clean DISCONNECT does not fire the will)."""
        if self.connection.is_connected:
            self.connection.publish(self.status_topic, STATUS_OFFLINE, qos=1, retain=True)
            self._count_status("offline")

    def _on_command(self, topic: str, payload: bytes) -> None:
        """A command on the device's `cmd` topic (I/O thread, connection lock held): answer it on `cmd_result`,
        then, if it changed the device's state, report that at once with a heartbeat. Straight on the
        connection, never through `publish` (its lock may be held by a thread waiting for this connection's)."""
        if topic != self.command_topic or not self.active:
            return  # a silent or dropped device hears nothing
        result, changed = self.commands.answer(payload)
        if result is None:
            return
        self.connection.publish(self._topics["cmd_result"], encode_payload({**result, "ts": epoch_ms()}), qos=1,
                                label=(self.kind, "cmd_result"))
        if changed:
            # The last heartbeat again (asking the model would move its simulated clock), as the state now is.
            shaped = self.commands.shape(self._last_heartbeat or Message.telemetry("heartbeat"))
            if shaped is not None:
                body = self.model.encode(shaped, self.msg_ids.next(), epoch_ms())
                self.connection.publish(self._topics["telemetry"], encode_payload(body), qos=self.telemetry_qos,
                                        label=(self.kind, shaped.type))

    def _announce_online(self, conn: MqttConnection) -> None:
        conn.subscribe(self.command_topic, qos=1)
        self._online = conn.publish(self.status_topic, STATUS_ONLINE, qos=1, retain=True)
        self._announced.set()
        self._count_status("online")

    def _count_status(self, state: str) -> None:
        status = getattr(self._status_listener, "status", None)
        if callable(status):
            status(state)
