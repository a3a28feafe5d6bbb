"""Simulated time: an event heap, and a driver that plays it at `speed` x real time.

Everything a scenario does is a callback at a simulated second (seconds since
midnight of day 0, site local time). One thread runs the heap; the same heap can
be run instantly (dry run, tests) or paced against the wall clock (live).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import random
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

Action = Callable[[], object]
DAY = 86400.0


class Scheduler:
    """A deterministic event heap: equal times run in the order they were scheduled."""

    def __init__(self, start: float = 0.0, on_error: Callable[[BaseException], None] | None = None) -> None:
        """`on_error` absent: an action's exception propagates (dry runs, tests). Present:
        it is reported there and the run goes on (a live demo must not die of one bad action)."""
        self.start = start
        self.on_error = on_error
        self.now = start
        self._heap: list[tuple[float, int, Action]] = []
        self._seq = itertools.count()

    def at(self, t: float, fn: Action) -> None:
        """Run `fn` at simulated time `t` (now, if `t` is already past)."""
        heapq.heappush(self._heap, (max(t, self.now), next(self._seq), fn))

    def after(self, delay: float, fn: Action) -> None:
        self.at(self.now + delay, fn)

    def every(
        self,
        interval: float,
        fn: Callable[[], bool | None],
        *,
        first: float | None = None,
        jitter: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        """Run `fn` periodically (first at `first`); it stops when `fn` returns False.
        `jitter` is a fraction of the interval, drawn from `rng`, so devices drift apart."""
        if jitter and rng is None:
            raise ValueError("jitter needs an rng, to stay deterministic")

        def tick() -> None:
            if fn() is False:
                return
            step = interval * (1.0 + rng.uniform(-jitter, jitter)) if rng is not None and jitter else interval
            self.after(step, tick)

        self.at(self.now + interval if first is None else first, tick)

    def next_time(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def run_until(self, t: float, max_events: int | None = None) -> int:
        """Run every event due by `t` (at most `max_events`); returns how many ran."""
        ran = 0
        while self._heap and self._heap[0][0] <= t:
            if max_events is not None and ran >= max_events:
                return ran
            when, _, fn = heapq.heappop(self._heap)
            self.now = when
            ran += 1
            if self.on_error is None:
                fn()
                continue
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - reported, and the simulation goes on
                self.on_error(exc)
        self.now = max(self.now, t)
        return ran


def clock_text(t: float) -> str:
    """`d1 07:45:00` for a simulated time, for logs."""
    day, rem = divmod(int(t), int(DAY))
    return f"d{day} {rem // 3600:02d}:{rem % 3600 // 60:02d}:{rem % 60:02d}"


def run_realtime(
    scheduler: Scheduler,
    speed: float,
    stop_event: threading.Event,
    duration: float | None = None,
    progress: Callable[[float], None] | None = None,
    progress_every: float = 10.0,
) -> tuple[float, float]:
    """Play the heap with `speed` simulated seconds per real second, until `duration`
    real seconds pass or `stop_event` is set. Returns (real seconds, simulated seconds).

    Simulated time is tied to the wall clock, so a driver that falls behind (a
    slow broker) catches up by running due events back to back rather than
    stretching the day.
    """
    if speed <= 0:
        raise ValueError("speed must be positive")
    real0 = time.monotonic()
    sim0 = scheduler.now
    end = real0 + duration if duration is not None else math.inf
    next_progress = real0 + progress_every
    while not stop_event.is_set():
        now = time.monotonic()
        if now >= end:
            break
        sim_now = sim0 + (now - real0) * speed
        scheduler.run_until(sim_now, max_events=2000)  # bounded, so stop and deadline stay responsive
        if progress is not None and now >= next_progress:
            next_progress = now + progress_every
            progress(scheduler.now)
        nxt = scheduler.next_time()
        if nxt is not None and nxt <= sim_now:
            continue  # still behind: keep running events
        wait = 0.2 if nxt is None else (nxt - sim_now) / speed
        wait = min(wait, 0.2, end - time.monotonic())
        if wait > 0:
            stop_event.wait(wait)
    real = time.monotonic() - real0
    return real, scheduler.now - sim0
