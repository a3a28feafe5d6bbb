"""The rule file format: valid rules load, every mistake is reported with its line, matching is pure and right."""

from __future__ import annotations

import io
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kernel.durations import format_duration, parse_duration
from rules.check import main as check_main
from rules.loader import (
    RuleError,
    RuleFileError,
    check_rules,
    check_text,
    format_errors,
    load_rule_files,
    load_rules,
)
from rules.matchers import MISSING, FieldMatcher, lookup
from rules.schema import (
    Absence,
    Correlation,
    Count,
    Dedup,
    Duration,
    EventMatch,
    Schedule,
    Scope,
    Threshold,
    event_zone,
    key_value,
)

BUILTIN = Path(__file__).resolve().parents[2] / "rules" / "builtin.yaml"
WATCHLISTS = {"blacklist": {"辽E12345"}, "watchlist": {"p-007"}, "residents": {"辽E00001"}}


def yaml_text(body: str) -> str:
    return textwrap.dedent(body).lstrip("\n")


def errors_of(text: str) -> list[RuleError]:
    return check_text(text, "r.yaml").errors


# -- valid files ---------------------------------------------------------------------------------

EVERY_KIND = """
rules:
  - id: hexie-sos
    name: 和谐小区一键呼救 / Hexie SOS
    severity: critical
    audience: patrol
    silenceable: false
    scope: {sites: [hexie], grids: [g1], kinds: [elder_button]}
    when:
      event: {kind: elder_button, type: press}
    dedup: {policy: merge, key: [rule, device]}
    message: "{device_name} 呼救"
  - id: fence-low-voltage
    name: Fence voltage low
    severity: minor
    audience: maintenance
    when:
      threshold: {kind: fence, metric: voltage_kv, below: 5.0, for: 5m}
  - id: denied
    name: Denied passes
    severity: major
    when:
      count:
        event: {kind: access_gate, type: pass, where: {result: denied}}
        at_least: 5
        within: 2m
        per: device
  - id: overstay
    name: Overstay
    severity: minor
    when:
      duration:
        start: {kind: plate_camera, type: plate, where: {direction: in}}
        end: {kind: plate_camera, type: plate, where: {direction: out}}
        longer_than: 4h
        per: "field:plate"
  - id: silent
    name: Silent device
    severity: warning
    audience: maintenance
    when:
      absence: {for: 48h}
  - id: fence-then-face
    name: Fence then face
    severity: major
    schedule:
      days: [mon, tue, wed, thu, fri, sat, sun]
      from: 22:00
      to: "06:00"
      timezone: Asia/Shanghai
    when:
      correlation:
        first: {kind: fence, type: alarm}
        then: {type: [face, plate]}
        within: 2m
        same: grid
    dedup: {policy: per_trigger}
"""


def test_every_condition_kind_loads(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml_text(EVERY_KIND), encoding="utf-8")
    assert check_rules(path) == []
    rules = {r.id: r for r in load_rules(path).rules}
    assert [r.condition_name for r in rules.values()] == [
        "event", "threshold", "count", "duration", "absence", "correlation"]
    assert isinstance(rules["hexie-sos"].condition, EventMatch)
    threshold = rules["fence-low-voltage"].condition
    assert isinstance(threshold, Threshold) and threshold.for_ == timedelta(minutes=5)
    count = rules["denied"].condition
    assert isinstance(count, Count) and count.at_least == 5 and count.within == timedelta(minutes=2)
    duration = rules["overstay"].condition
    assert isinstance(duration, Duration) and duration.per == "field:plate" and duration.longer_than.seconds == 4 * 3600
    absence = rules["silent"].condition
    assert isinstance(absence, Absence) and absence.event.is_empty and absence.for_ == timedelta(hours=48)
    correlation = rules["fence-then-face"].condition
    assert isinstance(correlation, Correlation) and correlation.then.types == {"face", "plate"}
    sos = rules["hexie-sos"]
    assert sos.severity == "critical" and sos.silenceable is False and sos.enabled is True
    assert rules["denied"].dedup == Dedup()  # the default: merge by rule and device
    assert rules["fence-then-face"].schedule is not None
    assert rules["fence-then-face"].schedule.from_ == "22:00"  # unquoted 22:00 is not YAML 1.1's base-60 1320


def test_empty_rules_list_is_valid() -> None:
    result = check_text("rules: []\n")
    assert result.ok and result.rule_file is not None and result.rule_file.rules == []


