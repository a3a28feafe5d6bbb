"""One short script per built-in rule (`rules/builtin.yaml`): the scenario `rule-<rule id>` plays it.

Each script is the smallest believable story that makes its rule fire, and no
other built-in rule: an elder presses and presses again, a gate is propped open
for 90 s, a visitor's car drives in and is still there hours later. The scenario
`rules` plays every script, one every few simulated minutes, for a demo that
shows each alert once.

What the scripts rely on, and why:

- Every device heartbeats (as in `sos`), so nothing goes offline by timeout
  during a long run and `elder-button-offline` fires only where a script drops
  a button.
- No daily traffic: residents' denied passes, unrecognised visitors' faces and
  cars parked overnight would fire the count, night and overstay rules at random.
- The gateway's watchlists (the database's, which the rule engine reads) hold
  `SCENARIO_WATCHLISTS`: the blacklisted plate, the watched person and one
  resident's plate. Without them the three watchlist rules stay silent.
- The gateway's timers run on its own (real) clock, not the simulated one: a
  duration or absence rule fires `longer_than`/`for` after its start in real
  time, whatever `--speed`. The scripts only leave the end event out (the car
  never drives out); keep the run going that long.
- `face-unknown-night` reads the event time (`ts`). Outside 22:00-06:00 (site
  time) the camera uploads the capture it buffered overnight, stamped 23:40 last
  night, so the scenario shows the rule at any hour.
- Device choices name the sample community's devices; with another site file a
  device of the same kind is used instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo

from devices.heating import in_heating_season
from simulators.incidents import fence_alarm, fence_restore
from simulators.kinds import (
    AccessGateModel,
    ElderButtonModel,
    ElevatorModel,
    FaceCameraModel,
    FenceModel,
    HeatingModel,
    KindModel,
    PlateCameraModel,
    WaterModel,
)
from simulators.messages import Message, epoch_ms
from simulators.population import home_courtyard
from simulators.world import MessageMaker, Planned

if TYPE_CHECKING:
    from simulators.scenarios import SimContext

BLACKLISTED_PLATE = "辽A7X613"
"""On the `blacklist` watchlist: the car `plate-blacklist` is about."""
WATCHED_PERSON = "W0417"
"""On the `watchlist` watchlist: the person `face-watchlist` is about."""
RESIDENT_PLATE = "辽E5N208"
"""On the `residents` watchlist: parks overnight without raising `vehicle-overstay`."""
VISITOR_PLATE = "吉A3F719"
"""On no list: the visitor's car that `vehicle-overstay` reports."""
EXPIRED_CARD = "5A3C91E0"
"""The card refused five times in a row at one gate (`gate-denied-burst`)."""

SCENARIO_WATCHLISTS: dict[str, frozenset[str]] = {
    "blacklist": frozenset({BLACKLISTED_PLATE}),
    "watchlist": frozenset({WATCHED_PERSON}),
    "residents": frozenset({RESIDENT_PLATE}),
}
"""What the rule scenarios expect the gateway's watchlists to hold (names from `rules/builtin.yaml`)."""

LEAD_S = 30.0
"""Simulated seconds between the start of a run and a script's first step: the devices are online by then."""
RULES_SPACING_S = 180.0
"""In `rules`, simulated seconds between one script's start and the next."""
NIGHT_CAPTURE = time(23, 40)
NIGHT_FROM, NIGHT_TO = time(22, 0), time(6, 0)

M = TypeVar("M")
Action = Callable[[], None]
Step = tuple[float, Action]
"""(simulated seconds after the script starts, what happens then)."""


@dataclass(frozen=True)
class RuleScript:
    """The script of one built-in rule: what happens, and which rules it makes fire."""

    rule: str
    summary: str
    build: Callable[[SimContext], list[Step]]
    also_fires: tuple[str, ...] = ()
    """Rules that cannot help firing too (a fence intrusion before its capture is itself a fence alarm)."""

    @property
    def scenario(self) -> str:
        """Its `--scenario` name."""
        return f"rule-{self.rule}"


# --- helpers -----------------------------------------------------------------------------------------


