"""The person directory (`per: person`, the welfare check) without a broker: who an observation shows, the
rule format around it, the sample community's persons and the simulated elders who go out (or do not)."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from alerting.backtest import run_backtest
from gateway.registry import apply_site_config
from kernel.db.models import Event, Person
from kernel.siteconfig import CommunityConfig, load_site_config, sample_community_path
from kernel.timeutil import utcnow
from rules.loader import builtin_rules_path, check_text, format_errors, load_rule_files
from rules.persons import FACE_MATCH_MIN, PersonDirectory, PersonInfo
from rules.schema import Absence, Scope
from simulators.population import ELDER, HOUSEBOUND
from simulators.runner import load_site, plan_scenario
from simulators.scenarios import DEFAULT_START
from simulators.world import CommunityWorld

WANG = PersonInfo("P1", "s1", "g1", "王秀英", True, buttons=("eb1",), credentials=("CARD1", "1234"),
                  plates=("辽E12345",))
LI = PersonInfo("P2", "s1", "g1", "李建国", False, credentials=("CARD2", "FAMILY-PIN"), plates=("辽E99999",))
LI_WIFE = PersonInfo("P3", "s1", "g1", "赵桂兰", True, credentials=("FAMILY-PIN",), plates=("辽E99999",))
ELSEWHERE = PersonInfo("P9", "s2", None, "孙立", True, buttons=("eb9",), credentials=("CARD9",))
DIRECTORY = PersonDirectory([WANG, LI, LI_WIFE, ELSEWHERE])


def shows(kind: str, type_: str, device: str = "dev", site: str = "s1", **data: Any) -> str | None:
    person = DIRECTORY.identify(site=site, kind=kind, device=device, type=type_, data=data)
    return None if person is None else person.id


def gate(method: str, credential: Any, result: str = "granted", site: str = "s1") -> str | None:
    return shows("access_gate", "pass", site=site, direction="in", method=method, credential=credential,
                 result=result)


# --- the directory ----------------------------------------------------------------------------------


def test_a_button_shows_its_elder_only_when_pressed_or_cancelled() -> None:
    assert shows("elder_button", "press", "eb1") == shows("elder_button", "cancel", "eb1") == "P1"
    assert shows("elder_button", "heartbeat", "eb1", battery=80) is None  # the button is alive, not the elder
    assert shows("elder_button", "device_offline", "eb1") is None
    assert shows("elder_button", "press", "eb2") is None  # nobody's button
    assert shows("elder_button", "press", "eb9") is None  # another site's button id


def test_a_face_counts_when_the_camera_is_sure_enough() -> None:
    assert shows("face_camera", "face", person_id="P1", similarity=0.93) == "P1"
    assert shows("face_camera", "face", person_id="P1", similarity=FACE_MATCH_MIN) == "P1"
    assert shows("face_camera", "face", person_id="P1") == "P1"  # the camera reports no similarity
    assert shows("face_camera", "face", person_id="P9", site="s1") == "P9"  # ids are global: seen is seen
    assert shows("face_camera", "face", person_id="P1", similarity=0.59) is None  # a poor match is not a sighting
    assert shows("face_camera", "face", person_id="P1", similarity="high") is None
    assert shows("face_camera", "face", person_id="P1", similarity=True) is None
    assert shows("face_camera", "face", snapshot="...") is None  # not recognised by the camera
    assert shows("face_camera", "face", person_id="R01001", similarity=0.9) is None  # not in the directory
    assert shows("face_camera", "heartbeat", person_id="P1") is None


def test_a_granted_gate_pass_shows_the_holder_of_the_credential() -> None:
    assert gate("face", "P1") == "P1"
    assert gate("card", "CARD1") == gate("pin", "1234") == gate("plate", "辽E12345") == "P1"
    assert gate("card", "CARD2") == "P2"
    assert gate("card", "CARD1", result="denied") is None
    assert gate("qr", "CARD1") is None  # a one-time code shows nobody
    assert gate("card", "CARD9") is None and gate("card", "CARD9", site="s2") == "P9"  # cards are per site
    assert gate("pin", "FAMILY-PIN") is None  # shared by a couple: either of them may have typed it
    assert gate("card", None) is None and gate("card", 1234) is None


def test_a_plate_shows_its_only_driver() -> None:
    assert shows("plate_camera", "plate", plate="辽E12345", direction="in", confidence=0.97) == "P1"
    assert shows("plate_camera", "plate", plate="辽E99999") is None  # the family car
    assert shows("plate_camera", "plate", plate="辽E12345", site="s2") is None
    assert shows("plate_camera", "plate") is None
    assert shows("fence", "alarm", zone="Z1", cause="intrusion") is None


def test_directory_lists_the_watched_and_reads_the_table(sessions: sessionmaker[Session]) -> None:
    assert [p.id for p in DIRECTORY.welfare()] == ["P1", "P3", "P9"] and len(DIRECTORY) == 4
    assert DIRECTORY.get("P2") == LI and DIRECTORY.get("nobody") is None
    with sessions.begin() as session:
        apply_site_config(session, load_site_config(sample_community_path()))
        session.add(Person(id="X1", site_id="hexie", name="测试", devices=[], credentials=[1234, "", None],
                           plates=[], updated_at=utcnow()))  # a PIN the API stored as a number
        directory = PersonDirectory.load(session)
    site = load_site()
    assert len(directory) == len(site.persons) + 1
    assert directory.get("X1") == PersonInfo("X1", "hexie", None, "测试", False, credentials=("1234",))
    assert {p.id for p in directory.welfare()} == {p.id for p in site.persons if p.welfare_check}


# --- the rule format ----------------------------------------------------------------------------------

WELFARE = """
rules:
  - id: welfare
    name: 关怀 / welfare
    severity: major
    when:
      absence:
        event: {type: [press, face]}
        for: 48h
        per: person
