"""Property-based fuzzing of the whole processing path: decode, registry, dedup, storage, health, rules, alerts.

Each example is a batch of messages for the test site's devices: payloads shaped like each kind's own
(its types and field names) with values of any JSON type, plus raw bytes, plus one good SOS press. On
both databases the batch must never raise, the good press must always be stored and alerted, and every
other message must be accepted or dead-lettered with a reason: a hostile device costs its own messages only.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from devices import DRIVERS
from gateway.decode import RawMessage
from kernel.db.models import Alert, DeadLetter, Event
from kernel.timeutil import utcnow

DEVICES = {"eb1": "elder_button", "gate1": "access_gate", "cam1": "plate_camera", "face1": "face_camera",
           "fence1": "fence"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)


@st.composite
def kind_shaped(draw: st.DrawFn, site: str) -> tuple[str, bytes]:
    """A message for one of the site's devices, with that kind's types and field names and any values."""
    device = draw(st.sampled_from(sorted(DEVICES)))
    driver = DRIVERS[DEVICES[device]]
    channel = draw(st.sampled_from(["event", "telemetry", "status"]))
    topic = f"anju/v1/{site}/{DEVICES[device]}/{device}/{channel}"
    if channel == "status" or draw(st.integers(0, 9)) == 0:
        return topic, draw(st.binary(max_size=64))
    types = driver.events if channel == "event" else driver.telemetry
    msg_type = draw(st.sampled_from(sorted(types))) if types else "x"
    names = sorted(types[msg_type].model_fields) if types else []
    fields = draw(st.dictionaries(st.sampled_from([*names, "extra"]) if names else st.just("extra"), json_values,
                                  max_size=6))
    payload: dict[str, Any] = {**fields, "type": msg_type}
    try:
        return topic, orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # an integer JSON cannot carry (orjson refuses beyond 64 bits): send it as text instead
        return topic, str(payload).encode()


@pytest.fixture
def gateway(inprocess_gateway: Any) -> Any:
    return inprocess_gateway


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_batches_never_stop_the_good_press(gateway: Any, site_id: str, data: st.DataObject) -> None:
    hostile = data.draw(st.lists(kind_shaped(site_id), min_size=1, max_size=12))
    press_id = f"good-{uuid.uuid4().hex}"
    good = (f"anju/v1/{site_id}/elder_button/eb1/event", orjson.dumps({"msg_id": press_id, "type": "press"}))
    position = data.draw(st.integers(0, len(hostile)))
    messages = [*hostile[:position], good, *hostile[position:]]
    with gateway.sessions() as session:
        letters_before = session.scalar(select(func.max(DeadLetter.id))) or 0
    now = utcnow()
    batch = [RawMessage(topic, payload, 0, False, 0, now) for topic, payload in messages]

    gateway._process_batch(batch)  # the processing thread's own entry point: must not raise

    with gateway.sessions() as session:
        assert session.scalar(select(func.count(Event.id)).where(Event.msg_id == press_id)) == 1
        assert session.scalar(select(func.count(Alert.id)).where(Alert.rule == "elder-sos")) >= 1
        reasons = session.scalars(select(DeadLetter.reason).where(DeadLetter.id > letters_before)).all()
    assert all(reasons)  # every refused message is kept with its reason