def pick(ctx: SimContext, kind: str, preferred: str, index: int = 0) -> str:
    """`preferred` if the site has it, else the `index`-th device of `kind` (so any site file works)."""
    ids = sorted(d for d, m in ctx.world.models.items() if m.kind == kind)
    if not ids:
        raise ValueError(f"site {ctx.world.layout.site} has no {kind} for this scenario")
    return preferred if preferred in ids else ids[index % len(ids)]


def capture_camera_in_grid(ctx: SimContext, grid: str | None, preferred: str) -> str:
    """A face camera in `grid` (the correlation is per grid), `preferred` first."""
    faces = sorted(d for d, m in ctx.world.models.items() if m.kind == "face_camera")
    devices = ctx.world.layout.devices
    same_grid = [d for d in faces if devices[d].grid == grid]
    if preferred in same_grid:
        return preferred
    return (same_grid or faces or [pick(ctx, "face_camera", preferred)])[0]


def send(ctx: SimContext, device: str, message: MessageMaker) -> Action:
    """An action that sends `message` from `device` when it runs (made from the model then, if callable)."""
    return lambda: ctx.emit(Planned(ctx.scheduler.now, device, message))


def model_of(ctx: SimContext, device: str, cls: type[M]) -> M:
    """The device's state model, checked to be of the kind the script needs."""
    model = ctx.world.models[device]
    if not isinstance(model, cls):
        raise TypeError(f"{device} is not a {cls.__name__}")
    return model


def night_ts_ms(now_ms: int, timezone: str, offset_s: float = 0.0) -> int:
    """`now_ms` when that is between 22:00 and 06:00 at the site; otherwise 23:40 last night (+ `offset_s`).

    A camera that buffered a capture uploads it with the time it was taken;
    that is how the night rule can be shown in the daytime.
    """
    tz = ZoneInfo(timezone)
    local = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(tz)
    if local.time() >= NIGHT_FROM or local.time() < NIGHT_TO:
        return now_ms
    last_night = datetime.combine(local.date() - timedelta(days=1), NIGHT_CAPTURE, tzinfo=tz)
    return int((last_night.timestamp() + offset_s) * 1000)


# --- the scripts, in the order of rules/builtin.yaml --------------------------------------------------


def _elder_sos(ctx: SimContext) -> list[Step]:
    button = pick(ctx, "elder_button", "eb-01-2-402")
    return [(0, send(ctx, button, Message.event("press"))),
            (120, send(ctx, button, Message.event("press")))]  # nobody there yet: presses again


def _elder_button_offline(ctx: SimContext) -> list[Step]:
    button = pick(ctx, "elder_button", "eb-12-2-501", 1)
    return [(0, lambda: ctx.fleet.drop(button, abrupt=True))]  # unplugged: the broker sends its will




def _elder_welfare_check(ctx: SimContext) -> list[Step]:
    """Heartbeats prove the buttons alive, not the elders; two elders living alone go out, nobody presses."""
    watched = sorted((p for p in ctx.world.site.persons if p.welfare_check), key=lambda p: p.id)
    if not watched:
        return []
    by_id = {p.id: p for p in watched}
    recognised = by_id.get("E12-3-301", watched[0])  # 胡玉兰, at the south gate's camera
    with_card = [p for p in watched if p.credentials and p is not recognised]
    camera = pick(ctx, "face_camera", "face-main-s")
    steps: list[Step] = [(0, send(ctx, camera, model_of(ctx, camera, FaceCameraModel).recognised(recognised.id, 0.91)))]
    if with_card:  # 余庆祥 shows his card at his courtyard's gate
        walker = by_id.get("E02-1-102", with_card[0])
        home = home_courtyard(ctx.world.layout, walker)
        gate = home.gate if home is not None else pick(ctx, "access_gate", "gate-main-s")
        passage = model_of(ctx, gate, AccessGateModel).passage("out", "card", walker.credentials[0])
        steps.append((60, send(ctx, gate, passage)))
    return steps


def _fence_offline(ctx: SimContext) -> list[Step]:
    host = pick(ctx, "fence", "fence-s", 2)
    return [(0, lambda: ctx.fleet.drop(host, abrupt=True)),  # its mains and battery both gone: the will fires
            (240, lambda: ctx.fleet.restore(host))]  # repaired