# -- mistakes: each one reported with the right line and a clear reason ---------------------------

def rule_yaml(fields: str) -> str:
    """A file holding one rule `r1`: `rules:` is line 1, `- id: r1` line 2, `name` line 3, `fields` from line 4."""
    return "rules:\n  - id: r1\n    name: R1\n" + textwrap.indent(textwrap.dedent(fields).lstrip("\n"), "    ")


FENCE = "when: {event: {kind: fence}}\n"

MISTAKES = {
    "unknown key": (rule_yaml("""
        severity: major
        silencable: false
        """ + FENCE), 5, "unknown key `silencable` (did you mean `silenceable`?)"),
    "bad duration": (rule_yaml("""
        severity: major
        when:
          absence:
            for: 5 minutes
        """), 7, "bad duration '5 minutes'"),
    "duration without unit": (rule_yaml("""
        severity: major
        when:
          absence: {for: 300}
        """), 6, "a duration is a string with a unit"),
    "zero duration": (rule_yaml("""
        severity: major
        when:
          absence: {for: 0s}
        """), 6, "must be longer than zero"),
    "unknown kind": (rule_yaml("""
        severity: major
        when:
          event:
            kind: elder_buton
        """), 7, "unknown device kind `elder_buton`"),
    "unknown type": (rule_yaml("""
        severity: major
        when:
          event:
            kind: elder_button
            type: pres
        """), 8, "`pres` is not a type of `elder_button`"),
    "type of another kind": (rule_yaml("""
        severity: major
        when:
          event:
            kind: fence
            type:
              - alarm
              - press
        """), 10, "`press` is not a type of `fence`"),
    "unknown metric": (rule_yaml("""
        severity: major
        when:
          threshold:
            kind: elder_button
            metric: voltage_kv
            below: 5
        """), 8, "`voltage_kv` is not a reading of `elder_button`; its readings: battery"),
    "two conditions": (rule_yaml("""
        severity: major
        when:
          event: {kind: fence}
          absence: {for: 1h}
        """), 7, "2 conditions (event, absence) in `when`"),
    "no condition": (rule_yaml("""
        severity: major
        when: {}
        """), 5, "`when`: no condition; give one of: event"),
    "bad severity": (rule_yaml("""
        severity: urgent
        """ + FENCE), 4, "`severity` must be one of critical, major, minor or warning; got 'urgent'"),
    "bad audience": (rule_yaml("""
        severity: major
        audience: police
        """ + FENCE), 5, "`audience` must be one of patrol or maintenance"),
    "missing when": (rule_yaml("""
        severity: major
        """), 2, "missing required key `when`"),
    "bad timezone": (rule_yaml("""
        severity: major
        schedule:
          from: "22:00"
          to: "06:00"
          timezone: Asia/Shangai
        """ + FENCE), 8, "unknown timezone 'Asia/Shangai'"),
    "bad time": (rule_yaml("""
        severity: major
        schedule: {from: "25:00", to: "06:00"}
        """ + FENCE), 5, "bad time '25:00'"),
    "bad day": (rule_yaml("""
        severity: major
        schedule:
          days: [mon, tues]
        """ + FENCE), 6, "`schedule.days[1]` must be one of mon"),
    "bad regex": (rule_yaml("""
        severity: major
        when:
          event:
            kind: plate_camera
            where:
              plate: {matches: "[辽"}
        """), 9, "bad regular expression '[辽'"),
    "unknown operator": (rule_yaml("""
        severity: major
        when:
          event:
            kind: access_gate
            where:
              seconds: {greater: 60}
        """), 9, "unknown key `greater` in `when.event.where.seconds`; allowed: eq, ne, in"),
    "impossible field value": (rule_yaml("""
        severity: major
        when:
          event:
            kind: fence
            type: alarm
            where:
              cause: {in: [intrusion, cutt]}
        """), 10, "`cause` of fence alarm is never 'cutt'"),
    "number compared with text": (rule_yaml("""
        severity: major
        when:
          event:
            kind: access_gate
            where:
              seconds: {gt: sixty}
        """), 9, "expected a number, not 'sixty'"),
    "threshold without limit": (rule_yaml("""
        severity: major
        when:
          threshold: {kind: fence, metric: voltage_kv}
        """), 6, "a threshold needs `below:` or `above:`"),
    "bad per": (rule_yaml("""
        severity: major
        when:
          count:
            event: {kind: access_gate}
            at_least: 3
            within: 1m
            per: building
        """), 10, "`building` is not a grouping"),
    "dedup key without rule": (rule_yaml("""
        severity: major
        when: {event: {kind: fence}}
        dedup:
          key: [device]
        """), 7, "`key` must include `rule`"),
    "empty event matcher": (rule_yaml("""
        severity: major
        when:
          event: {}
        """), 6, "would match every message"),
    "scope excludes the condition": (rule_yaml("""
        severity: major
        scope:
          kinds: [fence]
        when: {event: {kind: elder_button}}
        """), 6, "leaves out elder_button"),
    "bad message template": (rule_yaml("""
        severity: major
        when: {event: {kind: fence}}
        message: "{device_name.__class__}"
        """), 6, "is not a plain name"),
    "bad id": (rule_yaml("""
        severity: major
        """ + FENCE).replace("id: r1", "id: Elder SOS"), 2, "'Elder SOS' is not a valid name"),
    "duplicate id": (rule_yaml("""
        severity: major
        """ + FENCE) + "  - id: r1\n    name: again\n    severity: minor\n    " + FENCE,
                     6, "duplicate rule id `r1` (first at line 2)"),
    "duplicate yaml key": (rule_yaml("""
        severity: major
        severity: minor
        """ + FENCE), 5, "key `severity` written twice (first at line 4)"),
    "yaml syntax error": (rule_yaml("""
        severity: major
        when: {event: {kind: fence}
        """), 6, "YAML syntax error"),
    "tab indentation": (rule_yaml("") + "\tseverity: major\n", 4, "YAML syntax error"),
    "not a rules list": ("rules:\n  id: r1\n", 1, "`rules` must be a list"),
    "unknown top-level key": ("rules: []\nwatchlists: {}\n", 2, "unknown top-level key `watchlists`"),
    "empty file": ("", 1, "empty rule file"),
}


