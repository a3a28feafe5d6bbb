"""Bulkheads for refused messages: one device's garbage must cost the others nothing.

A dead letter is a row, a log line and a share of a transaction. A device that
sends 10,000 of them a second (broken firmware, or someone with its credentials)
used to turn into 10,000 rows and log lines, and an SOS from another button
waited seconds behind them. Each device gets a budget of refusals per minute;
over it, the device is quarantined for a while: its refusals are counted and
only sampled into dead letters and the log, and one `messages_rejected`
maintenance alert tells its integrator. Its valid messages are still processed
(a quarantined button's press still raises the SOS): quarantine bounds the cost
of garbage, never the reach of an alarm.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

WINDOW_SECONDS = 60.0
MAX_TRACKED = 50_000
"""Devices tracked at once; the idlest are forgotten beyond this (ids come from topics: bounded memory)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one refusal."""

    store: bool
    """Keep it as a dead letter (always below budget; one in `sample_every` while quarantined)."""
    alert: bool
    """The device just went over budget: raise its one `messages_rejected` alert."""
    quarantined: bool


@dataclass(slots=True)
class _Device:
    window_start: float
    count: int = 0
    muted_until: float = 0.0
    since_sample: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


class RejectionBudget:
    """Refusals per device per minute, and who is quarantined. Thread-safe; O(1) per refusal."""

    def __init__(self, per_minute: int, quarantine_seconds: float, sample_every: int) -> None:
        self.per_minute = per_minute
        self.quarantine_seconds = quarantine_seconds
        self.sample_every = sample_every
        self._devices: dict[str, _Device] = {}
        self._lock = threading.Lock()
        self._last_mute_ends = 0.0
        """When the latest quarantine ends: before then someone may be quarantined, after it nobody is."""

    def record(self, device_id: str, reason: str, now: float | None = None) -> Verdict:
        now = time.monotonic() if now is None else now
        with self._lock:
            state = self._devices.get(device_id)
            if state is None:
                if len(self._devices) >= MAX_TRACKED:
                    self._forget_idle(now)
                state = self._devices[device_id] = _Device(now)
            if now - state.window_start >= WINDOW_SECONDS:
                state.window_start, state.count = now, 0
                state.reasons.clear()
            state.count += 1
            state.reasons[reason] += 1
            over = state.count > self.per_minute
            was_muted = state.muted_until > now
            if over:
                state.muted_until = now + self.quarantine_seconds
                self._last_mute_ends = max(self._last_mute_ends, state.muted_until)
            if not (over or was_muted):
                return Verdict(True, False, False)
            state.since_sample += 1
            store = state.since_sample >= self.sample_every
            if store:
                state.since_sample = 0
            return Verdict(store, over and not was_muted, True)

    def any_quarantined(self, now: float | None = None) -> bool:
        """Lock-free (one float read): asked on the MQTT network thread for every message, so that in the usual
        case, nobody quarantined, the message's topic is not even parsed there."""
        return self._last_mute_ends > (time.monotonic() if now is None else now)

    def is_quarantined(self, device_id: str, now: float | None = None) -> bool:
        """Lock-free (one dict read): asked on the MQTT network thread while `any_quarantined`."""
        state = self._devices.get(device_id)
        return state is not None and state.muted_until > (time.monotonic() if now is None else now)

    def reasons(self, device_id: str) -> dict[str, int]:
        """The refusals of the device's current window by reason (for the alert's evidence)."""
        with self._lock:
            state = self._devices.get(device_id)
            return dict(state.reasons) if state is not None else {}

    def quarantined(self, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        with self._lock:
            return [d for d, s in self._devices.items() if s.muted_until > now]

    def _forget_idle(self, now: float) -> None:
        idle = [d for d, s in self._devices.items() if s.muted_until <= now and now - s.window_start >= WINDOW_SECONDS]
        for device_id in idle or list(self._devices)[: MAX_TRACKED // 10]:
            del self._devices[device_id]


class LogLimiter:
    """At most `per_minute` log lines a minute for refused messages; the rest are summed up once a minute."""

    def __init__(self, logger: logging.Logger, per_minute: int) -> None:
        self.logger = logger
        self.per_minute = per_minute
        self._window_start = time.monotonic()
        self._logged = 0
        self._suppressed = 0
        self._lock = threading.Lock()

    def info(self, message: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._window_start >= WINDOW_SECONDS:
                if self._suppressed:
                    self.logger.warning("%d more refused messages were not logged in the last minute "
                                        "(gateway.rejected_log_per_minute)", self._suppressed)
                self._window_start, self._logged, self._suppressed = now, 0, 0
            if self._logged >= self.per_minute:
                self._suppressed += 1
                return
            self._logged += 1
        self.logger.info(message, *args, stacklevel=2)