def _device_offline(ctx: SimContext) -> list[Step]:
    gate = pick(ctx, "access_gate", "gate-y06", 6)
    return [(0, lambda: ctx.fleet.drop(gate, abrupt=True)),  # the courtyard's switch was unplugged
            (240, lambda: ctx.fleet.restore(gate))]  # plugged in again


def _battery_low(ctx: SimContext) -> list[Step]:
    button = pick(ctx, "elder_button", "eb-24-3-101", 2)
    model = model_of(ctx, button, ElderButtonModel)

    def old_cell_fails() -> None:
        model.battery = min(model.battery, 21.0)
        model.start_fast_drain(20.0, floor=15.0)  # the heartbeats read 21, 20, 19 ... and stay above critical

    return [(0, old_cell_fails)]


def _battery_critical(ctx: SimContext) -> list[Step]:
    button = pick(ctx, "elder_button", "eb-05-2-602", 3)
    model = model_of(ctx, button, ElderButtonModel)

    def cell_collapses() -> None:
        model.battery = 8.0  # a cold night: the next heartbeat reads 8 %
        model.start_fast_drain(0.0, floor=8.0)

    return [(0, cell_collapses)]


def _device_tamper(ctx: SimContext) -> list[Step]:
    gate = pick(ctx, "access_gate", "gate-y05", 5)
    return [(0, send(ctx, gate, model_of(ctx, gate, AccessGateModel).tamper()))]


def _device_fault(ctx: SimContext) -> list[Step]:
    camera = pick(ctx, "face_camera", "face-y05", 3)
    return [(0, send(ctx, camera, Message.telemetry("heartbeat", fault="E17 ir_led"))),
            (120, send(ctx, camera, Message.telemetry("heartbeat", fault="E17 ir_led")))]  # same code: one alert


def _device_flapping(ctx: SimContext) -> list[Step]:
    gate = pick(ctx, "access_gate", "gate-y09", 8)
    steps: list[Step] = []
    for n in range(4):  # a loose network cable: four drops in four minutes
        steps += [(60 * n, lambda: ctx.fleet.drop(gate, abrupt=True)), (60 * n + 30, lambda: ctx.fleet.restore(gate))]
    return steps


def _gate_forced_open(ctx: SimContext) -> list[Step]:
    gate = pick(ctx, "access_gate", "gate-y07")
    return [(0, send(ctx, gate, model_of(ctx, gate, AccessGateModel).forced_open()))]


def _gate_held_open(ctx: SimContext) -> list[Step]:
    gate = pick(ctx, "access_gate", "gate-y03")
    model = model_of(ctx, gate, AccessGateModel)
    return [(0, send(ctx, gate, model.held_open(40))),  # a delivery cart: under the 60 s limit
            (180, send(ctx, gate, model.held_open(90)))]  # propped open


def _gate_denied_burst(ctx: SimContext) -> list[Step]:
    gate = pick(ctx, "access_gate", "gate-main-s")
    denied = model_of(ctx, gate, AccessGateModel).passage("in", "card", EXPIRED_CARD, "denied")
    return [(dt, send(ctx, gate, denied)) for dt in (0, 15, 35, 60, 90)]


def _gate_tamper(ctx: SimContext) -> list[Step]:
    gate = pick(ctx, "access_gate", "gate-y10")
    return [(0, send(ctx, gate, model_of(ctx, gate, AccessGateModel).tamper()))]


def _plate_blacklist(ctx: SimContext) -> list[Step]:
    camera = pick(ctx, "plate_camera", "lpr-s")
    model = model_of(ctx, camera, PlateCameraModel)
    return [(0, send(ctx, camera, model.plate(BLACKLISTED_PLATE, "blue", "in", 0.97))),
            (300, send(ctx, camera, model.plate(BLACKLISTED_PLATE, "blue", "out", 0.96)))]  # turned away