"""


def errors_of(text: str) -> list[str]:
    return [f"{e.line}: {e.reason}" for e in check_text(text, "r.yaml").errors]


def test_per_person_is_an_absence_grouping_merged_per_person_by_default() -> None:
    check = check_text(WELFARE, "r.yaml")
    assert check.ok and check.rule_file is not None, format_errors(check.errors)
    rule = check.rule_file.rules[0]
    assert isinstance(rule.condition, Absence) and rule.condition.per_person
    assert rule.dedup.key == ["rule", "person"]  # [rule, device] would merge everyone without a button
    explicit = check_text(WELFARE + "    dedup: {key: [rule, grid]}\n", "r.yaml")
    assert explicit.rule_file is not None and explicit.rule_file.rules[0].dedup.key == ["rule", "grid"]
    assert rule.dedup.key_for(rule="welfare", site="s1", grid="g1", zone=None, kind=None, device=None, data={},
                              person="P1") == "welfare|P1"


@pytest.mark.parametrize("condition", [
    "count: {event: {type: face}, at_least: 2, within: 1m, per: person}",
    "duration: {start: {type: face}, end: {type: pass}, longer_than: 1h, per: person}",
    "correlation: {first: {type: face}, then: {type: pass}, within: 1m, same: person}",
])
def test_person_grouping_is_refused_where_it_cannot_work(condition: str) -> None:
    (error,) = errors_of(f"rules:\n  - id: r1\n    name: r\n    severity: minor\n    when:\n      {condition}\n")
    assert error.startswith("6: ") and "`person` is a grouping only for `absence`" in error, error


def test_person_dedup_key_needs_a_per_person_rule() -> None:
    text = ("rules:\n  - id: r1\n    name: r\n    severity: minor\n    when: {event: {type: face}}\n"
            "    dedup: {key: [rule, person]}\n")
    (error,) = errors_of(text)
    assert error.startswith("6: ") and "needs an `absence` with `per: person`" in error, error


def test_a_scope_watches_persons_by_site_and_grid() -> None:
    assert Scope(sites=["s1"], grids=["g1"], kinds=["face_camera"]).covers_person("s1", "g1")
    assert not Scope(grids=["g2"]).covers_person("s1", "g1")
    assert not Scope(sites=["s2"]).covers_person("s1", None)


def test_builtin_welfare_check_is_about_persons() -> None:
    (rule,) = [r for r in load_rule_files([builtin_rules_path()]) if r.id == "elder-welfare-check"]
    cond = rule.condition
    assert isinstance(cond, Absence) and cond.per_person and cond.for_ == timedelta(hours=48)
    assert cond.event.types == {"press", "cancel", "pass", "face", "plate"}
    assert (rule.severity, rule.audience, rule.dedup.key) == ("major", "patrol", ["rule", "person"])
    assert rule.message is not None and "{person_name}" in rule.message


# --- the sample community and its simulated elders --------------------------------------------------------


def test_every_sample_elder_is_a_person_linked_to_their_button() -> None:
    site = load_site()
    buttons = {d.id: d for d in site.devices if d.kind == "elder_button"}
    assert sorted(b for p in site.persons for b in p.devices) == sorted(buttons)  # one elder per button
    for person in site.persons:
        (button,) = (buttons[b] for b in person.devices)
        elder = button.attributes["elder"]
        assert (person.name, person.grid, person.role) == (elder["name"], button.grid, "elder")
        assert person.welfare_check == elder["lives_alone"] and person.credentials
        assert person.welfare_check or not person.attributes.get("housebound")
    assert len({c for p in site.persons for c in p.credentials}) == len(site.persons)
    housebound = [p for p in site.persons if p.attributes.get("housebound")]
    assert 1 <= len(housebound) <= 4 < sum(p.welfare_check for p in site.persons)


def test_simulated_elders_walk_with_their_site_file_ids_and_cards() -> None:
    site = load_site()
    residents = {r.person_id: r for r in CommunityWorld.build(site, seed=1).residents}
    for person in site.persons:
        walker = residents[person.id]
        assert walker.card == person.credentials[0]
        assert walker.role == (HOUSEBOUND if person.attributes.get("housebound") else ELDER)
        assert walker.courtyard == next(d.zone for d in site.devices if d.id == person.devices[0])


@pytest.mark.parametrize("seed", [1, 7])
def test_only_the_housebound_go_unseen_for_48_hours(seed: int) -> None:
    """Three simulated days of the demo's scenario, read by the directory the gateway uses: every watched elder
    who goes out is seen at least once a day; the housebound never pass a gate or a camera."""
    site = load_site()
    kinds = {d.id: d.kind for d in site.devices}
    directory = PersonDirectory(PersonInfo(p.id, site.id, p.grid, p.name, p.welfare_check, tuple(p.devices),
                                           tuple(p.credentials), tuple(p.plates)) for p in site.persons)
    days = 3
    seen: dict[str, list[tuple[float, str]]] = {}
    for t, device, channel, type_, fields in plan_scenario("community", days * 86400, seed=seed):
        person = directory.identify(site=site.id, kind=kinds[device], device=device, type=type_, data=fields)
        if channel == "event" and person is not None:
            seen.setdefault(person.id, []).append((t, kinds[device]))
    housebound = {p.id for p in site.persons if p.attributes.get("housebound")}
    end = DEFAULT_START + days * 86400
    for person in directory.welfare():
        times = [DEFAULT_START, *(t for t, _ in seen.get(person.id, [])), end]
        longest = max(b - a for a, b in pairwise(times))
        if person.id in housebound:
            assert {k for _, k in seen.get(person.id, [])} <= {"elder_button"}, person  # a press at most
        else:
            assert longest < 36 * 3600, (person, longest / 3600)


# --- the site file and a backtest, on a real database ------------------------------------------------------


@pytest.fixture
def sessions(sqlite_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    return sqlite_sessions


def community(**person: Any) -> CommunityConfig:
    return CommunityConfig.model_validate({"sites": [{
        "id": "s1", "name": "测试", "grids": [{"id": "g1", "name": "一"}, {"id": "g2", "name": "二"}],
        "devices": [{"id": "eb1", "kind": "elder_button", "grid": "g1"},
                    {"id": "face1", "kind": "face_camera", "grid": "g2"}],
        "persons": [{"id": "P1", "name": "王秀英", "grid": "g1", "welfare_check": True, **person}],
    }]})


@pytest.mark.parametrize("person,reason", [
    ({"devices": ["eb7"]}, "'eb7' is not an elder button of site 's1'"),
    ({"devices": ["face1"]}, "'face1' is not an elder button"),
    ({"grid": "g9"}, "grid 'g9' is not a grid of site 's1'"),
])
def test_site_file_persons_must_link_to_real_buttons_and_grids(sessions: sessionmaker[Session],
                                                              person: dict[str, Any], reason: str) -> None:
    with sessions() as session, pytest.raises(ValueError, match=reason):
        apply_site_config(session, community(**person))


def test_backtest_finds_a_person_unseen_after_their_last_sighting(sessions: sessionmaker[Session]) -> None:
    """Also: a backtest reads the directory itself, and a scope's grids select the persons, not only the devices."""
    start = utcnow() - timedelta(hours=3)
    with sessions.begin() as session:
        apply_site_config(session, community(devices=["eb1"]))  # 王秀英 lives in g1, the camera is in g2
        session.add(Event(site_id="s1", device_id="face1", kind="face_camera", type="face", ts=start,
                          received_at=start, msg_id="m1", data={"person_id": "P1", "similarity": 0.9}))

    def backtest(extra: str) -> list[Any]:
        check = check_text(WELFARE.replace("48h", "1h") + '    message: "{person_name} @ {device_name}"\n' + extra)
        assert check.rule_file is not None, format_errors(check.errors)
        return run_backtest(sessions, check.rule_file.rules, start - timedelta(minutes=1), start + timedelta(hours=2))

    (fired,) = backtest("")
    assert (fired.rule, fired.device_id, fired.site, fired.count) == ("welfare", "eb1", "s1", 1)
    assert fired.title == "王秀英 @ eb1"
    assert backtest("    scope: {grids: [g2]}\n") == []  # the camera is in scope, she is not
