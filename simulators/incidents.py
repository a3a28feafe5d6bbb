"""The rare things the gateway exists for: elder presses, fence alarms, gate incidents.

Rates are per simulated day for the whole community (scaled by how many devices
of the kind there are), so a day played at speed 60 shows a handful of alerts.
Fence alarms and restores act on the fence model when due, so the fence's
heartbeat voltages agree with its alarms.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from simulators.clock import DAY
from simulators.kinds import FenceModel, KindModel
from simulators.kinds.fence import CAUSES
from simulators.messages import Message
from simulators.rand import HOUR, clock_uniform, poisson
from simulators.world import CommunityWorld, Planned

PRESSES_PER_42_BUTTONS = 2.0
FENCE_ALARMS_PER_4_HOSTS = 1.5
HELD_OPEN_PER_DAY = 2.0
FORCED_OPEN_PER_DAY = 0.4
GATE_TAMPER_PER_DAY = 0.1
CAUSE_WEIGHTS = (45, 10, 30, 10, 5)  # intrusion, cut, short, tamper, power_loss


def fence_alarm(zone: str, cause: str) -> Callable[[KindModel], Message]:
    """A fence alarm made when due (it changes the host's zone voltage)."""

    def make(model: KindModel) -> Message:
        assert isinstance(model, FenceModel)
        return model.alarm(zone, cause)

    return make


def fence_restore(zone: str) -> Callable[[KindModel], Message]:
    def make(model: KindModel) -> Message:
        assert isinstance(model, FenceModel)
        return model.restore(zone)

    return make


def night(rng: random.Random) -> float:
    """A time between 22:00 and 05:00 (seconds, may run past midnight)."""
    return clock_uniform(rng, 22, 29)


def press_sequence(button: str, t: float, rng: random.Random) -> list[Planned]:
    """A press, then maybe a cancel (an accident) or a second press (nobody came yet)."""
    out = [Planned(t, button, Message.event("press"))]
    roll = rng.random()
    if roll < 0.35:
        out.append(Planned(t + rng.uniform(5, 40), button, Message.event("cancel")))
    elif roll < 0.55:
        out.append(Planned(t + rng.uniform(60, 180), button, Message.event("press")))
    return out


class IncidentPlanner:
    """Plans one day's incidents from the rng passed per day."""

    def __init__(self, world: CommunityWorld) -> None:
        self.world = world
        self.buttons = world.layout.elder_buttons
        self.fences = world.layout.fences
        self.gates = sorted(d for d, m in world.models.items() if m.kind == "access_gate")

    def plan_day(self, day: int, rng: random.Random) -> list[Planned]:
        base = day * DAY
        out: list[Planned] = []
        if self.buttons:
            for _ in range(poisson(rng, PRESSES_PER_42_BUTTONS * len(self.buttons) / 42)):
                t = clock_uniform(rng, 6, 23) if rng.random() < 0.85 else night(rng)
                out += press_sequence(rng.choice(self.buttons), base + t, rng)
        if self.fences:
            for _ in range(poisson(rng, FENCE_ALARMS_PER_4_HOSTS * len(self.fences) / 4)):
                out += self.fence_incident(base, rng)
        if self.gates:
            for _ in range(poisson(rng, HELD_OPEN_PER_DAY)):
                seconds = rng.randint(45, 600)
                out.append(
                    Planned(
                        base + clock_uniform(rng, 8, 20),
                        rng.choice(self.gates),
                        Message.event("held_open", seconds=seconds),
                    )
                )
            for _ in range(poisson(rng, FORCED_OPEN_PER_DAY)):
                t = night(rng) if rng.random() < 0.7 else clock_uniform(rng, 6, 22)
                out.append(Planned(base + t, rng.choice(self.gates), Message.event("forced_open")))
            for _ in range(poisson(rng, GATE_TAMPER_PER_DAY)):
                out.append(Planned(base + night(rng), rng.choice(self.gates), Message.event("tamper")))
        out.sort(key=lambda p: p.t)
        return out

    def fence_incident(self, base: float, rng: random.Random) -> list[Planned]:
        """One fence alarm and its restore; power loss alarms every zone of the host."""
        host = rng.choice(self.fences)
        model = self.world.models[host]
        assert isinstance(model, FenceModel)
        cause = rng.choices(CAUSES, weights=CAUSE_WEIGHTS)[0]
        t = base + (night(rng) if cause == "intrusion" and rng.random() < 0.8 else clock_uniform(rng, 0, 24))
        repair = rng.uniform(0.5, 1.5) * HOUR if cause == "cut" else rng.uniform(180, 1800)
        zones = list(model.zones) if cause == "power_loss" else [rng.choice(model.zones)]
        out: list[Planned] = []
        for zone in zones:
            out.append(Planned(t, host, fence_alarm(zone, cause)))
            out.append(Planned(t + repair, host, fence_restore(zone)))
        return out