def _plate_blacklist_possible(ctx: SimContext) -> list[Step]:
    camera = pick(ctx, "plate_camera", "lpr-s")
    model = model_of(ctx, camera, PlateCameraModel)
    misread = BLACKLISTED_PLATE.replace("1", "I")  # a dirty "1" read as "I": one look-alike away
    other = BLACKLISTED_PLATE[:-2] + "99"  # two characters away: just another car
    return [(0, send(ctx, camera, model.plate(misread, "blue", "in", 0.62))),
            (60, send(ctx, camera, model.plate(other, "blue", "in", 0.97)))]


def _vehicle_overstay(ctx: SimContext) -> list[Step]:
    camera = pick(ctx, "plate_camera", "lpr-s")
    model = model_of(ctx, camera, PlateCameraModel)
    return [(0, send(ctx, camera, model.plate(RESIDENT_PLATE, "blue", "in", 0.98))),  # home for the night
            (60, send(ctx, camera, model.plate(VISITOR_PLATE, "blue", "in", 0.95)))]  # and never drives out


def _face_watchlist(ctx: SimContext) -> list[Step]:
    camera = pick(ctx, "face_camera", "face-main-s")
    return [(0, send(ctx, camera, model_of(ctx, camera, FaceCameraModel).recognised(WATCHED_PERSON, 0.93)))]


def _face_unknown_night(ctx: SimContext) -> list[Step]:
    camera = pick(ctx, "face_camera", "face-y08")
    model = model_of(ctx, camera, FaceCameraModel)
    look_alike = next((r.person_id for r in ctx.world.residents), "R01001")
    timezone = ctx.world.layout.timezone

    def at_night(message: Message, offset_s: float) -> MessageMaker:
        return lambda _model: replace(message, ts_ms=night_ts_ms(epoch_ms(), timezone, offset_s))

    return [(0, send(ctx, camera, at_night(model.snapshot_only(), 0))),  # not recognised at all
            (45, send(ctx, camera, at_night(model.recognised(look_alike, 0.52), 45)))]  # a poor match


def _fence_alarm(ctx: SimContext) -> list[Step]:
    host = pick(ctx, "fence", "fence-w", 3)
    zone = _zone(ctx, host, "W3")
    return [(0, send(ctx, host, fence_alarm(zone, "intrusion"))),
            (240, send(ctx, host, fence_restore(zone)))]  # the patrol checked the wall


def _fence_power_loss(ctx: SimContext) -> list[Step]:
    dipped = pick(ctx, "fence", "fence-s", 2)
    dip_zone = _zone(ctx, dipped, "S2")
    host = pick(ctx, "fence", "fence-e", 0)
    steps: list[Step] = [(0, send(ctx, dipped, fence_alarm(dip_zone, "power_loss"))),
                         (30, send(ctx, dipped, fence_restore(dip_zone)))]  # a dip: no alert
    if host != dipped:  # the host loses mains power: every zone alarms, and nothing is restored
        zones = model_of(ctx, host, FenceModel).zones
        steps += [(60, send(ctx, host, fence_alarm(z, "power_loss"))) for z in zones]
    return steps


def _fence_alarm_then_capture(ctx: SimContext) -> list[Step]:
    host = pick(ctx, "fence", "fence-n", 1)
    zone = _zone(ctx, host, "N2")
    camera = capture_camera_in_grid(ctx, ctx.world.layout.devices[host].grid, "face-main-n")
    passer_by = next((r.person_id for r in ctx.world.residents), "R01001")
    face = model_of(ctx, camera, FaceCameraModel).recognised(passer_by, 0.86)  # recognised: not a night stranger
    return [(0, send(ctx, host, fence_alarm(zone, "intrusion"))),
            (50, send(ctx, camera, face)),
            (240, send(ctx, host, fence_restore(zone)))]


def _unrecognised_alarm(ctx: SimContext) -> list[Step]:
    button = pick(ctx, "elder_button", "eb-07-2-502", 7)
    return [(0, send(ctx, button, Message.event("LONG_PRESS_ALARM")))]  # new firmware: a type nobody mapped


def _messages_rejected(ctx: SimContext) -> list[Step]:
    gate = pick(ctx, "access_gate", "gate-y11", 10)
    dump = Message.telemetry("diag_dump", stage="boot")  # a firmware update left its debug output on
    return [(0.5 * n, send(ctx, gate, dump)) for n in range(70)]


