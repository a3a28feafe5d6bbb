"""`anju bench scale` at a tiny size: it runs end to end and reports sane figures (no timing asserted).

The generated district and rules are checked too: the site file with the project's site-file model, the rule
file with the project's rule loader, at the bench's full size.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from kernel.db import make_engine, migrate, session_factory
from kernel.db.models import Device, Site
from kernel.siteconfig import CommunityConfig
from kernel.timeutil import utcnow
from rules.loader import check_text
from tools.bench.scale import ScaleResult, rule_file_data, run_scale_bench, site_file_data, traffic


def test_generated_district_and_rules_are_valid() -> None:
    district = CommunityConfig.model_validate(site_file_data(100_000))
    assert len(district.sites) == 50 and sum(len(s.devices) for s in district.sites) == 100_000
    kinds = {d.kind for s in district.sites for d in s.devices}
    assert kinds == {"elder_button", "access_gate", "face_camera", "plate_camera", "fence"}
    check = check_text(yaml.safe_dump(rule_file_data(1000), allow_unicode=True), "generated.yaml")
    assert check.ok and check.rule_file is not None, check.errors
    rules = check.rule_file.rules
    assert len(rules) == 1000 == len({r.id for r in rules})
    conditions = {r.condition_name for r in rules}
    assert conditions == {"event", "threshold", "count"}
    assert all(r.scope is not None and r.scope.sites is not None and len(r.scope.sites) == 1 for r in rules)


def test_traffic_mixes_telemetry_and_events_of_every_kind() -> None:
    plan = traffic(site_file_data(500, sites=5), 2000)
    channels = {topic.rsplit("/", 1)[1] for topic, _payload, _qos in plan}
    kinds = {topic.split("/")[3] for topic, _payload, _qos in plan}
    assert channels == {"event", "telemetry"} and len(kinds) == 5
    assert all(qos == (1 if topic.endswith("/event") else 0) for topic, _payload, qos in plan)


def test_scale_bench_small(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    result = run_scale_bench(devices=2000, rules=50, messages=2000, out=out)
    assert isinstance(result, ScaleResult)
    assert result.processed == result.processed_builtin == 2000 and result.rejected == 0
    assert result.rules_active == 50 + result.builtin_rules and result.builtin_rules > 0
    assert result.rate_with_rules > 0 and result.rate_builtin > 0 and result.ratio > 0
    assert result.first_start_s > 0 and result.warm_start_s > 0 and result.rss_after_warm_mb > 0
    # The generated rules come on top of the built-in pack: they can only add alerts to the same traffic.
    assert result.alerts_with_rules >= result.alerts_builtin > 0
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["benchmark"] == "scale" and saved["processed"] == 2000 and saved["ratio"] == result.ratio
    assert "ratio" in result.summary() and "KB per device" in result.summary()


def test_scale_bench_refuses_a_database_that_holds_devices(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'used.db'}"
    engine = make_engine(url)
    migrate(engine)
    with session_factory(engine).begin() as session:
        session.add(Site(id="s", name="s"))
        session.flush()
        session.add(Device(id="d", site_id="s", kind="fence", registered_at=utcnow(), tamper=False))
    engine.dispose()
    with pytest.raises(RuntimeError, match="already holds devices"):
        run_scale_bench(devices=10, rules=5, messages=10, db_url=url)