@pytest.mark.parametrize("body,line,reason", MISTAKES.values(), ids=MISTAKES.keys())
def test_each_mistake_is_reported_with_line_and_reason(body: str, line: int, reason: str) -> None:
    errors = errors_of(body)
    assert len(errors) == 1, format_errors(errors)
    assert errors[0].file == "r.yaml"
    assert errors[0].line == line, format_errors(errors)
    assert reason in errors[0].reason, errors[0].reason


def test_a_file_with_three_errors_reports_all_three(tmp_path: Path) -> None:
    path = tmp_path / "three.yaml"
    path.write_text(yaml_text("""
        rules:
          - id: sos
            name: SOS
            severity: critcal
            when:
              event: {kind: elder_button, type: press}
          - id: low-battery
            name: Battery
            severity: minor
            when:
              threshold: {kind: elder_button, metric: battery, below: 20, for: 10 min}
          - id: fence
            name: Fence
            severity: major
            when:
              event: {kind: fence, type: alarm}
            dedup: {policy: merge, key: [rule, building]}
        """), encoding="utf-8")
    errors = check_rules(path)
    assert [e.line for e in errors] == [4, 11, 17]
    assert "rule `sos`" in errors[0].reason and "'critcal'" in errors[0].reason
    assert "rule `low-battery`" in errors[1].reason and "bad duration" in errors[1].reason
    assert "rule `fence`" in errors[2].reason and "`building` is not a dedup key" in errors[2].reason

    with pytest.raises(RuleFileError) as raised:
        load_rules(path)
    assert raised.value.errors == errors
    lines = str(raised.value).splitlines()
    assert len(lines) == 3 and lines[0].startswith(f"{path}:4: rule `sos`: ")
    assert format_errors(errors) == str(raised.value)


def test_a_misspelt_key_is_not_also_reported_missing() -> None:
    errors = errors_of(rule_yaml("severty: major\n" + FENCE))
    assert [(e.line, e.reason) for e in errors] == [(4, "rule `r1`: unknown key `severty` (did you mean `severity`?)")]


def test_lines_follow_yaml_merge_keys() -> None:
    errors = errors_of(yaml_text("""
        x-night: &night {from: "22:00", to: "06:00", timezone: Mars/Olympus}
        rules:
          - id: r1
            name: R1
            severity: major
            schedule: {<<: *night}
            when: {event: {kind: fence}}
        """))
    assert [(e.line, e.reason) for e in errors] == [
        (1, "rule `r1`: `schedule.timezone`: unknown timezone 'Mars/Olympus'; use an IANA name such as Asia/Shanghai")]


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    missing = check_rules(tmp_path / "nope.yaml")
    assert len(missing) == 1 and missing[0].line == 1 and "cannot read" in missing[0].reason
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"rules:\n  - id: r\n    name: \xe9\n")
    errors = check_rules(latin)
    assert [(e.line, e.reason) for e in errors] == [(3, "not UTF-8 text (save the file as UTF-8)")]


