"""MQTT over TLS (`mqtts://`) on a real Mosquitto, with the broker requiring client certificates.

The certificates are made for the test (a private CA, a server certificate for
127.0.0.1, client certificates), so the host name check and the client-certificate
check are the real ones.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from gateway.service import Gateway
from kernel.config import load_settings
from kernel.db.models import Event
from kernel.topics import device_topic
from tests.conftest import unavailable
from tests.helpers import wait_for
from tools.bench.mosquitto import ManagedMosquitto, free_port

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey]
                 | None = None, ca: bool = False, ip: str | None = None) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer or (name, key)
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    return str(path.with_suffix(".crt")), str(path.with_suffix(".key"))


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """A private CA and what it signed: the broker's certificate for 127.0.0.1, the gateway's and a device's."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("anju test CA", ca_key, ca=True)
    out = {"ca": _write(tmp_path / "ca", ca, ca_key)}
    for who, ip in (("broker", "127.0.0.1"), ("anju-gateway", None), ("eb1", None)):
        key = ec.generate_private_key(ec.SECP256R1())
        out[who] = _write(tmp_path / who, _certificate(who, key, (ca.subject, ca_key), ip=ip), key)
    return out


@pytest.fixture
def tls_broker(pki: dict[str, tuple[str, str]]) -> Iterator[ManagedMosquitto]:
    if not ManagedMosquitto.available():
        unavailable("mosquitto is not installed (apt-get install mosquitto)")
    port = free_port()
    broker = ManagedMosquitto(port=port, listener=False, extra_config=(
        f"listener {port} 127.0.0.1\n"
        f"cafile {pki['ca'][0]}\ncertfile {pki['broker'][0]}\nkeyfile {pki['broker'][1]}\n"
        "require_certificate true\nuse_identity_as_username true\n"))
    broker.start()
    yield broker
    broker.stop()


def _device_client(port: int, pki: dict[str, tuple[str, str]], cert: tuple[str, str] | None) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"eb1-{uuid.uuid4().hex[:6]}")
    context = ssl.create_default_context(cafile=pki["ca"][0])
    if cert:
        context.load_cert_chain(*cert)
    client.tls_set_context(context)
    client.connect("127.0.0.1", port)
    return client


def test_gateway_on_mqtts_with_a_client_certificate_stores_a_press(
        tls_broker: ManagedMosquitto, pki: dict[str, tuple[str, str]], site_file: Path, site_id: str,
        sqlite_url: str) -> None:
    settings = load_settings(
        mqtt={"url": f"mqtts://127.0.0.1:{tls_broker.port}", "client_id": "anju-gateway",
              "tls_ca": pki["ca"][0], "tls_cert": pki["anju-gateway"][0], "tls_key": pki["anju-gateway"][1]},
        db={"url": sqlite_url}, site_file=str(site_file), vision={"enabled": False})
    gateway = Gateway(settings)
    gateway.start()
    device = _device_client(tls_broker.port, pki, pki["eb1"])
    device.loop_start()
    try:
        assert gateway.wait_connected(10), "the gateway did not connect over TLS with its certificate"
        device.publish(device_topic(site_id, "elder_button", "eb1", "event"),
                       json.dumps({"msg_id": "tls-1", "type": "press"}), qos=1).wait_for_publish(5)
        with gateway.sessions() as session:
            wait_for(lambda: session.scalar(select(func.count(Event.id)).where(Event.msg_id == "tls-1")) == 1,
                     10, what="the press sent over TLS stored")
    finally:
        device.loop_stop()
        device.disconnect()
        gateway.stop(drain_seconds=1)


def test_a_client_without_a_certificate_or_trusting_another_ca_is_refused(
        tls_broker: ManagedMosquitto, pki: dict[str, tuple[str, str]]) -> None:
    accepted = threading.Event()
    anonymous = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="no-certificate")
    anonymous.tls_set_context(ssl.create_default_context(cafile=pki["ca"][0]))  # trusts the broker, has no cert
    anonymous.on_connect = lambda *_: accepted.set()
    with contextlib.suppress(ssl.SSLError, OSError):  # TLS 1.3 may report the refusal after the handshake
        anonymous.connect("127.0.0.1", tls_broker.port)
        anonymous.loop_start()
    try:
        assert not accepted.wait(2), "the broker accepted a client without a certificate"
    finally:
        anonymous.loop_stop()
    stranger = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="stranger")
    stranger.tls_set_context(ssl.create_default_context())  # the system CAs do not know our broker
    with pytest.raises(ssl.SSLCertVerificationError):
        stranger.connect("127.0.0.1", tls_broker.port)