# --- building equipment: lifts, water, heating ----------------------------------------------------------


def season_ts_ms(now_ms: int, timezone: str) -> int:
    """`now_ms` in the heating season (`devices.heating.SEASON`, by the site's date); otherwise the same time of
    day on the last 15 January: the substation's logger uploads a reading of last winter's cold spell, so the
    seasonal rules can be shown (and tested) in summer too, as the night rule is by day."""
    tz = ZoneInfo(timezone)
    local = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(tz)
    if in_heating_season(local.date()):
        return now_ms
    january = datetime.combine(date(local.year, 1, 15), local.timetz())
    return int(january.timestamp() * 1000)


def _heating_held(ctx: SimContext, device: str, supply_c: float, return_c: float) -> list[Step]:
    """The loop stands at (supply, return) from now on; the first reading says so at once (stamped in season)."""
    model = model_of(ctx, device, HeatingModel)
    timezone = ctx.world.layout.timezone

    def start() -> None:
        model.hold(supply_c, return_c)

    def reading(m: KindModel) -> Message:
        assert isinstance(m, HeatingModel)
        return replace(m.reading(ctx.scheduler.now), ts_ms=season_ts_ms(epoch_ms(), timezone))

    return [(0, start), (0, send(ctx, device, reading))]


def _lift_trapped(ctx: SimContext) -> list[Step]:
    lift = pick(ctx, "elevator", "lift-b20")
    model = model_of(ctx, lift, ElevatorModel)
    return [(0, send(ctx, lift, lambda _m: model.trapped())),  # the alarm button in the car
            (240, send(ctx, lift, lambda _m: model.restore()))]  # the lift company freed them


def _lift_trapped_repair(ctx: SimContext) -> list[Step]:
    lift = pick(ctx, "elevator", "lift-b23", 4)
    model = model_of(ctx, lift, ElevatorModel)
    return [(0, send(ctx, lift, lambda _m: model.trapped())),
            (300, send(ctx, lift, lambda _m: model.restore()))]


def _lift_out_of_service(ctx: SimContext) -> list[Step]:
    lift = pick(ctx, "elevator", "lift-b22", 3)
    model = model_of(ctx, lift, ElevatorModel)
    return [(0, send(ctx, lift, lambda _m: model.take_out_of_service()))]  # switched off for repair, and left so


def _lift_door_open_while_running(ctx: SimContext) -> list[Step]:
    lift = pick(ctx, "elevator", "lift-b21", 2)
    return [(0, send(ctx, lift, lambda m: model_of(ctx, lift, ElevatorModel).fault("door_open_while_running")))]


def _lift_fault(ctx: SimContext) -> list[Step]:
    lift = pick(ctx, "elevator", "lift-b24", 5)
    model = model_of(ctx, lift, ElevatorModel)
    return [(0, send(ctx, lift, lambda _m: model.fault("overspeed"))),  # the governor tripped: the car stands
            (180, send(ctx, lift, lambda _m: model.restore()))]  # reset by the lift company


def _water_supply_interrupted(ctx: SimContext) -> list[Step]:
    pump = pick(ctx, "water", "water-pump-s")
    model = model_of(ctx, pump, WaterModel)
    return [(0, send(ctx, pump, lambda _m: model.interrupt("pump_fault"))),
            (300, send(ctx, pump, lambda _m: model.restore()))]  # the standby pump started


def _water_pressure_low(ctx: SimContext) -> list[Step]:
    pump = pick(ctx, "water", "water-pump-s")
    model = model_of(ctx, pump, WaterModel)

    def weak_pump() -> None:
        model.hold_pressure(0.11)  # a worn impeller: the outlet stands at 0.11 MPa

    return [(0, weak_pump), (0, send(ctx, pump, lambda _m: model.reading(ctx.scheduler.now)))]


def _water_tank_low(ctx: SimContext) -> list[Step]:
    pump = pick(ctx, "water", "water-pump-s")
    model = model_of(ctx, pump, WaterModel)

    def float_valve_stuck() -> None:
        model.hold_level(17.0)

    return [(0, float_valve_stuck), (0, send(ctx, pump, lambda _m: model.reading(ctx.scheduler.now)))]


