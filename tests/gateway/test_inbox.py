"""The processing queue's priority lane and the time-bounded batch sizes (gateway/inbox.py)."""

from __future__ import annotations

from gateway.inbox import BatchSizer, Inbox, Lane
from gateway.lanes import lane_of


def test_events_are_taken_before_telemetry_and_status_in_their_own_batch() -> None:
    inbox: Inbox[str] = Inbox()
    for item in ("t1", "t2", "s1"):
        inbox.put(item)
    inbox.put("press", Lane.URGENT)
    assert inbox.take(10, 10, timeout=0) == (Lane.URGENT, ["press"])
    assert inbox.take(10, 2, timeout=0) == (Lane.BULK, ["t1", "t2"])  # the bulk lane keeps arrival order
    assert inbox.take(10, 2, timeout=0) == (Lane.BULK, ["s1"])
    assert inbox.take(10, 2, timeout=0.01) == (Lane.BULK, [])


def test_events_are_urgent_unless_their_kind_names_their_type_routine() -> None:
    assert lane_of("anju/v1/s1/elder_button/eb1/event", b'{"type": "press"}') is Lane.URGENT
    assert lane_of("anju/v1/s1/elder_button/eb1/telemetry", b"{}") is Lane.BULK
    assert lane_of("anju/v1/s1/elder_button/eb1/status", b"offline") is Lane.BULK
    assert lane_of("anju/v1/s1/access_gate/g1/event", b'{"type": "pass", "direction": "in"}') is Lane.ROUTINE
    assert lane_of("anju/v1/s1/access_gate/g1/event", b'{"type": "Passage"}') is Lane.ROUTINE  # the driver's alias
    assert lane_of("anju/v1/s1/plate_camera/c1/event", b'{"type": "plate"}') is Lane.ROUTINE
    # Anything in doubt is urgent: an alarm type, no type, not JSON, not an object, an unknown kind, a big payload.
    for payload in (b'{"type": "forced_open"}', b'{"msg_id": "1"}', b"not json", b'["pass"]', b'{"type": 3}',
                    b'{"type": "pass", "pad": "' + b"x" * 20_000 + b'"}'):
        assert lane_of("anju/v1/s1/access_gate/g1/event", payload) is Lane.URGENT
    assert lane_of("anju/v1/s1/no_such_kind/x1/event", b'{"type": "pass"}') is Lane.URGENT
    assert lane_of("anju/v1/s1/access_gate/event", b'{"type": "pass"}') is Lane.URGENT


def test_routine_events_go_before_telemetry_in_the_telemetry_batches() -> None:
    inbox: Inbox[str] = Inbox()
    for item, lane in (("t1", Lane.BULK), ("pass1", Lane.ROUTINE), ("t2", Lane.BULK), ("pass2", Lane.ROUTINE),
                       ("press", Lane.URGENT)):
        inbox.put(item, lane)
    assert inbox.take(10, 10, timeout=0) == (Lane.URGENT, ["press"])
    assert inbox.take(10, 3, timeout=0) == (Lane.BULK, ["pass1", "pass2", "t1"])
    assert inbox.take(10, 3, timeout=0) == (Lane.BULK, ["t2"])


def test_batches_are_sized_so_that_one_takes_about_the_budget() -> None:
    sizer = BatchSizer(max_size=500, budget=0.015)
    for _ in range(30):  # 1 ms per message: 15 messages fill the budget
        sizer.observe(sizer.size, sizer.size * 0.001)
    assert 13 <= sizer.size <= 17
    for _ in range(30):  # a fast machine: limited by batch_size
        sizer.observe(sizer.size, sizer.size * 0.000001)
    assert sizer.size == 500
    for _ in range(30):  # a database outage (seconds per batch) never drops below the floor
        sizer.observe(sizer.size, 5.0)
    assert sizer.size == BatchSizer.MIN_SIZE


def test_a_small_telemetry_batch_lingers_for_more_but_never_holds_up_an_event() -> None:
    import threading
    import time

    inbox: Inbox[str] = Inbox()
    inbox.put("t1")
    started = time.monotonic()
    threading.Timer(0.05, lambda: [inbox.put(f"t{n}") for n in (2, 3)]).start()
    # full: no need to wait out the linger
    assert inbox.take(10, 3, timeout=1, linger=1.0) == (Lane.BULK, ["t1", "t2", "t3"])
    assert time.monotonic() - started < 0.9

    inbox.put("t4")
    started = time.monotonic()
    threading.Timer(0.05, lambda: inbox.put("press", Lane.URGENT)).start()
    assert inbox.take(10, 100, timeout=1, linger=1.0) == (Lane.URGENT, ["press"])  # the event is taken at once
    assert time.monotonic() - started < 0.9
    assert inbox.take(10, 100, timeout=0, linger=0.02) == (Lane.BULK, ["t4"])  # and the linger is bounded
