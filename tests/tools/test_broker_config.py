"""Broker security (docs/security.md): what `anju broker-config` writes, proved on a private Mosquitto using it.

Each device may publish only on its own topics and read only its own commands; nobody gets in without
a password; no device can take over the gateway's session. Mosquitto drops a refused MQTT 3.1.1 publish
silently (the PUBACK still comes), so the tests publish the forbidden messages and then an allowed
marker on the same connection: once the marker has arrived, anything let through would have too.
"""

from __future__ import annotations

import csv
import shutil
import stat
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from anju.cli import app
from kernel.db.models import DeadLetter, Event
from kernel.mqtt import parse_broker_url
from tests.conftest import GatewayFactory, unavailable
from tests.helpers import count_events, make_site, wait_for
from tools.bench.mosquitto import ManagedMosquitto, free_port
from tools.brokerconfig import (
    ACL,
    CONF,
    CREDENTIALS,
    GATEWAY_ENV,
    PASSWD,
    BrokerConfigError,
    generate_broker_config,
    hash_password,
    verify_password,
)

pytestmark = [pytest.mark.broker]


# -- the generated files (no broker) ---------------------------------------------------------------


def write_site(path: Path, site_id: str, extra_devices: int = 0) -> Path:
    community = make_site(site_id)
    community["sites"].append({"id": f"{site_id}b", "name": "另一个小区", "devices": [
        {"id": f"other{n}", "kind": "elder_button"} for n in range(1 + extra_devices)]})
    path.write_text(yaml.safe_dump(community, allow_unicode=True), encoding="utf-8")
    return path


def read_credentials(out: Path) -> dict[str, str]:
    with open(out / CREDENTIALS, newline="", encoding="utf-8") as fh:
        return {row["username"]: row["password"] for row in csv.DictReader(fh)}