def _water_leak(ctx: SimContext) -> list[Step]:
    pump = pick(ctx, "water", "water-pump-s")
    return [(0, send(ctx, pump, model_of(ctx, pump, WaterModel).leak("泵房地面")))]


def _heating_supply_cold(ctx: SimContext) -> list[Step]:
    return _heating_held(ctx, pick(ctx, "heating", "heat-st-1"), 40.0, 32.0)  # short of heat: 40 °C out, 32 back


def _heating_pressure_drop(ctx: SimContext) -> list[Step]:
    station = pick(ctx, "heating", "heat-st-1")
    model = model_of(ctx, station, HeatingModel)

    def losing_water() -> None:
        model.lose_pressure(0.12)  # a burst radiator somewhere: the loop drains to 0.12 MPa

    return [(0, losing_water), (0, send(ctx, station, lambda _m: model.reading(ctx.scheduler.now)))]


def _heating_leak(ctx: SimContext) -> list[Step]:
    station = pick(ctx, "heating", "heat-st-1")
    return [(0, send(ctx, station, model_of(ctx, station, HeatingModel).leak("20号楼地下室供水干管")))]


def _heating_fault(ctx: SimContext) -> list[Step]:
    station = pick(ctx, "heating", "heat-st-1")
    return [(0, send(ctx, station, model_of(ctx, station, HeatingModel).fault("circulation_pump")))]


def _heating_spread_low(ctx: SimContext) -> list[Step]:
    return _heating_held(ctx, pick(ctx, "heating", "heat-st-1"), 52.0, 49.0)  # a bypass left open: 3 °C spread


def _heating_spread_high(ctx: SimContext) -> list[Step]:
    return _heating_held(ctx, pick(ctx, "heating", "heat-st-1"), 62.0, 34.0)  # a weak pump: 28 °C spread


def _zone(ctx: SimContext, host: str, preferred: str) -> str:
    zones: Sequence[str] = model_of(ctx, host, FenceModel).zones
    return preferred if preferred in zones else zones[0]