# -- the check command ----------------------------------------------------------------------------

def test_check_prints_ok_or_every_error(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml_text(EVERY_KIND), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(rule_yaml("severity: urgent\nwhen: {event: {kind: fance}}\n"), encoding="utf-8")
    out = io.StringIO()
    assert check_main([str(good)], out) == 0
    assert out.getvalue() == f"OK: 6 rules ({good})\n"
    out = io.StringIO()
    assert check_main([str(good), str(bad)], out) == 1
    printed = out.getvalue().splitlines()
    assert printed[0] == f"OK: 6 rules ({good})"
    assert printed[1].startswith(f"{bad}:4: rule `r1`: `severity` must be one of")
    assert printed[2].startswith(f"{bad}:5: rule `r1`: `when.event.kind`: unknown device kind `fance`")
    assert printed[3] == "2 errors"


def test_rule_ids_must_be_unique_across_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(rule_yaml("severity: major\n" + FENCE), encoding="utf-8")
    second.write_text(rule_yaml("severity: minor\n" + FENCE), encoding="utf-8")
    with pytest.raises(RuleFileError) as raised:
        load_rule_files([first, second])
    assert [str(e) for e in raised.value.errors] == [f"{second}:2: rule id `r1` is already used in {first}:2"]
    assert check_main([str(first), str(second)], io.StringIO()) == 1
    assert [r.id for r in load_rule_files([first])] == ["r1"]


# -- durations ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,seconds", [("90s", 90), ("5m", 300), ("2h", 7200), ("48h", 172800), ("1d", 86400),
                                          ("1h30m", 5400), (" 10 M ", 600)])
def test_durations_parse(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "m", "0s", "0h0m", "-5m", "5 minutes", "1.5h", "5m!", "400d"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_durations_format_back() -> None:
    assert format_duration(timedelta(seconds=5400)) == "1h30m"
    assert format_duration(timedelta(days=2)) == "2d"


# -- matchers -------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec,value,expected", [
    ("denied", "denied", True),
    ("denied", "granted", False),
    ({"eq": 1}, True, False),  # true is not 1
    ({"ne": "granted"}, "denied", True),
    ({"ne": "granted"}, MISSING, True),
    ({"in": ["intrusion", "cut"]}, "cut", True),
    ({"in": ["intrusion", "cut"]}, "power_loss", False),
    ({"not_in": ["power_loss"]}, "cut", True),
    ({"gt": 60}, 61, True),
    ({"gt": 60}, 60, False),
    ({"ge": 60}, 60.0, True),
    ({"lt": 0.6}, 0.59, True),
    ({"lt": 0.6}, "0.5", False),  # a string is not a number
    ({"le": 5}, MISSING, False),
    ({"ge": 0.2, "lt": 0.6}, 0.7, False),  # several operators: all must hold
    ({"exists": True}, "p-1", True),
    ({"exists": True}, None, False),  # JSON null counts as no value
    ({"exists": False}, MISSING, True),
    ({"matches": "^辽E"}, "辽E12345", True),
    ({"matches": "^辽E"}, "京A12345", False),
    ({"matches": "E1"}, 12, False),
    ({"on_watchlist": "blacklist"}, "辽E12345", True),
    ({"on_watchlist": "blacklist"}, "辽E99999", False),
    ({"on_watchlist": "unknown-list"}, "辽E12345", False),
    ({"not_on_watchlist": "residents"}, "辽E12345", True),
    ({"not_on_watchlist": "residents"}, "辽E00001", False),
    ({"eq": None}, MISSING, True),
])
def test_field_matcher(spec: Any, value: Any, expected: bool) -> None:
    assert FieldMatcher.model_validate(spec).matches(value, WATCHLISTS) is expected


def test_lookup_follows_dotted_paths() -> None:
    data = {"voltage_kv": {"N1": 8.5}, "a.b": 1}
    assert lookup(data, "voltage_kv.N1") == 8.5
    assert lookup(data, "a.b") == 1
    assert lookup(data, "voltage_kv.N9") is MISSING
    assert lookup(data, "voltage_kv.N1.x") is MISSING


