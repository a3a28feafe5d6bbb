"""Which batches wait for PostgreSQL's WAL flush: every one holding a QoS 1 message, none of QoS 0 only."""

from __future__ import annotations

import uuid

import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gateway.decode import RawMessage
from kernel.observations import Observation
from kernel.timeutil import utcnow
from tests.conftest import GatewayFactory

pytestmark = [pytest.mark.postgres]


def test_only_qos0_batches_skip_the_wal_flush(make_gateway: GatewayFactory, mosquitto_url: str, pg_url: str,
                                               site_id: str) -> None:
    gw = make_gateway(mosquitto_url, pg_url, start=False)
    gw.prepare_database()
    seen: list[str] = []

    def record(session: Session, _observations: list[Observation]) -> None:
        seen.append(session.scalar(text("SHOW synchronous_commit")))

    gw.pipeline.transaction_hooks.append(record)

    def batch(*qos: int) -> list[RawMessage]:
        body = orjson.dumps({"msg_id": uuid.uuid4().hex, "type": "heartbeat", "battery": 90})
        return [RawMessage(f"anju/v1/{site_id}/elder_button/eb1/telemetry", body, q, False, 0, utcnow())
                for q in qos]

    gw._process_batch(batch(0, 0))
    gw._process_batch(batch(0, 1))  # one QoS 1 message: acknowledged after the commit, so it must be durable
    gw._process_batch(batch(0))
    assert seen == ["off", "on", "off"]
    with gw.sessions() as session:  # SET LOCAL: the connection goes back to the pool as it was
        assert session.scalar(text("SHOW synchronous_commit")) == "on"