RULE_SCRIPTS: dict[str, RuleScript] = {
    s.rule: s
    for s in (
        RuleScript("elder-sos", "an elder presses the button, and again two minutes later (one alert, count 2)",
                   _elder_sos),
        RuleScript("elder-button-offline", "an elder button drops off the network (its will says offline)",
                   _elder_button_offline),
        RuleScript("elder-welfare-check",
                   "heartbeats only, no press; two elders living alone go out (a face at the south gate, a card at "
                   "a courtyard gate): 48 h after they were last seen, every elder living alone is due a visit",
                   _elder_welfare_check),
        RuleScript("fence-offline", "the south fence host drops off the network (its will says offline)",
                   _fence_offline),
        RuleScript("device-offline", "a courtyard gate drops off the network (its will says offline)",
                   _device_offline),
        RuleScript("battery-low",
                   "a button's old cell (21 %) starts failing; a few minutes on, a heartbeat reads 19 %",
                   _battery_low),
        RuleScript("battery-critical", "a button's cell collapses on a cold night: the next heartbeat reads 8 %",
                   _battery_critical),
        RuleScript("device-tamper", "a courtyard gate's reader is pried open (also the patrol's gate-tamper)",
                   _device_tamper, also_fires=("gate-tamper",)),
        RuleScript("device-fault", "a courtyard camera reports fault E17 (IR LED), and again 2 min later",
                   _device_fault),
        RuleScript("device-flapping", "a gate with a loose cable drops and comes back four times in four minutes",
                   _device_flapping, also_fires=("device-offline",)),
        RuleScript("messages-rejected", "a gate's firmware update leaves a debug dump on: 70 unknown messages in 35 s",
                   _messages_rejected),
        RuleScript("gate-forced-open", "a courtyard gate is forced open", _gate_forced_open),
        RuleScript("gate-held-open", "a gate held open 40 s by a delivery (no alert), 3 min later propped open 90 s",
                   _gate_held_open),
        RuleScript("gate-denied-burst", "an expired card refused five times in 90 s at the south main gate",
                   _gate_denied_burst),
        RuleScript("gate-tamper", "a courtyard gate's reader is tampered with (also maintenance's device-tamper)",
                   _gate_tamper, also_fires=("device-tamper",)),
        RuleScript("plate-blacklist",
                   "a blacklisted car drives in at the south entrance, turned away 5 min later (one alert, count 2)",
                   _plate_blacklist),
        RuleScript("plate-blacklist-possible",
                   "the south camera reads the blacklisted plate with its 1 as an I (a possible match), "
                   "then a car two characters away (no alert)", _plate_blacklist_possible),
        RuleScript("vehicle-overstay",
                   "a resident's car and a visitor's drive in and stay; only the visitor's is reported after 4 h",
                   _vehicle_overstay),
        RuleScript("face-watchlist", "the south gate camera recognises a watchlisted person", _face_watchlist),
        RuleScript("face-unknown-night",
                   "at night a courtyard camera captures a face it cannot recognise, then a poor match",
                   _face_unknown_night),
        RuleScript("fence-alarm", "an intrusion on the west wall, restored after the patrol's check",
                   _fence_alarm),
        RuleScript("fence-power-loss",
                   "a 30 s power dip on the south fence (no alert), then the east host loses power for good",
                   _fence_power_loss),
        RuleScript("fence-alarm-then-capture",
                   "an intrusion on the north wall, then the north gate camera captures a face 50 s later",
                   _fence_alarm_then_capture, also_fires=("fence-alarm",)),
        RuleScript("unrecognised-alarm",
                   "a button on new vendor firmware sends an alarm of a type nobody mapped (LONG_PRESS_ALARM)",
                   _unrecognised_alarm),
        RuleScript("lift-trapped", "people are trapped in building 20's lift; freed 4 min later",
                   _lift_trapped, also_fires=("lift-trapped-repair",)),
        RuleScript("lift-trapped-repair", "people are trapped in building 23's lift; freed 5 min later",
                   _lift_trapped_repair, also_fires=("lift-trapped",)),
        RuleScript("lift-out-of-service", "building 22's lift is switched off for repair and left so",
                   _lift_out_of_service),
        RuleScript("lift-door-open-while-running", "building 21's lift moves with its door open",
                   _lift_door_open_while_running),
        RuleScript("lift-fault", "building 24's lift overspeeds (the governor trips); reset 3 min later",
                   _lift_fault),
        RuleScript("water-supply-interrupted", "the south pump room's pump fails: no water for 5 min",
                   _water_supply_interrupted),
        RuleScript("water-pressure-low", "a worn pump holds the south pump room's outlet at 0.11 MPa",
                   _water_pressure_low),
        RuleScript("water-tank-low", "the tank's float valve sticks: the level stands at 17 %", _water_tank_low),
        RuleScript("water-leak", "the pump room floor's leak sensor is wet", _water_leak),
        RuleScript("heating-supply-cold", "the substation's supply falls to 40 °C and stays there",
                   _heating_supply_cold),
        RuleScript("heating-pressure-drop", "the heating loop loses water: its pressure falls to 0.12 MPa",
                   _heating_pressure_drop),
        RuleScript("heating-leak", "a leak sensor under building 20's heating main is wet", _heating_leak),
        RuleScript("heating-fault", "the substation's circulation pump reports a fault", _heating_fault),
        RuleScript("heating-spread-low", "a bypass is left open: supply 52 °C, return 49 °C",
                   _heating_spread_low),
        RuleScript("heating-spread-high", "a weak circulation pump: supply 62 °C, return 34 °C",
                   _heating_spread_high),
    )
}


def install_rule_script(ctx: SimContext, script: RuleScript, start: float) -> None:
    """Schedule `script`'s steps from simulated time `start`."""
    for dt, action in script.build(ctx):
        ctx.scheduler.at(start + dt, action)


def install_all_rule_scripts(ctx: SimContext) -> None:
    """Every script, one every `RULES_SPACING_S`, in the order of the built-in pack."""
    start = ctx.scheduler.now + LEAD_S
    for script in RULE_SCRIPTS.values():
        install_rule_script(ctx, script, start)
        start += RULES_SPACING_S