def test_files_rerun_keeps_passwords_and_rotate_replaces_them(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site.yaml", "s1")
    out = tmp_path / "broker"
    first = generate_broker_config(site, out, broker="mqtt://broker.example:1884")
    creds = read_credentials(out)
    assert set(creds) == {"eb1", "eb2", "gate1", "cam1", "face1", "fence1", "other0"}
    for name in (CREDENTIALS, GATEWAY_ENV, PASSWD):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    hashes = dict(line.split(":", 1) for line in (out / PASSWD).read_text().splitlines())
    assert set(hashes) == {*creds, "anju-gateway"}
    assert all(verify_password(creds[user], hashes[user]) for user in creds)
    gateway = parse_broker_url(first.gateway_url)
    assert (gateway.username, gateway.host, gateway.port) == ("anju-gateway", "broker.example", 1884)
    assert verify_password(gateway.password or "", hashes["anju-gateway"])
    acl = (out / ACL).read_text()
    assert "user eb1\ntopic write anju/v1/s1/elder_button/eb1/event\n" in acl
    assert "topic read anju/v1/s1/elder_button/eb1/cmd\n" in acl
    assert not [line for line in acl.splitlines() if line.startswith("pattern")]
    conf = (out / CONF).read_text()
    for line in ("allow_anonymous false", f"password_file {out / PASSWD}", f"acl_file {out / ACL}",
                 "max_queued_messages 100000"):
        assert f"\n{line}\n" in conf
    # A listener option: Mosquitto applies it to the listener declared before it in the same file.
    assert [line for line in conf.splitlines() if line.startswith(("listener", "use_username"))] == [
        "listener 1884", "use_username_as_clientid true"]

    # A device added, one removed: everyone else keeps their password (and the broker address).
    write_site(site, "s1", extra_devices=1)
    text = site.read_text().replace("id: cam1\n", "id: cam9\n")
    site.write_text(text)
    again = generate_broker_config(site, out)
    creds2 = read_credentials(out)
    assert {u: p for u, p in creds2.items() if u not in ("cam9", "other1")} == {
        u: p for u, p in creds.items() if u != "cam1"}
    assert sorted(again.new) == ["cam9", "other1"] and again.removed == ["cam1"]
    assert again.gateway_url == first.gateway_url
    assert "\nlistener 1884\n" in (out / CONF).read_text()
    generate_broker_config(site, out, listen="127.0.0.1:1885")
    assert "\nlistener 1885 127.0.0.1\n" in (out / CONF).read_text()
    generate_broker_config(site, out)
    assert "\nlistener 1885 127.0.0.1\n" in (out / CONF).read_text(), "a re-run keeps the listener"

    tls = generate_broker_config(site, tmp_path / "tls", broker="mqtts://broker.example")
    assert tls.gateway_url.startswith("mqtts://anju-gateway:") and tls.gateway_url.endswith("@broker.example:8883")
    assert "\nlistener 1883 127.0.0.1\n" in (tmp_path / "tls" / CONF).read_text(), "plain MQTT only locally"

    rotated = generate_broker_config(site, out, rotate=True)
    creds3 = read_credentials(out)
    assert not set(creds3.items()) & set(creds2.items())
    assert rotated.gateway_url != first.gateway_url and not rotated.kept


def test_refuses_to_lose_passwords_and_bad_sites(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site.yaml", "s1")
    out = tmp_path / "broker"
    generate_broker_config(site, out)
    (out / CREDENTIALS).unlink()
    with pytest.raises(BrokerConfigError, match="--rotate"):
        generate_broker_config(site, out)
    generate_broker_config(site, out, rotate=True)

    community = make_site("s1")
    community["sites"].append({"id": "s2", "name": "x", "devices": [{"id": "eb1", "kind": "elder_button"}]})
    dup = tmp_path / "dup.yaml"
    dup.write_text(yaml.safe_dump(community), encoding="utf-8")
    with pytest.raises(BrokerConfigError, match="eb1 appears twice"):
        generate_broker_config(dup, tmp_path / "dup")

    result = CliRunner().invoke(app, ["broker-config", "--site-file", str(dup), "--out", str(tmp_path / "cli")])
    assert result.exit_code == 2 and "appears twice" in result.output
    result = CliRunner().invoke(app, ["broker-config", "--site-file", str(site), "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert "7 device users" in result.output


def test_hash_is_what_mosquitto_passwd_writes(tmp_path: Path) -> None:
    assert verify_password("pw", hash_password("pw")) and not verify_password("pw2", hash_password("pw"))
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd not installed (the broker tests below still check the format)")
    subprocess.run([tool, "-c", "-b", str(tmp_path / "pw"), "alice", "s3cret"], check=True, capture_output=True)
    encoded = (tmp_path / "pw").read_text().strip().split(":", 1)[1]
    assert encoded.startswith("$7$") and verify_password("s3cret", encoded)


# -- a private Mosquitto running with the files ----------------------------------------------------


@dataclass
class Secured:
    broker: ManagedMosquitto
    site: str
    site_file: Path
    creds: dict[str, str]
    gateway_url: str

    @property
    def gateway(self) -> tuple[str, str]:
        addr = parse_broker_url(self.gateway_url)
        return addr.username or "", addr.password or ""

    def topic(self, device: str, channel: str, kind: str = "elder_button", site: str | None = None) -> str:
        return f"anju/v1/{site or self.site}/{kind}/{device}/{channel}"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    if not ManagedMosquitto.available():
        unavailable("mosquitto is not installed (apt-get install mosquitto)")
    tmp = tmp_path_factory.mktemp("secured")
    site = f"t{uuid.uuid4().hex[:10]}"
    site_file = write_site(tmp / "site.yaml", site)
    port = free_port()
    out = tmp / "broker"
    result = generate_broker_config(site_file, out, broker=f"mqtt://127.0.0.1:{port}", listen=f"127.0.0.1:{port}")
    # ManagedMosquitto keeps the current user, so the broker reads pytest's private directory.
    broker = ManagedMosquitto(port=port, anonymous=False, listener=False, extra_config=f"include_dir {out}\n")
    broker.start()
    yield Secured(broker, site, site_file, read_credentials(out), result.gateway_url)
    broker.stop()
    shutil.rmtree(broker.workdir, ignore_errors=True)


class Client:
    """A paho client that records its CONNACK, PUBACK reason codes, disconnects and messages."""

    def __init__(self, port: int, username: str | None, password: str | None, protocol: str = "3.1.1",
                 client_id: str | None = None, will: str | None = None) -> None:
        v5 = protocol == "5"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or uuid.uuid4().hex[:12],
                                  protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
        if username is not None:
            self.client.username_pw_set(username, password)
        if will:
            self.client.will_set(will, b"offline", qos=1)  # not retained: later tests see no status
        self.connack: Any = None
        self.disconnects: list[Any] = []
        self.puback: dict[int, Any] = {}
        self.messages: list[tuple[str, bytes]] = []
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda _c, _u, _f, reason, _p: self.disconnects.append(reason)
        self.client.on_publish = lambda _c, _u, mid, reason, _p: self.puback.__setitem__(mid, reason)
        self.suback: list[Any] = []
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._connected.wait(5), "no CONNACK"

    def _on_connect(self, _c: mqtt.Client, _u: Any, _flags: Any, reason: Any, _p: Any) -> None:
        if self.connack is None:
            self.connack = reason
        self._connected.set()

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
        self.suback = reasons
        self._subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload))

    @property
    def refused(self) -> bool:
        return bool(self.connack.is_failure)

    def subscribe(self, *filters: str) -> None:
        self._subscribed.clear()
        self.client.subscribe([(f, 1) for f in filters])
        assert self._subscribed.wait(5), "no SUBACK"

    def publish(self, topic: str, payload: bytes = b"{}", retain: bool = False) -> int:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(5)
        return info.mid

    def topics(self) -> list[str]:
        with self._lock:
            return [topic for topic, _payload in self.messages]

    def wait_for(self, topic: str) -> list[str]:
        return wait_for(lambda: topic in self.topics() and self.topics(), timeout=5, what=f"a message on {topic}")

    def drop(self) -> None:
        """Lose the connection without a DISCONNECT, as a device losing power does: its will is published."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def connect(secured: Secured) -> Iterator[Any]:
    clients: list[Client] = []

    def factory(user: str | None, password: str | None = None, **kwargs: Any) -> Client:
        if password is None and user is not None:
            password = secured.gateway[1] if user == secured.gateway[0] else secured.creds[user]
        client = Client(secured.broker.port, user, password, **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


def test_device_publishes_as_itself_and_the_gateway_receives_it(secured: Secured, connect: Any) -> None:
    gateway = connect(secured.gateway[0])
    gateway.subscribe("anju/v1/+/+/+/event", "anju/v1/+/+/+/telemetry", "anju/v1/+/+/+/status")
    device = connect("eb1", will=secured.topic("eb1", "status"))
    assert not device.refused
    device.publish(secured.topic("eb1", "status"), b"online", retain=True)
    device.publish(secured.topic("eb1", "telemetry"), orjson.dumps({"type": "heartbeat", "battery": 90}))
    device.publish(secured.topic("eb1", "event"), orjson.dumps({"type": "press"}))
    assert gateway.wait_for(secured.topic("eb1", "event")) == [
        secured.topic("eb1", channel) for channel in ("status", "telemetry", "event")]
    device.publish(secured.topic("eb1", "status"), b"", retain=True)  # leave no retained status behind


def spoofs(secured: Secured) -> list[str]:
    """Topics device eb1 must not publish on."""
    return [
        secured.topic("eb2", "event"),                       # another device, same site and kind
        secured.topic("eb2", "status"),
        secured.topic("gate1", "event", kind="access_gate"),  # another device and kind
        secured.topic("eb1", "event", site=f"{secured.site}b"),  # itself, on another site
        secured.topic("eb1", "event", kind="fence"),          # itself, as another kind
        secured.topic("eb1", "cmd"),                          # commands are the gateway's
        secured.topic("eb2", "cmd"),
        f"anju/v1/{secured.site}/alerts",                     # a fake alert to every patrol client
        "anju/v1/elsewhere",
    ]


def test_device_cannot_publish_as_another_mqtt311(secured: Secured, connect: Any) -> None:
    gateway = connect(secured.gateway[0])
    gateway.subscribe("anju/v1/#")
    device = connect("eb1")
    for topic in spoofs(secured):
        device.publish(topic, orjson.dumps({"type": "press"}), retain=topic.endswith("status"))
    marker = secured.topic("eb1", "event")
    device.publish(marker, orjson.dumps({"type": "press"}))
    assert gateway.wait_for(marker) == [marker], "a forbidden publish was delivered"
    assert not device.disconnects, "MQTT 3.1.1: the broker drops refused publishes without disconnecting"


def test_device_cannot_publish_as_another_mqtt5_not_authorized(secured: Secured, connect: Any) -> None:
    gateway = connect(secured.gateway[0])
    gateway.subscribe("anju/v1/#")
    device = connect("eb1", protocol="5")
    refused = {topic: device.publish(topic) for topic in spoofs(secured)}
    marker = secured.topic("eb1", "event")
    allowed = device.publish(marker)
    assert gateway.wait_for(marker) == [marker]
    assert {topic: device.puback[mid].value for topic, mid in refused.items()} == {
        topic: 0x87 for topic in refused}  # PUBACK reason "Not authorized"
    assert device.puback[allowed].value == 0


def test_device_cannot_read_another_devices_commands(secured: Secured, connect: Any) -> None:
    spy = connect("eb1")
    spy.subscribe(secured.topic("eb2", "cmd"), "anju/v1/#", secured.topic("eb1", "cmd"))
    assert [r.value for r in spy.suback] == [1, 1, 1], "Mosquitto grants the subscriptions, yet ..."
    victim = connect("eb2")
    victim.subscribe(secured.topic("eb2", "cmd"))
    gateway = connect(secured.gateway[0])
    gateway.publish(secured.topic("eb2", "cmd"), b'{"cmd": "open"}')
    gateway.publish(f"anju/v1/{secured.site}/alerts", b"{}")
    gateway.publish(secured.topic("eb1", "cmd"), b'{"cmd": "ping"}')
    assert victim.wait_for(secured.topic("eb2", "cmd")) == [secured.topic("eb2", "cmd")]
    spy.wait_for(secured.topic("eb1", "cmd"))
    assert set(spy.topics()) == {secured.topic("eb1", "cmd")}, "... only its own commands arrive"


@pytest.mark.parametrize("who", ["wrong password", "anonymous", "unknown user", "gateway with a device password"])
def test_connection_refused(secured: Secured, connect: Any, who: str) -> None:
    client = {
        "wrong password": lambda: connect("eb1", "not-the-password"),
        "anonymous": lambda: connect(None),
        "unknown user": lambda: connect("eb99", secured.creds["eb1"]),
        "gateway with a device password": lambda: connect(secured.gateway[0], secured.creds["eb1"]),
    }[who]()
    assert client.refused, f"{who}: connected ({client.connack})"


def test_will_on_another_devices_status_is_never_published(secured: Secured, connect: Any) -> None:
    """Mosquitto 2.0 accepts the CONNECT (no ACL check on the will there) but drops the will when it fires."""
    gateway = connect(secured.gateway[0])
    gateway.subscribe("anju/v1/#")
    spoofer = connect("eb1", will=secured.topic("eb2", "status"))
    assert not spoofer.refused
    spoofer.drop()
    time.sleep(0.2)  # the broker handles the first lost connection before the second
    victim = connect("eb2", will=secured.topic("eb2", "status"))
    victim.drop()
    assert gateway.wait_for(secured.topic("eb2", "status")) == [secured.topic("eb2", "status")]


def test_device_cannot_take_over_the_gateway_session(secured: Secured, connect: Any) -> None:
    """`use_username_as_clientid`: a device asking for the gateway's client id gets its own."""
    gateway = connect(secured.gateway[0], client_id="anju-gateway")
    gateway.subscribe("anju/v1/+/+/+/event")
    impostor = connect("eb1", client_id="anju-gateway")
    assert not impostor.refused
    marker = secured.topic("eb1", "event")
    impostor.publish(marker)
    assert gateway.wait_for(marker) == [marker]
    assert not gateway.disconnects, "the device's connection disconnected the gateway"


@pytest.fixture
def site_file(secured: Secured) -> Path:
    """The gateway loads the site the broker's users were made from."""
    return secured.site_file


def test_gateway_with_its_credentials_stores_only_genuine_messages(
        secured: Secured, connect: Any, make_gateway: GatewayFactory, sqlite_url: str) -> None:
    gw = make_gateway(secured.gateway_url, sqlite_url)
    device = connect("eb1")
    for topic in spoofs(secured):
        device.publish(topic, orjson.dumps({"type": "press", "msg_id": uuid.uuid4().hex}))
    genuine = uuid.uuid4().hex
    device.publish(secured.topic("eb1", "event"), orjson.dumps({"type": "press", "msg_id": genuine}))
    with gw.sessions() as s:
        wait_for(lambda: s.scalar(select(Event.id).where(Event.msg_id == genuine)), what="the genuine press")
        assert count_events(s, type="press") == 1
        assert set(s.scalars(select(Event.device_id))) == {"eb1"}  # and its derived device_online
        assert s.scalar(select(func.count()).select_from(DeadLetter)) == 0
