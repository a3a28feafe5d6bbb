"""MQTT plumbing shared by the gateway, the simulators, the benchmarks and the tests.

One reading of the broker URL of SPEC §1 (`mqtt://[user:pass@]host:port`,
`mqtts://` for TLS), so a typo fails early with a clear message everywhere.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from typing import cast
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883, "tcp": 1883, "ssl": 8883}


@dataclass(frozen=True)
class BrokerSettings:
    """Where and how to connect; `username`/`password` come from the URL, if any."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    def describe(self) -> str:
        """The URL without the password, safe for logs and reports."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}"


def parse_broker_url(url: str) -> BrokerSettings:
    """Read `mqtt://[user:pass@]host[:port]`; raises `ValueError` naming what is wrong."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"broker URL {url!r}: scheme must be mqtt:// or mqtts://, not {parts.scheme!r}://")
    if not parts.hostname:
        raise ValueError(f"broker URL {url!r}: no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"broker URL {url!r}: unexpected path, query or fragment")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as exc:  # urlsplit raises on a non-numeric or out-of-range port
        raise ValueError(f"broker URL {url!r}: bad port") from exc
    return BrokerSettings(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=scheme in ("mqtts", "ssl"),
    )


def set_nodelay(client: mqtt.Client) -> None:
    """Disable Nagle: small QoS 1 messages otherwise wait for the previous ACK (~30 ms p99 here)."""
    sock = client.socket()
    if sock is not None:
        with contextlib.suppress(OSError):  # not a TCP socket (e.g. a websocket transport)
            cast(socket.socket, sock).setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def plain_client(broker_url: str, client_id: str, default_username: str, clean_session: bool = True) -> tuple[
        mqtt.Client, BrokerSettings]:
    """A paho client (not yet connected) for the URL's broker, with Nagle off.

    The URL's credentials are used, or `default_username`: the embedded broker
    refuses clients without a user name.
    """
    addr = parse_broker_url(broker_url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session)
    client.username_pw_set(addr.username or default_username, addr.password)
    client.on_socket_open = lambda c, _userdata, _sock: set_nodelay(c)
    return client, addr


def forget_session(broker_url: str, client_id: str) -> None:
    """Remove a persistent session from the broker (a finished test or benchmark leaves nothing queued)."""
    client, addr = plain_client(broker_url, client_id, "anju-cleanup")
    with contextlib.suppress(OSError):
        client.connect(addr.host, addr.port)
        client.loop_start()
        client.disconnect()
        client.loop_stop()