def test_event_match() -> None:
    match = EventMatch.model_validate({"kind": "fence", "type": ["alarm"],
                                       "where": {"cause": {"in": ["intrusion", "cut"]}}})
    assert match.matches("fence", "alarm", {"zone": "N1", "cause": "cut"}, {})
    assert not match.matches("fence", "alarm", {"zone": "N1", "cause": "power_loss"}, {})
    assert not match.matches("fence", "restore", {"zone": "N1", "cause": "cut"}, {})
    assert not match.matches("access_gate", "alarm", {"cause": "cut"}, {})
    either = EventMatch.model_validate({"kind": "face_camera", "type": "face",
                                        "where_any": [{"person_id": {"exists": False}}, {"similarity": {"lt": 0.6}}]})
    assert either.matches("face_camera", "face", {"snapshot_url": "http://x"}, {})
    assert either.matches("face_camera", "face", {"person_id": "p", "similarity": 0.5}, {})
    assert not either.matches("face_camera", "face", {"person_id": "p", "similarity": 0.9}, {})
    assert EventMatch().matches("fence", "heartbeat", {}, {})
    gateway_type = EventMatch.model_validate({"kind": "elder_button", "type": "device_offline"})
    assert gateway_type.matches("elder_button", "device_offline", {"reason": "timeout"}, {})


def test_threshold_breached() -> None:
    low = Threshold.model_validate({"kind": "elder_button", "metric": "battery", "below": 20})
    assert low.breached(19.5) and not low.breached(20)
    high = Threshold.model_validate({"metric": "voltage_kv", "above": 10})
    assert high.breached(10.5) and not high.breached(10)


# -- scope, schedule, keys ------------------------------------------------------------------------

def test_scope() -> None:
    scope = Scope.model_validate({"sites": ["hexie"], "zones": ["N1"], "kinds": ["fence"]})
    assert scope.matches("hexie", "g1", "perimeter-n", "fence", "fence-n", {"zone": "N1", "cause": "cut"})
    assert not scope.matches("hexie", "g1", "perimeter-n", "fence", "fence-n", {"zone": "N2"})
    assert scope.matches("hexie", "g1", "N1", "fence", "fence-n")
    assert not scope.matches("other", "g1", "N1", "fence", "fence-n")
    assert not scope.matches("hexie", "g1", "N1", "access_gate", "gate-1")
    assert Scope().matches("any", None, None, "fence", "d")
    assert not Scope.model_validate({"grids": ["g1"]}).matches("hexie", None, None, "fence", "d")


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    """2026-06-01 is a Monday; Shanghai is UTC+8 all year."""
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def test_schedule_window_wrapping_midnight() -> None:
    night = Schedule.model_validate({"days": ["fri"], "from": "22:00", "to": "06:00"})
    assert night.active(shanghai(5, 22))            # Friday 22:00
    assert night.active(shanghai(6, 5, 59))         # Saturday 05:59, still Friday's night
    assert not night.active(shanghai(6, 6))         # Saturday 06:00: over
    assert not night.active(shanghai(6, 22, 30))    # Saturday night is not listed
    assert not night.active(shanghai(5, 5))         # Friday early morning belongs to Thursday's night
    assert not night.active(shanghai(5, 21, 59))


def test_schedule_timezone_and_plain_window() -> None:
    office = Schedule.model_validate({"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:30", "to": "17:30",
                                      "timezone": "Europe/Berlin"})
    summer_noon_berlin = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # Monday 12:00 CEST
    assert office.active(summer_noon_berlin)
    assert not office.active(datetime(2026, 6, 1, 16, 0, tzinfo=UTC))  # 18:00 CEST
    assert not office.active(datetime(2026, 6, 6, 10, 0, tzinfo=UTC))  # Saturday
    assert office.active(datetime(2026, 6, 1, 10, 0))  # naive is UTC
    weekend = Schedule.model_validate({"days": ["sat", "sun"]})
    assert weekend.active(shanghai(6, 0, 1)) and not weekend.active(shanghai(8, 12))
    until_midnight = Schedule.model_validate({"from": "20:00", "to": "24:00"})
    assert until_midnight.active(shanghai(3, 23, 59)) and not until_midnight.active(shanghai(3, 0, 0))


