"""Test helpers: a small site, a raw publisher, and polling."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import paho.mqtt.client as mqtt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kernel.db.models import Event
from kernel.mqtt import plain_client

T = TypeVar("T")

def make_site(site_id: str) -> dict[str, Any]:
    """A small site; each test gets its own site id, so retained messages and topics never leak between tests."""
    return {"sites": [{
        "id": site_id, "name": "测试社区",
        "grids": [{"id": "g1", "name": "第一网格", "patrol_team": "一组"}],
        "devices": [
            {"id": "eb1", "kind": "elder_button", "grid": "g1", "location": {"building": "1", "unit": "2"}},
            {"id": "eb2", "kind": "elder_button", "grid": "g1", "attributes": {"offline_timeout_s": 1}},
            {"id": "gate1", "kind": "access_gate", "grid": "g1"},
            {"id": "cam1", "kind": "plate_camera", "grid": "g1"},
            {"id": "face1", "kind": "face_camera", "grid": "g1"},
            {"id": "fence1", "kind": "fence", "grid": "g1", "attributes": {"zones": ["Z1", "Z2"]}},
        ],
    }]}


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, what: str = "") -> T:
    """Poll until `predicate()` is truthy; fail with `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


class Publisher:
    """A plain MQTT client for sending exactly the bytes a test wants, to exactly the topic it wants."""

    def __init__(self, broker_url: str, site: str, client_id: str | None = None) -> None:
        self.site = site
        self.client, addr = plain_client(broker_url, client_id or f"pub-{uuid.uuid4().hex[:8]}", "test-publisher")
        self.client.connect(addr.host, addr.port)
        self.client.loop_start()

    def raw(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        info = self.client.publish(topic, data, qos=qos, retain=retain)
        info.wait_for_publish(5)

    def topic(self, kind: str, device: str, channel: str) -> str:
        return f"anju/v1/{self.site}/{kind}/{device}/{channel}"

    def send(self, device: str, kind: str, channel: str, qos: int = 1, **fields: Any) -> str:
        """Publish a JSON message; returns its msg_id (generated unless given)."""
        fields.setdefault("msg_id", uuid.uuid4().hex)
        self.raw(self.topic(kind, device, channel), orjson.dumps(fields), qos=qos)
        return fields["msg_id"]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def count_events(session: Session, **where: Any) -> int:
    stmt = select(func.count()).select_from(Event)
    for key, value in where.items():
        stmt = stmt.where(getattr(Event, key) == value)
    return session.scalar(stmt) or 0


def clear_retained(broker_url: str, site: str, settle: float = 0.3) -> int:
    """Delete the retained status messages a test left under `site`, so later gateways do not receive them."""
    topics: set[str] = set()
    client, addr = plain_client(broker_url, f"cleanup-{uuid.uuid4().hex[:8]}", "cleanup")
    client.on_message = lambda _c, _u, msg: topics.add(msg.topic) if msg.retain and msg.payload else None
    client.connect(addr.host, addr.port)
    client.loop_start()
    client.subscribe(f"anju/v1/{site}/+/+/status", qos=1)
    time.sleep(settle)
    for topic in topics:
        client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
    return len(topics)


class Subscriber:
    """Records the non-retained messages under a topic filter, as a patrol app or an integrator would see them."""

    def __init__(self, url: str, topic_filter: str, qos: int = 0, client_id: str | None = None) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client, addr = plain_client(url, client_id or f"sub-{uuid.uuid4().hex[:8]}", "test-subscriber")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect(addr.host, addr.port)
        self.client.subscribe(topic_filter, qos=qos)
        self.client.loop_start()
        assert subscribed.wait(5), "subscription not acknowledged"

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if not msg.retain:
            with self._lock:
                self.messages.append((msg.topic, msg.payload))

    def snapshot(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.messages)

    def json(self) -> list[Any]:
        return [orjson.loads(payload) for _topic, payload in self.snapshot()]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class ApiServer:
    """The real API on a real uvicorn in a thread, with an httpx client per token."""

    def __init__(self, app: Any, admin_token: str) -> None:
        import uvicorn

        from api.serve import uvicorn_config
        from tools.bench.mosquitto import free_port

        self.app = app
        self.admin_token = admin_token
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", self.port))  # as `anju serve` runs it
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # not the main thread
        self.thread = threading.Thread(target=self.server.run, name="test-api", daemon=True)

    @property
    def services(self) -> Any:
        return self.app.state.services

    def start(self) -> None:
        self.thread.start()
        wait_for(lambda: self.server.started, what="the API server to start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.services.alerts.close()

    def client(self, token: str | None = None) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url + "/api/v1", headers=headers, timeout=10)

    def admin(self) -> Any:
        return self.client(self.admin_token)

    def token(self, role: str, **fields: Any) -> str:
        """A new token with `role` (patrol tokens need `grids=[...]` or `team=`)."""
        with self.admin() as api:
            response = api.post("/tokens", json={"name": fields.pop("name", f"{role}-user"), "role": role, **fields})
        assert response.status_code == 201, response.text
        return response.json()["token"]

    def ws_url(self, path: str, token: str, **params: Any) -> str:
        from urllib.parse import urlencode

        return f"ws://127.0.0.1:{self.port}/api/v1{path}?" + urlencode({"token": token, **params})


class TcpProxy:
    """A TCP relay to a real server that a test can cut and restore: a network or server outage, on demand.

    While cut, every open connection is closed and new ones are closed at once (as a
    stopped server or a dropped link does to a client); the server itself runs on untouched.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        import socket

        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._cut = threading.Event()
        self._open: set[Any] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name="tcp-proxy").start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self._cut.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: Any, dst: Any) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                self._close(sock)

    def _close(self, sock: Any) -> None:
        import socket

        with self._lock:
            self._open.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            self._close(sock)

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()


class GatewayProcess:
    """`anju serve` in a child process, on the test's broker, database and site file."""

    def __init__(self, broker: str, db: str, site_file: Path, client_id: str, log: Path,
                 **env: str) -> None:
        """`env`: further settings, e.g. `ANJU_MQTT__SHARED_GROUP="anju"` for a worker of a scaled-out set."""
        from tools.bench.mosquitto import free_port

        self.port = free_port()
        self.env = {**os.environ, "ANJU_MQTT__URL": broker, "ANJU_MQTT__CLIENT_ID": client_id, "ANJU_DB__URL": db,
                    "ANJU_SITE_FILE": str(site_file), "ANJU_API__PORT": str(self.port), "ANJU_LOG_LEVEL": "WARNING",
                    "ANJU_VISION__ENABLED": "false", **env}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "anju.cli", "serve"], env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT)
        ready = self._subscribed if self.env.get("ANJU_API__ENABLED") == "false" else self._connected
        wait_for(ready, 30, 0.1, f"the gateway process connected (log: {self.log})")

    def _subscribed(self) -> bool:
        """An ingest-only worker has no /healthz: it logs when it is subscribed (at INFO)."""
        assert self.process is not None and self.process.poll() is None, self.log.read_text(errors="replace")
        return "ingest worker subscribed" in self.log.read_text(errors="replace")

    def _connected(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log.read_text(errors="replace")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).json()["mqtt_connected"]
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
