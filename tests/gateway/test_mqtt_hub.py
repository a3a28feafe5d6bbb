"""The hub's connection behaviour on a broker the test owns: restarts, MQTT 5, shared subscriptions."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kernel.db.models import Event
from tests.conftest import GatewayFactory
from tests.helpers import Publisher, count_events, wait_for
from tools.bench.mosquitto import ManagedMosquitto

pytestmark = [pytest.mark.broker]


def test_gateway_reconnects_and_resubscribes_after_broker_restart(
        make_gateway: GatewayFactory, own_mosquitto: ManagedMosquitto, sqlite_url: str, site_id: str) -> None:
    gw = make_gateway(own_mosquitto.url, sqlite_url)
    pub = Publisher(own_mosquitto.url, site_id)
    before = pub.send("eb1", "elder_button", "event", type="press")
    pub.close()
    with gw.sessions() as s:
        wait_for(lambda: s.scalar(select(Event.id).where(Event.msg_id == before)), what="press before restart")

    own_mosquitto.stop()
    wait_for(lambda: not gw.hub.connected.is_set(), what="gateway notices the broker is gone")
    own_mosquitto.start()
    assert gw.wait_connected(40), "gateway did not reconnect"

    pub = Publisher(own_mosquitto.url, site_id)
    after = pub.send("eb1", "elder_button", "event", type="press")
    pub.close()
    with gw.sessions() as s:
        wait_for(lambda: s.scalar(select(Event.id).where(Event.msg_id == after)), what="press after restart")


def test_mqtt5_persistent_session(make_gateway: GatewayFactory, own_mosquitto: ManagedMosquitto, sqlite_url: str,
                                  site_id: str) -> None:
    gw = make_gateway(own_mosquitto.url, sqlite_url, mqtt={"protocol": "5"})
    gw.stop()
    pub = Publisher(own_mosquitto.url, site_id)
    queued = pub.send("eb1", "elder_button", "event", type="press")
    pub.close()
    gw2 = make_gateway(own_mosquitto.url, sqlite_url, mqtt={"protocol": "5"})
    with gw2.sessions() as s:
        wait_for(lambda: s.scalar(select(Event.id).where(Event.msg_id == queued)), what="queued MQTT 5 press")


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_two_workers_share_one_subscription(make_gateway: GatewayFactory, own_mosquitto: ManagedMosquitto,
                                            pg_url: str, site_id: str, protocol: str) -> None:
    """`$share/<group>/...`: each message reaches one of the workers; dedup holds in the shared database."""
    workers = [make_gateway(own_mosquitto.url, pg_url, mqtt={"client_id": f"{site_id}-w{n}", "shared_group": "anju",
                                                             "protocol": protocol})
               for n in range(2)]
    pub = Publisher(own_mosquitto.url, site_id)
    ids = [pub.send("eb1", "elder_button", "event", type="press") for _ in range(40)]
    pub.close()
    with workers[0].sessions() as s:
        wait_for(lambda: count_events(s, type="press") == len(ids), what="all presses")
    shares = [w.metrics.value("anju_messages_total", kind="elder_button", channel="event", outcome="accepted")
              for w in workers]
    assert sum(shares) == len(ids)
    assert all(n > 0 for n in shares), f"one worker got everything: {shares}"


def test_the_client_reads_what_the_socket_holds_but_writes_first_when_something_waits() -> None:
    """`DrainingClient.loop_read`: every buffered packet per select(), unless an alert or an acknowledgement waits."""
    from collections.abc import Callable

    import paho.mqtt.client as mqtt

    from gateway.mqtt_hub import DrainingClient

    ok, again = mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS, mqtt.MQTTErrorCode.MQTT_ERR_AGAIN
    client = DrainingClient(mqtt.CallbackAPIVersion.VERSION2)
    client._sock = object()  # type: ignore[assignment]  # never touched: reading is stubbed below
    reads: list[int] = []

    def reader(results: list[mqtt.MQTTErrorCode], after: Callable[[int], None] = lambda _n: None) -> None:
        def read() -> mqtt.MQTTErrorCode:
            reads.append(1)
            after(len(reads))
            return results[len(reads) - 1]
        client._packet_read = read  # type: ignore[method-assign]

    reader([ok] * 5 + [again])
    assert client.loop_read() == ok and len(reads) == 6  # five packets and the empty socket, in one call

    reads.clear()
    reader([ok] * 300)
    client.loop_read()
    assert len(reads) == DrainingClient.DRAIN_LIMIT  # bounded: keep-alives go out in between

    reads.clear()
    reader([ok] * 10, after=lambda n: client._out_packet.append({}) if n == 2 else None)  # type: ignore[typeddict-item]
    client.loop_read()
    assert len(reads) == 2  # an alert was queued meanwhile: it is written before reading on
    client._sock = None
