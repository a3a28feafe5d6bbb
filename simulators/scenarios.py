"""Named scenarios: which behaviours run on the community, and what is scripted.

| name      | what it does |
|-----------|--------------|
| community | the daily rhythm: heartbeats, residents/visitors/cars, random incidents (default) |
| sos       | heartbeats and a short script of elder presses (a repeat, cancelled accidents) |
| offline   | the daily rhythm while devices drop (will fires) or go silent, some coming back |
| faults    | the daily rhythm interleaved with every fault class, one every 15-45 sim s |
| lift-trapped | heartbeats; a lift stops between floors with people inside, restored 25 sim min later |
| water-outage | heartbeats; the pump room's supply is cut (pressure ~0) for two sim hours, then restored |
| heating-cold | heartbeats; the heating supply falls to 38 °C for a sim hour, then recovers |
| rules     | heartbeats and one short script per built-in rule, one every 3 sim min |
| rule-<id> | heartbeats and the script of built-in rule <id> only (see `rule_scenarios.py`) |
| load      | N synthetic devices at R msg/s over a few shared connections (see `load.py`) |

Scenarios only schedule callbacks on the `Scheduler` and act through a `Fleet`,
so a scenario is the same whether played live or recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from simulators.clock import DAY, Scheduler
from simulators.faults import MALFORMED_TOPICS
from simulators.fleet import Fleet
from simulators.incidents import IncidentPlanner, press_sequence
from simulators.kinds import ElevatorModel, HeatingModel, KindModel, WaterModel
from simulators.messages import Message
from simulators.rand import HOUR, MINUTE
from simulators.rule_scenarios import LEAD_S, RULE_SCRIPTS, RuleScript, install_all_rule_scripts, install_rule_script
from simulators.traffic import TrafficPlanner
from simulators.world import CommunityWorld, Planned

log = logging.getLogger(__name__)

DEFAULT_START = 6.5 * 3600  # 06:30 on day 0: a demo opens on the morning rush
MAX_DRAINED_BUTTONS = 3


@dataclass
class SimContext:
    """What a scenario installs itself into."""

    world: CommunityWorld
    scheduler: Scheduler
    fleet: Fleet

    def emit(self, planned: Planned) -> None:
        """Send a planned message now, if its device is still talking."""
        if self.fleet.is_active(planned.device):
            self.fleet.send(planned.device, planned.resolve(self.world.models[planned.device]))

    def schedule(self, items: list[Planned]) -> None:
        """Schedule planned messages; ones already in the past are dropped (day 0 starts mid-morning)."""
        for p in items:
            if p.t >= self.scheduler.now:
                self.scheduler.at(p.t, partial(self.emit, p))


# --- behaviours ------------------------------------------------------------
def install_heartbeats(ctx: SimContext) -> None:
    """Every device heartbeats at its kind's interval, with a random phase and 2% jitter."""
    for dev_id in sorted(ctx.world.models):
        model = ctx.world.models[dev_id]
        rng = ctx.world.rng("heartbeat", dev_id)
        interval = model.heartbeat_interval_s

        def beat(dev_id: str = dev_id) -> None:
            if ctx.fleet.is_active(dev_id):
                ctx.fleet.send(dev_id, ctx.world.models[dev_id].heartbeat(ctx.scheduler.now))

        ctx.scheduler.every(
            interval, beat, first=ctx.scheduler.now + rng.uniform(0, interval), jitter=0.02, rng=rng
        )


