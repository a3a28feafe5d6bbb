"""The gateway's MQTT connection (paho-mqtt 2.x).

The network thread only timestamps and enqueues: decoding and storage happen on
the processing thread, so a slow database never stalls keep-alives. QoS 1
messages are acknowledged manually, after the batch holding them is committed.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.commands import PublishOutcome
from gateway.decode import RawMessage
from gateway.inbox import Inbox, Lane
from gateway.lanes import lane_of
from kernel.config import MqttSettings
from kernel.metrics import GatewayMetrics
from kernel.mqtt import parse_broker_url, set_nodelay
from kernel.timeutil import utcnow
from kernel.topics import subscription_filters

log = logging.getLogger(__name__)


@dataclass(slots=True)
class InjectedMessage(RawMessage):
    """A canonical message that did not come over MQTT (an HTTP vendor push): QoS 1 semantics without an MQTT
    acknowledgement. `done` is resolved once the batch holding it has committed: True when it was processed as
    new (stored, rules run), False when it was not (a duplicate, or rejected and dead-lettered)."""

    done: Future[bool] = field(default_factory=Future)


class DrainingClient(mqtt.Client):
    """paho's client, reading every packet the socket already holds before it looks at the socket again.

    paho reads one packet per `select()` (its `loop_read` ignores `max_packets`), then does its housekeeping: at
    thousands of messages a second that loop cost more than the packets (docs/architecture.md#measured-decisions).
    It stops as soon as something waits to be written (an alert, an acknowledgement: draining on had held an alert
    back behind hundreds of heartbeats), and after `DRAIN_LIMIT` packets, so keep-alives go out in between.
    """

    DRAIN_LIMIT = 200

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        for _ in range(self.DRAIN_LIMIT):
            if self._sock is None:
                return mqtt.MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == mqtt.MQTTErrorCode.MQTT_ERR_AGAIN or self._out_packet:
                break  # nothing more to read, or something to write first (an alert, an acknowledgement)
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS


class HubUnavailable(RuntimeError):
    """The hub is stopping or its queue is full: the caller should retry later."""


class MqttHub:
    def __init__(self, settings: MqttSettings, metrics: GatewayMetrics, queue_limit: int,
                 subscribe: bool = True) -> None:
        self.settings = settings
        self.subscribe = subscribe
        """False: connect to publish only (an API-only process: `gateway.ingest: false`)."""
        self.metrics = metrics
        self.queue_limit = queue_limit
        self.inbox: Inbox[RawMessage] = Inbox()
        self.address = parse_broker_url(settings.url)
        self.connected = threading.Event()
        self._accepting = True
        self._subscribe_mid = -1
        self._generation = 0
        """Bumped on every (re)connect: a message id is only valid on the connection that delivered it."""
        self.refuse_early: Callable[[RawMessage], bool] | None = None
        """Asked on the network thread for each message: True refuses it here, before it is queued (a
        quarantined device's garbage, `Pipeline.refuse_early`), so a flood never queues ahead of a press."""
        v5 = settings.protocol == "5"
        self.client = DrainingClient(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            clean_session=None if v5 else False,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            manual_ack=True,
        )
        if self.address.username:
            self.client.username_pw_set(self.address.username, self.address.password)
        if self.address.tls:
            context = ssl.create_default_context(cafile=settings.tls_ca)
            if settings.tls_cert:
                context.load_cert_chain(settings.tls_cert, settings.tls_key)
            self.client.tls_set_context(context)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.settings.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.settings.session_expiry
            kwargs = {"clean_start": False, "properties": props}
        self.client.connect_async(self.address.host, self.address.port, self.settings.keepalive, **kwargs)
        self.client.loop_start()

    def stop_accepting(self) -> None:
        """Ignore further deliveries (unacknowledged, so the broker keeps them for our next start)."""
        self._accepting = False

    def stop(self) -> None:
        self._accepting = False
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()
        self.metrics.mqtt_connected.set(0)

    # -- paho callbacks (network thread) --------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection: %s", reason)
            return
        set_nodelay(client)
        self._generation += 1
        if not self.subscribe:
            self._ready()
            return
        _result, mid = client.subscribe([(f, 1) for f in subscription_filters(self.settings.shared_group)])
        self._subscribe_mid = mid if mid is not None else -1
        log.info("connected to %s:%s (session present: %s)", self.address.host, self.address.port,
                 flags.session_present)

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, mid: int, reasons: list[Any], _props: Any) -> None:
        # Ready only once the broker has confirmed the subscription: before the SUBACK,
        # a fresh session would not receive what devices publish.
        if mid != self._subscribe_mid:
            return
        refused = [r for r in reasons if r.is_failure]
        if refused:
            log.error("broker refused our subscription: %s", refused)
            return
        self._ready()

    def _ready(self) -> None:
        self.connected.set()
        self.metrics.mqtt_connected.set(1)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self._generation += 1  # no acknowledgement for the lost connection's message ids, even before CONNACK
        self.connected.clear()
        self.metrics.mqtt_connected.set(0)
        if self._accepting:
            log.warning("disconnected from broker (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if not self._accepting:
            return
        if msg.qos == 0 and self.inbox.qsize() >= self.queue_limit:
            self.metrics.shed.inc()
            return
        try:
            topic = msg.topic
        except UnicodeDecodeError:  # MQTT requires UTF-8 topics, but a broken client may not comply
            topic = repr(msg._topic)
        raw = RawMessage(topic, cast(bytes, msg.payload), msg.qos, msg.retain, msg.mid, utcnow(), self._generation)
        if self.refuse_early is not None and self.refuse_early(raw):
            if msg.qos > 0:
                self.client.ack(msg.mid, msg.qos)  # refused and counted: nothing to store, nothing to wait for
            return
        self.inbox.put(raw, lane_of(topic, raw.payload))

    # -- used by the processing thread ----------------------------------------------------------

    def take(self, max_urgent: int, max_bulk: int, timeout: float,
             linger: float = 0.0) -> tuple[Lane, list[RawMessage]]:
        """Queued messages, urgent events first (at most `max_urgent`), else routine events, telemetry and status
        (at most `max_bulk`, lingering up to `linger` for a fuller batch): gateway/inbox.py; waits at most
        `timeout`."""
        lane, batch = self.inbox.take(max_urgent, max_bulk, timeout, linger)
        if batch:
            self.metrics.queue_depth.set(self.inbox.qsize())
        return lane, batch

    def inject(self, topic: str, payload: bytes) -> Future[bool]:
        """Queue a message for the same processing as the broker's (decode, dedup, store, rules, alerts).

        The future resolves after the batch holding it commits (see `settle`); never, if the gateway stops first.
        Raises HubUnavailable when stopping or when the queue is at its limit (back-pressure, not shedding).
        """
        if not self._accepting:
            raise HubUnavailable("the gateway is stopping")
        if self.inbox.qsize() >= self.queue_limit:
            raise HubUnavailable(f"the processing queue is full ({self.queue_limit})")
        message = InjectedMessage(topic, payload, 1, False, 0, utcnow(), -1)
        self.inbox.put(message, lane_of(topic, payload))
        return message.done

    @staticmethod
    def settle(batch: list[RawMessage], fresh: Iterable[tuple[str, str | None]]) -> None:
        """Resolve the committed batch's injected messages; `fresh`: (device, msg_id) of what was processed."""
        processed = set(fresh)
        for raw in batch:
            if isinstance(raw, InjectedMessage) and not raw.done.done():
                parts = raw.topic.split("/")
                device = parts[4] if len(parts) > 4 else ""
                try:
                    msg_id = orjson.loads(raw.payload).get("msg_id")
                except (orjson.JSONDecodeError, AttributeError):
                    msg_id = None
                raw.done.set_result((device, msg_id) in processed)

    def ack(self, batch: list[RawMessage]) -> None:
        """Acknowledge committed QoS>0 messages that arrived on the current connection.

        Older ones are redelivered by the broker after a reconnect and dropped as duplicates.
        """
        generation = self._generation
        for raw in batch:
            if raw.qos > 0 and raw.generation == generation and not isinstance(raw, InjectedMessage):
                self.client.ack(raw.mid, raw.qos)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain)

    def publish_live(self, topic: str, payload: bytes, qos: int = 1) -> PublishOutcome:
        """Publish only on a live connection (a command to a device: docs/commands.md).

        "sent": handed to the connected socket; "unreachable": no connection, nothing queued (a command queued
        until the broker is back could open a gate long after anyone asked); "queued": the connection dropped
        as it was handed over, and the client sends it after the reconnect; "refused": the client would not
        take it. Any thread (paho's publish is thread-safe)."""
        if not self.connected.is_set():
            return "unreachable"
        info = self.client.publish(topic, payload, qos=qos)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            return "sent"
        if info.rc == mqtt.MQTT_ERR_NO_CONN:
            return "queued" if qos > 0 else "unreachable"
        log.warning("publish on %s refused by the MQTT client: %s", topic, mqtt.error_string(info.rc))
        return "refused"