def test_keys_use_the_zone_the_event_is_about() -> None:
    fields = {"rule": "fence-alarm", "site": "hexie", "grid": "g1", "zone": "perimeter-n", "kind": "fence",
              "device": "fence-n"}
    alarm = {"zone": "N2", "cause": "cut", "plate": None}
    assert event_zone("perimeter-n", alarm) == "N2"
    assert event_zone("y01", {"type": "press"}) == "y01"
    assert key_value("zone", data=alarm, **fields) == "N2"
    assert key_value("field:cause", data=alarm, **fields) == "cut"
    assert key_value("field:plate", data=alarm, **fields) is None
    assert key_value("field:person_id", data=alarm, **fields) is None
    merge = Dedup.model_validate({"key": ["rule", "device", "zone"]})
    assert merge.key_for(data=alarm, **fields) == "fence-alarm|fence-n|N2"
    assert Dedup(policy="per_trigger").key_for(data=alarm, **fields) is None


# -- the built-in pack ----------------------------------------------------------------------------

def test_builtin_pack_loads_and_covers_the_spec() -> None:
    rules = {r.id: r for r in load_rules(BUILTIN).rules}
    assert check_main([str(BUILTIN)], io.StringIO()) == 0
    sos = rules["elder-sos"]
    assert (sos.severity, sos.silenceable, sos.audience) == ("critical", False, "patrol")
    assert sos.dedup.policy == "merge" and sos.dedup.key == ["rule", "device"]
    assert sos.when.event is not None and sos.when.event.matches("elder_button", "press", {}, {})
    fence = rules["fence-alarm"]
    assert fence.severity in ("critical", "major") and fence.silenceable is False
    assert fence.when.event is not None
    for cause in ("intrusion", "cut", "short", "tamper"):
        assert fence.when.event.matches("fence", "alarm", {"zone": "N1", "cause": cause}, {})
    assert not fence.when.event.matches("fence", "alarm", {"zone": "N1", "cause": "power_loss"}, {})
    assert rules["elder-button-offline"].audience == "maintenance"
    for rule, type_ in (("battery-low", "battery_low"), ("battery-critical", "battery_critical"),
                        ("device-tamper", "device_tamper"), ("device-flapping", "device_flapping")):
        assert rules[rule].audience == "maintenance"
        assert rules[rule].when.event is not None and rules[rule].when.event.matches("fence", type_, {}, {})
    fault = rules["device-fault"].when.event
    assert fault is not None and fault.matches("face_camera", "device_fault", {"fault": "E17"}, {})
    assert not fault.matches("face_camera", "device_fault", {"fault": None, "previous": "E17"}, {})
    welfare = rules["elder-welfare-check"].condition
    assert isinstance(welfare, Absence) and welfare.for_ == timedelta(hours=48)
    assert not welfare.event.matches("elder_button", "heartbeat", {"battery": 80}, {})
    held = rules["gate-held-open"].when.event
    assert held is not None and held.matches("access_gate", "held_open", {"seconds": 61}, {})
    assert not held.matches("access_gate", "held_open", {"seconds": 60}, {})
    plate = rules["plate-blacklist"].when.event
    assert plate is not None and plate.matches("plate_camera", "plate", {"plate": "辽E12345"}, WATCHLISTS)
    overstay = rules["vehicle-overstay"].condition
    assert isinstance(overstay, Duration) and overstay.per == "field:plate"
    assert overstay.start.matches("plate_camera", "plate", {"plate": "辽A1", "direction": "in"}, WATCHLISTS)
    assert not overstay.start.matches("plate_camera", "plate", {"plate": "辽E00001", "direction": "in"}, WATCHLISTS)
    night = rules["face-unknown-night"]
    assert night.schedule is not None and night.schedule.active(shanghai(3, 23))
    assert not night.schedule.active(shanghai(3, 12))
    power = rules["fence-power-loss"].condition
    assert isinstance(power, Duration) and power.longer_than == timedelta(minutes=2) and power.per == "zone"
    assert isinstance(rules["fence-alarm-then-capture"].condition, Correlation)
    assert isinstance(rules["gate-denied-burst"].condition, Count)
    assert {r.severity for r in rules.values()} <= {"critical", "major", "minor", "warning"}


def test_rule_examples_in_the_docs_load() -> None:
    """Every complete rule shown in docs/rules.md is valid, so the manual cannot drift from the format."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "rules.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in doc.split("```yaml\n")[1:]]
    examples = ["rules:\n" + textwrap.indent(b, "  ") for b in blocks if b.startswith("- id:")]
    examples += [b for b in blocks if b.startswith("rules:") and "..." not in b]
    assert len(examples) >= 7
    for text in examples:
        result = check_text(text, "docs/rules.md")
        assert result.ok, format_errors(result.errors)