def install_daily_life(ctx: SimContext, incidents: bool = True) -> None:
    """Plan each simulated day at its midnight (day 0 at the start): traffic, and incidents."""
    traffic = TrafficPlanner(ctx.world)
    incident_planner = IncidentPlanner(ctx.world) if incidents else None

    def plan(day: int) -> None:
        items = traffic.plan_day(day, ctx.world.rng("traffic", day))
        if incident_planner is not None:
            items += incident_planner.plan_day(day, ctx.world.rng("incidents", day))
        items.sort(key=lambda p: p.t)
        ctx.schedule(items)
        ctx.scheduler.at((day + 1) * DAY, lambda: plan(day + 1))

    plan(int(ctx.scheduler.now // DAY))


def install_opening_press(ctx: SimContext) -> None:
    """One elder press 5-20 simulated minutes in, so a demo shows the alert path early."""
    buttons = ctx.world.layout.elder_buttons
    if buttons:
        rng = ctx.world.rng("opening")
        ctx.schedule(
            press_sequence(rng.choice(buttons), ctx.scheduler.now + rng.uniform(5, 20) * MINUTE, rng)
        )


def install_sos_script(ctx: SimContext) -> None:
    """Four presses on four buttons: one repeated (nobody came), two cancelled (accidents)."""
    buttons = ctx.world.layout.elder_buttons
    if not buttons:
        return
    rng = ctx.world.rng("sos")
    a, b, c, d = (
        rng.sample(buttons, 4) if len(buttons) >= 4 else [buttons[i % len(buttons)] for i in range(4)]
    )
    t0 = ctx.scheduler.now
    script = [
        (30, a, "press"),
        (120, a, "press"),
        (150, b, "press"),
        (165, b, "cancel"),
        (240, c, "press"),
        (360, d, "press"),
        (400, d, "cancel"),
    ]
    ctx.schedule([Planned(t0 + dt, dev, Message.event(type_)) for dt, dev, type_ in script])


def install_offline_script(ctx: SimContext) -> None:
    """Devices leave in the two ways the gateway must notice, then some come back.

    abrupt drop (will `offline` fires): two elder buttons, a face camera;
    silent (connected, no heartbeats): an access gate, a fence host.
    """
    rng = ctx.world.rng("offline")
    lay = ctx.world.layout

    def pick(ids: list[str], n: int) -> list[str]:
        return rng.sample(ids, min(n, len(ids)))

    buttons = pick(lay.elder_buttons, 2)
    gate = pick(lay.by_kind("access_gate"), 1)
    fence = pick(lay.fences, 1)
    face = pick(lay.by_kind("face_camera"), 1)
    t0 = ctx.scheduler.now
    plan: list[tuple[float, Callable[[], None]]] = []
    for i, dev in enumerate(buttons):
        plan.append((60 + 30 * i, partial(ctx.fleet.drop, dev, abrupt=True)))
    for dev in gate:
        plan.append((120, partial(ctx.fleet.drop, dev, abrupt=False)))
    for dev in fence:
        plan.append((150, partial(ctx.fleet.drop, dev, abrupt=False)))
    for dev in face:
        plan.append((180, partial(ctx.fleet.drop, dev, abrupt=True)))
    if buttons:
        plan.append((20 * MINUTE, lambda: ctx.fleet.restore(buttons[0])))
    for dev in gate:
        plan.append((30 * MINUTE, partial(ctx.fleet.restore, dev)))
    for dt, fn in plan:
        ctx.scheduler.at(t0 + dt, fn)


def install_fault_mix(ctx: SimContext) -> None:
    """Every fault class in turn (reshuffled each round), one every 15-45 simulated seconds."""
    rng = ctx.world.rng("faults")
    lay = ctx.world.layout
    all_devices = sorted(ctx.world.models)
    classes = [
        ("not_json", None),
        ("wrong_types", None),
        ("oversized", None),
        ("unknown_kind", None),
        ("unregistered_device", None),
        ("duplicate", None),
        ("drop_offline", None),
        ("go_silent", None),
        ("battery_drain", None),
        ("bad_characters", "chinese"),
        ("bad_characters", "space"),
        *(("malformed_topic", v) for v in MALFORMED_TOPICS),
    ]
    queue: list[tuple[str, str | None]] = []
    drained: set[str] = set()

    def active(ids: list[str]) -> list[str]:
        return [d for d in ids if ctx.fleet.is_active(d)] or ids

    def inject() -> None:
        if not queue:
            queue.extend(rng.sample(classes, len(classes)))
        fault, variant = queue.pop()
        if fault in ("drop_offline", "go_silent"):
            dev = rng.choice(active(all_devices))
            ctx.fleet.drop(dev, abrupt=fault == "drop_offline")
            ctx.scheduler.after(rng.uniform(2, 6) * MINUTE, lambda: ctx.fleet.restore(dev))
        elif fault == "battery_drain":
            fresh = [b for b in lay.elder_buttons if b not in drained]
            if fresh and len(drained) < MAX_DRAINED_BUTTONS:  # a few failing cells, not the whole estate
                button = rng.choice(fresh)
                drained.add(button)
                ctx.fleet.inject(fault, button)
        else:
            ctx.fleet.inject(fault, rng.choice(active(all_devices)), variant)
        ctx.scheduler.after(rng.uniform(15, 45), inject)

    ctx.scheduler.after(rng.uniform(5, 15), inject)


def _equipment(ctx: SimContext, kind: str, preferred: str) -> tuple[str, KindModel] | None:
    """`preferred` if the site has it, else its first device of `kind`, with its model; None without one."""
    ids = sorted(ctx.world.layout.by_kind(kind))
    if not ids:
        log.warning("site %s has no %s device: nothing to script", ctx.world.layout.site, kind)
        return None
    device = preferred if preferred in ids else ids[0]
    return device, ctx.world.models[device]


def install_lift_trapped(ctx: SimContext) -> None:
    """A lift stops between floors with people inside: the fault, their alarm, and the lift company's rescue
    25 minutes later (TSG T5002 allows 30). The status says out of service until then."""
    found = _equipment(ctx, "elevator", "lift-b20")
    if found is None:
        return
    lift, model = found
    assert isinstance(model, ElevatorModel)
    t0 = ctx.scheduler.now + LEAD_S
    ctx.schedule([Planned(t0, lift, lambda m: _lift(m).fault("stopped_between_floors")),
                  Planned(t0 + 20, lift, lambda m: _lift(m).trapped()),
                  Planned(t0 + 25 * MINUTE, lift, lambda m: _lift(m).restore())])


def install_water_outage(ctx: SimContext) -> None:
    """The pump room's supply is cut (a burst main): the pressure falls to about zero for two hours, then the
    supply is restored."""
    found = _equipment(ctx, "water", "water-pump-s")
    if found is None:
        return
    pump, model = found
    assert isinstance(model, WaterModel)
    t0 = ctx.scheduler.now + LEAD_S
    ctx.schedule([Planned(t0, pump, lambda m: _water(m).interrupt("main_burst")),
                  Planned(t0 + 2 * HOUR, pump, lambda m: _water(m).restore())])


def install_heating_cold(ctx: SimContext) -> None:
    """The substation's supply falls to 38 °C (the primary network is short of heat) for an hour, then recovers.
    In the heating season `heating-supply-cold` fires once it has stayed cold 30 minutes (gateway time)."""
    found = _equipment(ctx, "heating", "heat-st-1")
    if found is None:
        return
    station, model = found
    assert isinstance(model, HeatingModel)
    t0 = ctx.scheduler.now + LEAD_S

    def cold() -> None:
        model.cool_to(38.0)
        ctx.emit(Planned(ctx.scheduler.now, station, lambda m: _heating(m).reading(ctx.scheduler.now)))

    def warm() -> None:
        model.recover()
        ctx.emit(Planned(ctx.scheduler.now, station, lambda m: _heating(m).reading(ctx.scheduler.now)))

    ctx.scheduler.at(t0, cold)
    ctx.scheduler.at(t0 + HOUR, warm)


def _lift(model: KindModel) -> ElevatorModel:
    assert isinstance(model, ElevatorModel)
    return model


def _water(model: KindModel) -> WaterModel:
    assert isinstance(model, WaterModel)
    return model


def _heating(model: KindModel) -> HeatingModel:
    assert isinstance(model, HeatingModel)
    return model


# --- the named scenarios -----------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    install: Callable[[SimContext], None]


def _community(ctx: SimContext) -> None:
    install_heartbeats(ctx)
    install_daily_life(ctx, incidents=True)
    install_opening_press(ctx)


def _sos(ctx: SimContext) -> None:
    install_heartbeats(ctx)
    install_sos_script(ctx)


def _offline(ctx: SimContext) -> None:
    install_heartbeats(ctx)
    install_daily_life(ctx, incidents=False)
    install_offline_script(ctx)


def _faults(ctx: SimContext) -> None:
    install_heartbeats(ctx)
    install_daily_life(ctx, incidents=False)
    install_fault_mix(ctx)


def _after_heartbeats(install: Callable[[SimContext], None]) -> Callable[[SimContext], None]:
    """An equipment incident on a quiet community: every device heartbeats (nothing goes offline by timeout),
    and the incident's script plays."""
    def scenario(ctx: SimContext) -> None:
        install_heartbeats(ctx)
        install(ctx)

    return scenario


_lift_trapped = _after_heartbeats(install_lift_trapped)
_water_outage = _after_heartbeats(install_water_outage)
_heating_cold = _after_heartbeats(install_heating_cold)


def _rules(ctx: SimContext) -> None:
    """Every rule script in turn, for a demo that shows each built-in alert once."""
    install_heartbeats(ctx)
    install_all_rule_scripts(ctx)


def _rule_scenario(script: RuleScript) -> Scenario:
    """`rule-<id>`: heartbeats (nothing goes offline by timeout) and that rule's script alone."""

    def install(ctx: SimContext) -> None:
        install_heartbeats(ctx)
        install_rule_script(ctx, script, ctx.scheduler.now + LEAD_S)

    return Scenario(script.scenario, f"{script.rule}: {script.summary}", install)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "community",
            "daily rhythm of the sample community: traffic, heartbeats, rare incidents",
            _community,
        ),
        Scenario("sos", "heartbeats and a few elder-button presses (one repeated, two cancelled)", _sos),
        Scenario(
            "offline", "daily rhythm while devices drop (will fires) or go silent; some return", _offline
        ),
        Scenario("faults", "daily rhythm interleaved with every bad-input and device fault class", _faults),
        Scenario("lift-trapped", "heartbeats; a lift stops between floors with people inside, freed 25 min later",
                 _lift_trapped),
        Scenario("water-outage", "heartbeats; the pump room's supply is cut for two hours, then restored",
                 _water_outage),
        Scenario("heating-cold", "heartbeats; the heating supply falls to 38 °C for an hour", _heating_cold),
        Scenario("rules", "heartbeats and a short script per built-in rule, each making that rule fire", _rules),
        *(_rule_scenario(script) for script in RULE_SCRIPTS.values()),
    )
}
LOAD_SCENARIO = "load"
SCENARIO_NAMES: tuple[str, ...] = (*SCENARIOS, LOAD_SCENARIO)
