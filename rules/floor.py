"""The safety floor: the few built-in rules that no configuration can weaken.

An elder's SOS, a cut or climbed perimeter fence and an alarm the gateway
could not understand are what a community runs Anju for. A rule file is
ordinary configuration, copied, trimmed and uploaded by people tidying up
noise; one `enabled: false`, one `severity: minor`, one `scope` left over from
a test would silently cost the alarm that matters most. So the built-in
definitions of these rules (`FLOOR_IDS`, in rules/builtin.yaml) are a floor:

* a rule file may restate a floor rule (another title, a higher severity, a
  finer dedup key), but a restatement that disables, downgrades, makes it
  silenceable, routes it away from the patrol, narrows where or when it
  applies, merges what the built-in keeps apart, or no longer matches the
  alarms it is about is refused, each with its line (`rules.loader.check_text`,
  hence `anju rules check`, the API and the gateway at start-up alike);
* a rule set that simply leaves a floor rule out gets the built-in one back
  (`with_floor`, used for the configured pack and for the API's composition).

"No longer matches" is judged by probing: the restated condition is run,
with the runtime's own pure matching, against canonical alarms from arbitrary
devices, sites, grids and zones (`probes`), under empty and under all-including
watchlists; it must match every probe. What passes here is what fires there.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernel.vocabulary import SEVERITIES
from rules import yamlsource
from rules.matchers import lookup
from rules.schema import DAYS, EventMatch, Rule, RuleFile, Scope

log = logging.getLogger(__name__)

ELDER_SOS = "elder-sos"
FENCE_ALARM = "fence-alarm"
UNRECOGNISED_ALARM = "unrecognised-alarm"
FLOOR_IDS: tuple[str, ...] = (ELDER_SOS, FENCE_ALARM, UNRECOGNISED_ALARM)
"""The built-in rules that form the floor."""
DOC = "docs/rules.md#the-safety-floor"


def safety_kinds() -> list[str]:
    """Kinds whose unrecognised alarms the floor covers: the drivers marked `safety` (read on each call, so a
    plugin's safety kind is covered as soon as it is installed)."""
    from devices import DRIVERS

    return list(dict.fromkeys(driver.canonical for driver in DRIVERS.values() if driver.safety))
_BUILTIN = Path(__file__).resolve().parent / "builtin.yaml"

Loc = tuple[str | int, ...]
"""A key's path inside one rule (`("scope", "sites")`), which the loader turns into a line."""


@dataclass(frozen=True, slots=True)
class Probe:
    """One alarm a floor rule must always raise an alert for: a message from an arbitrary device."""

    what: str
    """How a refusal names it: "a fence alarm with cause cut in zone N1"."""
    kind: str
    type: str
    data: Mapping[str, Any] = field(default_factory=dict)
    site: str = "floor-probe-site"
    grid: str | None = "floor-probe-grid"
    zone: str | None = None
    device: str = "floor-probe-device"


def _fence(cause: str, zone: str) -> Probe:
    return Probe(f"a fence alarm with cause {cause} in zone {zone}", "fence", "alarm", {"zone": zone, "cause": cause},
                 site="any-site", grid=None, device="any-fence-host")


def _unrecognised(kind: str) -> Probe:
    return Probe(f"an unrecognised alarm from kind {kind}", kind, "unrecognised_alarm",
                 {"original_type": "probe_alarm", "reason": "unknown type", "detail": "floor probe"})


def probes(rule_id: str) -> tuple[Probe, ...]:
    """The alarms `rule_id` must match; a function, since a new safety kind's driver may appear at run time."""
    if rule_id == ELDER_SOS:
        return (Probe("a press from any button", "elder_button", "press"),
                Probe("a press carrying more fields", "elder_button", "press",
                      {"battery": 80, "button": 1, "vendor": "probe"}, site="another-site", grid=None,
                      zone="probe-zone", device="another-button"))
    if rule_id == FENCE_ALARM:
        return tuple(_fence(cause, zone) for cause in ("intrusion", "cut") for zone in ("N1", "7", "floor-probe-zone"))
    if rule_id == UNRECOGNISED_ALARM:
        return tuple(_unrecognised(kind) for kind in safety_kinds())
    return ()


_ABOUT = {
    ELDER_SOS: "every elder_button press, from any button, site or grid",
    FENCE_ALARM: "every fence alarm with cause intrusion or cut, in any zone of any fence host",
    UNRECOGNISED_ALARM: "every unrecognised_alarm of a safety device (the kinds whose driver says `safety`)",
}


class _Everything(frozenset[str]):
    """A watchlist holding every value: a `not_on_watchlist` then rejects everything."""

    def __contains__(self, item: object) -> bool:
        return True


class _AllListed(Mapping[str, frozenset[str]]):
    """Every watchlist full: with the empty mapping, the two extremes a floor condition must match under."""

    def __getitem__(self, key: str) -> frozenset[str]:
        return _Everything()

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


_WATCHLISTS: tuple[Mapping[str, Any], ...] = ({}, _AllListed())


@functools.cache
def builtin_floor() -> dict[str, Rule]:
    """The floor rules as rules/builtin.yaml defines them (read once; parsed directly, since the loader's check
    itself asks the floor)."""
    text = _BUILTIN.read_text(encoding="utf-8")
    node = yamlsource.compose(text)
    data = yamlsource.construct(text, node) if node is not None else None
    rules = {rule.id: rule for rule in RuleFile.model_validate(data).rules}
    missing = [rule_id for rule_id in FLOOR_IDS if rule_id not in rules]
    if missing:
        raise RuntimeError(f"rules/builtin.yaml lacks the safety floor rule(s) {', '.join(missing)}")
    return {rule_id: rules[rule_id] for rule_id in FLOOR_IDS}


def is_floor(rule_id: str) -> bool:
    return rule_id in FLOOR_IDS


Refuse = Callable[[Loc, str], None]
"""`weakenings`'s `refuse(loc, what)`, which the checks below call for each weakening they find."""


def weakenings(rule: Rule) -> list[tuple[Loc, str]]:
    """Why `rule` (a restated floor rule) would weaken the floor: (key path in the rule, reason) each; [] if not.

    A rule whose id is not a floor id never weakens it.
    """
    if rule.id not in FLOOR_IDS:
        return []
    floor = builtin_floor()[rule.id]
    found: list[tuple[Loc, str]] = []

    def refuse(loc: Loc, what: str) -> None:
        found.append((loc, f"`{rule.id}` is part of the safety floor: {what} ({DOC})"))

    if not rule.enabled:
        refuse(("enabled",), "it cannot be disabled")
    if SEVERITIES.index(rule.severity) > SEVERITIES.index(floor.severity):
        refuse(("severity",), f"its severity cannot be lower than {floor.severity}; got {rule.severity}")
    if rule.silenceable:
        unset = "" if "silenceable" in rule.model_fields_set else " (`silenceable` defaults to true)"
        refuse(("silenceable",), f"it can never be silenced; write `silenceable: false`{unset}")
    if rule.audience != floor.audience:
        refuse(("audience",), f"it always goes to the {floor.audience} (`audience: {floor.audience}`), "
                              f"not to {rule.audience}")
    _scope(rule, refuse)
    _schedule(rule, refuse)
    _condition(rule, refuse)
    _dedup(rule, floor, refuse)
    return found


def _scope(rule: Rule, refuse: Refuse) -> None:
    scope = rule.scope
    if scope is None:
        return
    for name in ("sites", "grids", "zones", "kinds", "devices"):
        listed = getattr(scope, name)
        if listed is None:
            continue
        alone = Scope.model_validate({name: listed})
        missed = next((p for p in probes(rule.id)
                       if not alone.matches(p.site, p.grid, p.zone, p.kind, p.device, p.data)), None)
        if missed is not None:
            refuse(("scope", name), f"it applies everywhere, so `scope.{name}` cannot narrow it "
                                    f"(it would leave out {missed.what})")


def _schedule(rule: Rule, refuse: Refuse) -> None:
    schedule = rule.schedule
    if schedule is None:
        return
    if set(schedule.days) != set(DAYS):
        refuse(("schedule", "days"), "it applies every day, so `schedule.days` cannot leave days out")
    if schedule.season is not None:
        refuse(("schedule", "season"), f"it applies all year, so `schedule.season` cannot limit it to "
                                       f"{schedule.season.from_} to {schedule.season.to}")
    if schedule.from_ is not None:
        refuse(("schedule", "from"), f"it applies at every hour, so `schedule` cannot limit it to "
                                     f"{schedule.from_}-{schedule.to}")


def _condition(rule: Rule, refuse: Refuse) -> None:
    name = rule.condition_name
    if name != "event":
        refuse(("when", name), f"its condition stays an `event` matching {_ABOUT[rule.id]}; a `{name}` "
                               "would not raise an alert for each alarm as it comes")
        return
    match = rule.condition
    if not isinstance(match, EventMatch):  # condition_name said event; never happens
        return
    for probe in probes(rule.id):
        part = _missed_by(match, probe)
        if part is not None:
            where = ".".join(str(p) for p in ("when", "event", *part))
            refuse(("when", "event", *part), f"its condition must match {_ABOUT[rule.id]}; "
                                             f"`{where}` misses {probe.what}")
            return  # one probe says it; the others would repeat the line


def _missed_by(match: EventMatch, probe: Probe) -> Loc | None:
    """The part of `match` that rejects `probe` under some watchlists; None when it matches under all."""
    for watchlists in _WATCHLISTS:
        if match.matches(probe.kind, probe.type, probe.data, watchlists):
            continue
        if match.kind is not None and match.kind != probe.kind:
            return ("kind",)
        if match.type is not None and probe.type not in match.type:
            return ("type",)
        for path, matcher in (match.where or {}).items():
            if not matcher.matches(lookup(probe.data, path), watchlists):
                return ("where", path)
        return ("where_any",)
    return None


def _dedup(rule: Rule, floor: Rule, refuse: Refuse) -> None:
    """Merging more than the built-in does would count one elder's press into another's alert."""
    if rule.dedup.policy == "per_trigger" or floor.dedup.policy == "per_trigger":
        return
    missing = [part for part in floor.dedup.key if part not in rule.dedup.key]
    if missing:
        refuse(("dedup", "key"), f"its alerts stay apart per {', '.join(floor.dedup.key)}; without "
                                 f"{' and '.join(f'`{m}`' for m in missing)} in `dedup.key`, alarms that differ in "
                                 f"{' or '.join(missing)} would merge into one alert")


def with_floor(rules: Sequence[Rule]) -> list[Rule]:
    """`rules` with each floor rule they lack added in its built-in form (and any weakened one replaced by it).

    Rule files are checked before they get here, so a weakened floor rule only comes from code that builds
    rules itself; it is replaced rather than trusted.
    """
    floor = builtin_floor()
    result: list[Rule] = []
    for rule in rules:
        if rule.id in floor and weakenings(rule):
            log.error("rule %s weakens the safety floor; the built-in rule is used instead", rule.id)
            result.append(floor[rule.id])
        else:
            result.append(rule)
    present = {rule.id for rule in rules}
    for rule_id in FLOOR_IDS:
        if rule_id not in present:
            log.info("rule %s is not in the configured rules; the built-in one is active (the safety floor)",
                     rule_id)
            result.append(floor[rule_id])
    return result
