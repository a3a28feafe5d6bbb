"""The rule index (`rules.index`) hands each observation exactly the rules that could act on it, in pack order.

The last test is the one that matters: the same traffic through an engine with the index and through one that
evaluates every rule on every observation (what the engine did before the index) gives the same alerts, in the
same order, and the same timers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from alerting.engine import RuleEngine
from gateway.service import Gateway
from kernel.config import load_settings
from kernel.db.models import Alert, RuleTimer
from rules.index import NO_METRICS, RuleIndex, reach
from rules.loader import builtin_rules_path, check_text, load_rule_files
from rules.schema import Rule
from tools.bench.scale import push_messages, rule_file_data, site_file_data, traffic


def rules_from(text: str) -> list[Rule]:
    check = check_text(text)
    assert check.rule_file is not None, check.errors
    return list(check.rule_file.rules)


RULES = """
rules:
  - id: sos-a
    name: SOS at a
    severity: critical
    scope: {sites: [a]}
    when: {event: {kind: elder_button, type: press}}
  - id: any-offline
    name: offline anywhere
    severity: minor
    scope: {kinds: [access_gate, fence]}
    when: {event: {type: device_offline}}
  - id: voltage-b
    name: low voltage at b
    severity: minor
    scope: {sites: [b]}
    when: {threshold: {kind: fence, metric: voltage_kv, below: 5}}
  - id: silent
    name: silent device
    severity: minor
    when: {absence: {for: 2d}}
  - id: denied
    name: denied passes
    severity: major
    scope: {sites: [a, b]}
    when: {count: {event: {kind: access_gate, type: pass, where: {result: denied}}, at_least: 3, within: 5m}}
  - id: overstay
    name: overstay
    severity: minor
    when:
      duration:
        start: {kind: plate_camera, type: plate, where: {direction: in}}
        end: {kind: plate_camera, type: plate, where: {direction: out}}
        longer_than: 4h
        per: "field:plate"
  - id: then-capture
    name: alarm then capture
    severity: major
    when: {correlation: {first: {kind: fence, type: alarm}, then: {type: [face, plate]}, within: 2m}}
"""


def ids(rules: tuple[Rule, ...]) -> list[str]:
    return [rule.id for rule in rules]


def test_reach_follows_scope_and_condition() -> None:
    by_id = {rule.id: rule for rule in rules_from(RULES)}
    assert reach(by_id["sos-a"]).sites == frozenset({"a"})
    assert reach(by_id["any-offline"]).kinds == frozenset({"access_gate", "fence"})
    assert reach(by_id["voltage-b"]).metric == "voltage_kv"
    assert reach(by_id["silent"]).matchers == ((None, None),)  # an empty matcher: any message
    assert reach(by_id["then-capture"]).matchers == (("fence", frozenset({"alarm"})),
                                                     (None, frozenset({"face", "plate"})))


def test_candidates_are_the_rules_that_could_act_in_pack_order() -> None:
    index = RuleIndex(rules_from(RULES))
    assert ids(index.candidates("a", "elder_button", "press")) == ["sos-a", "silent"]
    assert ids(index.candidates("b", "elder_button", "press")) == ["silent"]
    assert ids(index.candidates("c", "fence", "device_offline")) == ["any-offline", "silent"]
    assert ids(index.candidates("c", "elder_button", "device_offline")) == ["silent"]
    # A threshold only where the observation carries its reading, and only at its site.
    assert ids(index.candidates("b", "fence", "heartbeat")) == ["silent"]
    assert ids(index.candidates("b", "fence", "heartbeat", frozenset({"voltage_kv"}))) == ["voltage-b", "silent"]
    assert ids(index.candidates("a", "fence", "heartbeat", frozenset({"voltage_kv"}))) == ["silent"]
    # Both halves of a duration or a correlation reach the rule.
    assert ids(index.candidates("a", "plate_camera", "plate")) == ["silent", "overstay", "then-capture"]
    assert ids(index.candidates("a", "fence", "alarm")) == ["silent", "then-capture"]
    assert ids(index.candidates("b", "access_gate", "pass")) == ["silent", "denied"]
    assert index.candidates("a", "face_camera", "face", NO_METRICS) is index.candidates("a", "face_camera", "face")


class EveryRule(RuleIndex):
    """What the engine did before the index: every enabled rule for every observation."""

    def candidates(self, site: str, kind: str, type_: str, metrics: frozenset[str] = NO_METRICS) -> tuple[Rule, ...]:
        return self.rules


class EveryRuleEngine(RuleEngine):
    def _set_rules(self, rules: list[Rule]) -> None:
        super()._set_rules(rules)
        self._index = EveryRule(self.rules)


EXTRA_RULES = """
rules:
  - id: press-absent
    name: button never pressed
    severity: minor
    scope: {kinds: [elder_button]}
    when: {absence: {event: {kind: elder_button, type: [press, cancel]}, for: 30d}}
  - id: voltage-sustained
    name: fence voltage low for a while
    severity: minor
    when: {threshold: {kind: fence, metric: voltage_kv, below: 8.4, for: 5m}}
    dedup: {key: [rule, device, zone]}
  - id: denied-then-face
    name: denied pass, then a face
    severity: warning
    when: {correlation: {first: {kind: access_gate, type: pass, where: {result: denied}}, then: {type: face},
                         within: 10m, same: site}}
"""


def outcome(engine_class: type[RuleEngine], db: Path, site_file: Path, rule_files: list[Path],
            plan: list[tuple[str, bytes, int]]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    gateway = Gateway(load_settings(db={"url": f"sqlite:///{db}"}, site_file=str(site_file),
                                    vision={"enabled": False}))
    try:
        gateway.prepare_database()
        engine = engine_class(load_rule_files(rule_files))
        engine.attach(gateway)
        finished, rejected, _rate = push_messages(gateway, plan)
        assert (finished, rejected) == (len(plan), 0)
        assert gateway.metrics.total("anju_rule_evaluations_total", outcome="failed") == 0
        with gateway.sessions() as session:
            alerts = [(a.id, a.rule, a.device_id, a.dedup_key, a.count, a.severity, a.title, a.state)
                      for a in session.scalars(select(Alert).order_by(Alert.id))]
            timers = sorted((t.rule, t.group_key, t.device_id) for t in session.scalars(select(RuleTimer)))
        return alerts, timers
    finally:
        gateway.hub.stop()
        gateway.engine.dispose()


def test_index_raises_the_same_alerts_as_evaluating_every_rule(tmp_path: Path) -> None:
    site_data = site_file_data(1500, sites=3)
    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump(site_data, allow_unicode=True), encoding="utf-8")
    generated, extra = tmp_path / "rules.yaml", tmp_path / "extra.yaml"
    generated.write_text(yaml.safe_dump(rule_file_data(120, sites=3), allow_unicode=True), encoding="utf-8")
    extra.write_text(EXTRA_RULES, encoding="utf-8")
    rule_files = [builtin_rules_path(), generated, extra]
    plan = traffic(site_data, 3000)

    indexed = outcome(RuleEngine, tmp_path / "indexed.db", site_file, rule_files, plan)
    every = outcome(EveryRuleEngine, tmp_path / "every.db", site_file, rule_files, plan)
    alerts, timers = indexed
    assert len(alerts) > 100 and len({a[1] for a in alerts}) > 10 and timers  # the traffic exercised the rules
    assert indexed == every
