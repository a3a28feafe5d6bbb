"""A poison message costs only itself: no endless retry of a batch that fails outside the database.

In process, on both databases: a batch holding a message that makes processing raise (here a transaction
hook that fails on it, standing in for any bug) is replayed one message per transaction; the good presses
around it are stored and alerted, the poison is dead-lettered, and if even its dead letter cannot be stored
it is counted and let go instead of being retried forever.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import pipeline as pipeline_module
from gateway.decode import RawMessage
from kernel.db.models import Alert, DeadLetter, Event
from kernel.observations import Observation
from kernel.timeutil import utcnow


@pytest.fixture
def gateway(inprocess_gateway: Any) -> Any:
    return inprocess_gateway


def _press(site: str, device: str, marker: str) -> RawMessage:
    body = orjson.dumps({"type": "press", "msg_id": uuid.uuid4().hex, "marker": marker})
    return RawMessage(f"anju/v1/{site}/elder_button/{device}/event", body, 0, False, 0, utcnow())


def _poison_hook(session: Session, observations: list[Observation]) -> None:
    if any(o.data.get("marker") == "poison" for o in observations):
        raise RuntimeError("a bug that this one message triggers")


def _run(gw: Any, batch: list[RawMessage]) -> None:
    """Process the batch on a thread of its own: an endless retry would hang the test, so it must end."""
    worker = threading.Thread(target=gw._process_batch, args=(batch,), daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "the batch is retried forever"


@pytest.mark.parametrize("dead_letter_fails", [False, True])
def test_a_poison_message_costs_only_itself(gateway: Any, site_id: str, dead_letter_fails: bool,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    gateway.pipeline.transaction_hooks.insert(0, _poison_hook)
    if dead_letter_fails:
        real = pipeline_module.store.insert_dead_letters

        def refuse_poison(session: Session, rows: list[dict[str, Any]]) -> None:
            if any(b"poison" in row["payload"] for row in rows):
                raise ValueError("this dead letter cannot be stored either")
            real(session, rows)

        monkeypatch.setattr(pipeline_module.store, "insert_dead_letters", refuse_poison)
    _run(gateway, [_press(site_id, "eb1", "good"), _press(site_id, "eb2", "poison"), _press(site_id, "eb1", "good")])
    with gateway.sessions() as s:
        markers = sorted(e.data["marker"] for e in s.scalars(select(Event).where(Event.type == "press")))
        alerts = [(a.device_id, a.count) for a in s.scalars(select(Alert).where(Alert.rule == "elder-sos"))]
        dead = [(d.reason, d.device_id) for d in s.scalars(select(DeadLetter))]
    assert markers == ["good", "good"] and alerts == [("eb1", 2)]
    if dead_letter_fails:
        assert dead == [] and gateway.metrics.value("anju_dead_letters_total", reason="unstorable") == 1
    else:
        assert dead == [("internal_error", "eb2")]


def test_dead_letters_are_pruned_by_age_then_count(gateway: Any) -> None:
    """Nothing grows without bound: the hourly prune drops old dead letters, then the oldest beyond the cap."""
    now = utcnow()
    with gateway.sessions.begin() as s:
        pipeline_module.store.insert_dead_letters(s, [
            {"received_at": now - timedelta(days=age), "topic": "t", "reason": "not_json", "detail": str(age),
             "device_id": "eb1", "size": 1, "payload": b"x"} for age in (30, 20, 3, 2, 1, 0)])
    with gateway.sessions.begin() as s:
        removed = pipeline_module.store.prune_dead_letters(s, now - timedelta(days=14), keep_at_most=3)
    with gateway.sessions() as s:
        kept = sorted(int(d.detail) for d in s.scalars(select(DeadLetter)))
    assert removed == 3 and kept == [0, 1, 2]
