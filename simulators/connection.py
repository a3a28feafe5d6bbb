"""One MQTT connection, driven by a shared `NetLoop` instead of its own thread.

It adds to paho what every simulator needs: a lock so the driver and the I/O
thread never use the client at the same time, delivery accounting (QoS 0 when
written, QoS 1 only when the broker acknowledges), automatic reconnects with
back-off, and the two ways a device can leave: cleanly, or by an abrupt socket
close that makes the broker publish its will.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

import paho.mqtt.client as mqtt

from kernel.mqtt import BrokerSettings
from simulators.netloop import NetLoop
from simulators.report import Label

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0


class BrokerUnavailable(ConnectionError):
    """The broker could not be reached, or refused the connection."""


class PublishListener(Protocol):
    """Told about every labelled publish (see `simulators.report.Counters`)."""

    def on_sent(self, label: Label) -> None: ...
    def on_published(self, label: Label) -> None: ...
    def on_failed(self, label: Label) -> None: ...


class MqttConnection:
    """A paho client on the shared network loop.

    `username`/`password` default to the broker URL's. `will` is `(topic, payload)`,
    published retained with QoS 1 by the broker if the connection drops.
    `on_connected` runs (in the I/O thread) after every successful CONNACK (subscribe there: the session is
    clean). `on_message(topic, payload)` runs in the I/O thread, with the connection's lock held: it may
    `publish` on this connection, but must not wait for a lock another publishing thread holds.
    """

    def __init__(
        self,
        client_id: str,
        broker: BrokerSettings,
        *,
        username: str | None = None,
        password: str | None = None,
        will: tuple[str, bytes] | None = None,
        on_connected: Callable[[MqttConnection], None] | None = None,
        on_message: Callable[[str, bytes], None] | None = None,
        listener: PublishListener | None = None,
        netloop: NetLoop | None = None,
        keepalive: int = 30,
        max_inflight: int = 100,
        auto_reconnect: bool = True,
    ) -> None:
        self.client_id = client_id
        self.broker = broker
        self.keepalive = keepalive
        self.listener = listener
        self.auto_reconnect = auto_reconnect
        self.netloop = netloop or NetLoop.shared()
        self._on_connected = on_connected
        self._on_message = on_message
        self.subscribed = threading.Event()
        """Set once the broker confirmed this connection's last `subscribe` (cleared when it drops)."""
        self._subscribe_mid: int | None = None
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._connected = threading.Event()
        self._down = threading.Event()
        self._down.set()
        self._refused: str | None = None
        self._want_up = False
        self._reconnect_at: float | None = None
        self._backoff = 1.0
        self._inflight: dict[int, tuple[Label | None, int]] = {}
        self.connects = 0
        self.drops = 0

        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311
        )
        user = username if username is not None else broker.username
        pw = password if password is not None else broker.password
        if user is not None:
            client.username_pw_set(user, pw)
        if broker.tls:
            client.tls_set_context(ssl.create_default_context())
        if will is not None:
            client.will_set(will[0], will[1], qos=1, retain=True)
        client.max_inflight_messages_set(max_inflight)
        client.max_queued_messages_set(0)
        client.on_connect = self._cb_connect
        client.on_disconnect = self._cb_disconnect
        client.on_publish = self._cb_publish
        client.on_subscribe = self._cb_subscribe
        client.on_message = self._cb_message
        client.on_socket_open = self._cb_socket_open
        client.on_socket_close = self._cb_socket_close
        client.on_socket_register_write = self._cb_register_write
        client.on_socket_unregister_write = self._cb_unregister_write
        self._client = client

    # --- public API -------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return self._connected.is_set()

    @property
    def outstanding(self) -> int:
        """Messages accepted but not yet written (QoS 0) or acknowledged (QoS 1)."""
        with self._lock:
            return len(self._inflight)

    def connect(self, wait: bool = True, timeout: float = 10.0) -> None:
        """Open the connection; with `wait`, block until the broker accepted it."""
        self._want_up = True
        self._refused = None
        self.netloop.add(self)
        with self._lock:
            try:
                self._client.connect(self.broker.host, self.broker.port, self.keepalive)
            except (OSError, ssl.SSLError) as exc:
                self._want_up = False
                self.netloop.remove(self)
                raise BrokerUnavailable(
                    f"{self.client_id}: cannot reach {self.broker.describe()}: {exc}"
                ) from exc
        if wait:
            self.wait_connected(timeout)

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Block until CONNACK; raises `BrokerUnavailable` if refused or too slow."""
        deadline = time.monotonic() + timeout
        while not self._connected.wait(0.05):
            if self._refused is not None:
                raise BrokerUnavailable(f"{self.client_id}: broker refused the connection: {self._refused}")
            if time.monotonic() > deadline:
                raise BrokerUnavailable(
                    f"{self.client_id}: no answer from {self.broker.describe()} in {timeout} s"
                )

    def publish(
        self, topic: str, payload: bytes, qos: int = 0, retain: bool = False, label: Label | None = None
    ) -> mqtt.MQTTMessageInfo:
        """Queue a message for the I/O thread; `label` makes it count in the report."""
        with self._lock:
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
            if label is not None and self.listener is not None:
                self.listener.on_sent(label)
            # A QoS 1 message refused for want of a connection stays queued in
            # paho and goes out after the reconnect; a QoS 0 one is lost.
            if info.rc == mqtt.MQTT_ERR_SUCCESS or (qos > 0 and info.rc == mqtt.MQTT_ERR_NO_CONN):
                self._inflight[info.mid] = (label, qos)
            elif label is not None and self.listener is not None:
                self.listener.on_failed(label)
            return info

    def subscribe(self, topic: str, qos: int = 1) -> None:
        """Subscribe (call it from `on_connected`: the session is clean); `subscribed` is set on the SUBACK."""
        with self._lock:
            self.subscribed.clear()
            _rc, mid = self._client.subscribe(topic, qos=qos)
            self._subscribe_mid = mid

    def publish_raw(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Send bytes as they are, uncounted (fault injection)."""
        self.publish(topic, payload, qos=qos, retain=retain)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until everything sent is written/acknowledged; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._inflight, timeout)

    def abort(self) -> None:
        """Drop the connection abruptly, without DISCONNECT, so the broker fires the will."""
        self._want_up = False
        with self._lock:
            sock = self._client.socket()
            if sock is None:
                return
            with contextlib.suppress(OSError):
                cast(socket.socket, sock).shutdown(socket.SHUT_RDWR)
            self._client.loop_read()  # paho sees the EOF now, closes and reports the drop
        self._down.wait(2.0)

    def resume(self, wait: bool = True, timeout: float = 10.0) -> None:
        """Reconnect after `abort()`/`close()`."""
        if self._client.socket() is not None:
            return
        self._want_up = True
        self._refused = None
        self.netloop.add(self)
        with self._lock:
            try:
                self._client.reconnect()
            except (OSError, ssl.SSLError) as exc:
                raise BrokerUnavailable(
                    f"{self.client_id}: cannot reach {self.broker.describe()}: {exc}"
                ) from exc
        if wait:
            self.wait_connected(timeout)

    def close(self, timeout: float = 3.0) -> None:
        """Disconnect cleanly (the will is not published) and leave the loop."""
        self._want_up = False
        with self._lock:
            if self._client.socket() is not None:
                self._client.disconnect()
        if not self._down.wait(timeout):
            self.abort()
        self.netloop.remove(self)

    # --- Endpoint, called by the NetLoop thread ---------------------------
    def sock(self) -> socket.socket | None:
        return self._client.socket()  # type: ignore[return-value]

    def handle_read(self) -> None:
        with self._lock:
            self._client.loop_read()

    def handle_write(self) -> bool:
        with self._lock:
            self._client.loop_write()
            return self._client.want_write()

    def tick(self, now: float) -> None:
        with self._lock:
            if self._client.socket() is not None:
                self._client.loop_misc()
                return
            if not (self._want_up and self.auto_reconnect and self._reconnect_at is not None):
                return
            if now < self._reconnect_at:
                return
            self._reconnect_at = None
            try:
                self._client.reconnect()
            except (OSError, ssl.SSLError) as exc:
                log.debug("%s: reconnect failed: %s", self.client_id, exc)
                self._schedule_reconnect()

    # --- paho callbacks (run with self._lock held) ------------------------
    def _cb_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
            self._want_up = False  # bad credentials do not get better by retrying
            return
        self.connects += 1
        self._backoff = 1.0
        self._down.clear()
        self._connected.set()
        if self._on_connected is not None:
            self._on_connected(self)

    def _cb_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        was_up = self._connected.is_set()
        self._connected.clear()
        self.subscribed.clear()
        self._down.set()
        if was_up:
            self.drops += 1
        # QoS 0 messages still queued are gone with the socket; QoS 1 ones are resent.
        for mid, (label, qos) in list(self._inflight.items()):
            if qos == 0:
                del self._inflight[mid]
                if label is not None and self.listener is not None:
                    self.listener.on_failed(label)
        self._idle.notify_all()
        if self._want_up and self.auto_reconnect:
            self._schedule_reconnect()

    def _cb_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        entry = self._inflight.pop(mid, None)
        if entry is not None and entry[0] is not None and self.listener is not None:
            self.listener.on_published(entry[0])
        if not self._inflight:
            self._idle.notify_all()

    def _cb_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        if mid == self._subscribe_mid and not any(getattr(r, "is_failure", False) for r in reasons):
            self.subscribed.set()

    def _cb_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self._on_message is not None:
            self._on_message(msg.topic, bytes(msg.payload))

    def _cb_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        # Nagle would hold small publishes back ~30 ms waiting for more data.
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.netloop.watch(sock, self)

    def _cb_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.netloop.unwatch(sock)

    def _cb_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.netloop.want_write(self)

    def _cb_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        """Nothing to do: the loop re-checks `want_write()` after every write."""

    def _schedule_reconnect(self) -> None:
        self._reconnect_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, MAX_BACKOFF_S)
