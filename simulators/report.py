"""Counting what a simulation did, and the report it returns.

Counters are bumped from the I/O thread (acks) and the driver (sends, faults),
so they live behind one lock; the report is a plain snapshot taken at the end.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field

Label = tuple[str, str]  # (kind, type) of a published message, for counting


class Counters:
    """Thread-safe tallies; also the `PublishListener` the MQTT connections report to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: Counter[Label] = Counter()
        self._published: Counter[Label] = Counter()
        self._failed: Counter[Label] = Counter()
        self._status: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._notes: Counter[str] = Counter()
        self._errors: list[str] = []

    # PublishListener
    def on_sent(self, label: Label) -> None:
        """The client accepted the message for sending."""
        with self._lock:
            self._sent[label] += 1

    def on_published(self, label: Label) -> None:
        """QoS 0: written to the socket; QoS 1: acknowledged by the broker."""
        with self._lock:
            self._published[label] += 1

    def on_failed(self, label: Label) -> None:
        """The client refused the message (not connected, queue full)."""
        with self._lock:
            self._failed[label] += 1

    # Everything else the scenarios want to tell the report.
    def status(self, state: str) -> None:
        with self._lock:
            self._status[state] += 1

    def fault(self, name: str) -> None:
        with self._lock:
            self._faults[name] += 1

    def note(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._notes[name] += n

    def error(self, text: str) -> None:
        with self._lock:
            if len(self._errors) < 100:
                self._errors.append(text)

    def total_published(self) -> int:
        with self._lock:
            return sum(self._published.values())

    def total_sent(self) -> int:
        with self._lock:
            return sum(self._sent.values())

    def snapshot(self, **run: object) -> SimulationReport:
        """Freeze the counts into a report; `run` fills the report's run fields."""
        with self._lock:
            published: dict[str, dict[str, int]] = defaultdict(dict)
            for (kind, type_), n in sorted(self._published.items()):
                published[kind][type_] = n
            sent = sum(self._sent.values())
            return SimulationReport(
                published=dict(published),
                sent=sent,
                unacked=sent - sum(self._published.values()) - sum(self._failed.values()),
                failed=sum(self._failed.values()),
                status=dict(self._status),
                faults=dict(sorted(self._faults.items())),
                notes=dict(sorted(self._notes.items())),
                errors=list(self._errors),
                **run,  # type: ignore[arg-type]
            )


@dataclass
class SimulationReport:
    """What one `run_simulation` did.

    `published` counts per kind and type the messages the broker has: QoS 0 ones
    once written to the socket, QoS 1 ones only once acknowledged. `unacked`
    is what was sent but never confirmed (broker too slow, or gone).
    """

    scenario: str = ""
    seed: int = 0
    broker: str = ""
    speed: float = 0.0
    duration_s: float = 0.0
    sim_seconds: float = 0.0
    devices: int = 0
    connections: int = 0
    published: dict[str, dict[str, int]] = field(default_factory=dict)
    sent: int = 0
    unacked: int = 0
    failed: int = 0
    status: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def total_published(self) -> int:
        """All device messages the broker has (status messages not included)."""
        return sum(n for types in self.published.values() for n in types.values())

    @property
    def rate(self) -> float:
        """Published messages per real second."""
        return self.total_published / self.duration_s if self.duration_s > 0 else 0.0

    def summary(self) -> str:
        """A few human-readable lines for the CLI."""
        lines = [
            f"scenario {self.scenario} (seed {self.seed}) against {self.broker}: "
            f"{self.devices} devices over {self.connections} connections, "
            f"{self.duration_s:.1f} s real, {self.sim_seconds / 3600:.2f} h simulated",
            f"published {self.total_published} messages ({self.rate:.1f}/s); sent {self.sent}, "
            f"unacknowledged {self.unacked}, refused {self.failed}",
        ]
        for kind, types in sorted(self.published.items()):
            lines.append(f"  {kind}: " + ", ".join(f"{t} {n}" for t, n in sorted(types.items())))
        if self.status:
            lines.append("status: " + ", ".join(f"{k} {v}" for k, v in sorted(self.status.items())))
        if self.faults:
            lines.append("faults injected: " + ", ".join(f"{k} {v}" for k, v in self.faults.items()))
        if self.notes:
            lines.append("notes: " + ", ".join(f"{k} {v}" for k, v in self.notes.items()))
        for err in self.errors[:10]:
            lines.append(f"error: {err}")
        return "\n".join(lines)
