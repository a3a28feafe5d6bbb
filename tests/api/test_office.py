"""Issue 20 through the real API (uvicorn, the gateway on the real broker), on both databases: dispositions on
resolve and their correction, response targets per site, the office's report in every format, who may read it,
and the response-time histograms on /metrics. The figures themselves are checked against hand-computed values in
tests/office/test_report_figures.py."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest

from tests.helpers import ApiServer

pytestmark = [pytest.mark.broker]


def raise_reports(api: ApiServer, what: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Field reports (`what`, severity) in grid g1: alerts raised through the API, as a patrol member's phone does."""
    patrol = api.token("patrol", name="巡逻员 王五", grids=["g1"])
    raised = []
    with api.client(patrol) as http:
        for text, severity in what:
            answer = http.post("/reports", json={"what": text, "where": "3号楼", "severity": severity})
            assert answer.status_code == 201, answer.text
            raised.append(answer.json())
    return raised


def test_dispositions_targets_and_the_report_in_every_format(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                                              db_url: str, site_id: str) -> None:
    api = make_api(mosquitto_url, db_url)
    sos, fence, leak = raise_reports(api, [("老人摔倒", "critical"), ("围墙破损", "major"), ("楼道灯坏", "minor")])
    office = api.token("office", name="社区办公室 李主任")
    with api.admin() as admin:
        assert admin.post(f"/alerts/{sos['id']}/ack", json={}).status_code == 200
        refused = admin.post(f"/alerts/{sos['id']}/resolve", json={"note": "已送医"})
        assert refused.status_code == 422 and "disposition" in refused.json()["detail"]
        unknown = admin.post(f"/alerts/{sos['id']}/resolve", json={"note": "已送医", "disposition": "solved"})
        assert unknown.status_code == 422
        done = admin.post(f"/alerts/{sos['id']}/resolve", json={"note": "已送医", "disposition": "handled"}).json()
        assert (done["state"], done["disposition"]) == ("resolved", "handled")
        assert admin.post(f"/alerts/{fence['id']}/resolve",
                          json={"note": "猫触发", "disposition": "false_alarm"}).status_code == 200
        # minor: the outcome may be left out
        assert admin.post(f"/alerts/{leak['id']}/resolve", json={"note": "已报物业"}).json()["disposition"] is None

        # An admin corrects an outcome afterwards; the history keeps both and why.
        fixed = admin.put(f"/alerts/{fence['id']}/disposition",
                          json={"disposition": "device_fault", "note": "复查：传感器故障"})
        assert fixed.status_code == 200 and fixed.json()["disposition"] == "device_fault"
        steps = admin.get(f"/alerts/{fence['id']}").json()["history"]
        assert any(s["action"] == "disposition_changed" and s["note"] == "false_alarm → device_fault: 复查：传感器故障"
                   for s in steps)
        assert admin.put(f"/alerts/{fence['id']}/disposition", json={"disposition": "test"}).status_code == 422

        # Targets: defaults, a partial change, and refusals.
        targets = admin.get(f"/sites/{site_id}/targets").json()
        assert targets["default"] and targets["critical"] == {"acknowledge": "60s", "resolve": "1h"}
        changed = admin.put(f"/sites/{site_id}/targets", json={"critical": {"acknowledge": "90s"}}).json()
        assert not changed["default"] and changed["critical"] == {"acknowledge": "90s", "resolve": "1h"}
        assert changed["major"] == {"acknowledge": "5m", "resolve": "4h"}
        bad = admin.put(f"/sites/{site_id}/targets", json={"major": {"acknowledge": "5h", "resolve": "1h"}})
        assert bad.status_code == 422 and "longer than resolve" in bad.text
        assert admin.put(f"/sites/{site_id}/targets", json={"major": {"acknowledge": "soon"}}).status_code == 422
        assert admin.put("/sites/nowhere/targets", json={}).status_code == 404

        metrics = admin.get("/metrics").text
    assert re.search(r'anju_alert_acknowledge_seconds_count\{severity="critical"\} 1\.0', metrics), metrics[-3000:]
    assert re.search(r'anju_alert_resolve_seconds_count\{severity="major"\} 1\.0', metrics)
    assert 'anju_alert_resolve_seconds_bucket{le="3600.0",severity="minor"} 1.0' in metrics

    with api.client(office) as http:
        assert http.put(f"/alerts/{fence['id']}/disposition",
                        json={"disposition": "test", "note": "x"}).status_code == 403
        report = http.get("/reports/alerts", params={"group_by": "severity"}).json()
        total = report["total"]
        assert (total["raised"], total["acknowledged"], total["resolved"], total["open"]) == (3, 3, 3, 0)
        assert {k: v for k, v in total["dispositions"].items() if v} == \
            {"handled": 1, "device_fault": 1, "unspecified": 1}
        assert [g["key"] for g in report["groups"]] == ["critical", "major", "minor"]
        assert report["targets"][site_id]["critical"]["acknowledge_seconds"] == 90
        by_grid = http.get("/reports/alerts", params={"group_by": "grid"}).json()
        assert [(g["key"], g["raised"]) for g in by_grid["groups"]] == [("g1", 3)]

        # The drill-down: the alerts behind a group, by the same period and filters.
        listed = http.get("/alerts", params={"grid": "g1", "since": report["since"], "until": report["until"],
                                             "rule": "field-report"}).json()
        assert sorted(a["id"] for a in listed) == sorted(a["id"] for a in (sos, fence, leak))
        assert http.get("/alerts", params={"until": report["since"]}).json() == []

        as_csv = http.get("/reports/alerts", params={"format": "csv"})
        assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
        assert "attachment" in as_csv.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
        assert len(rows) >= 3  # header, g1, total
        as_xlsx = http.get("/reports/alerts", params={"format": "xlsx"})
        assert as_xlsx.status_code == 200
        workbook = openpyxl.load_workbook(io.BytesIO(as_xlsx.content))
        assert len(workbook.sheetnames) >= 2
        as_pdf = http.get("/reports/alerts", params={"format": "pdf"})
        assert as_pdf.status_code == 200 and as_pdf.content.startswith(b"%PDF")
        assert as_pdf.headers["content-type"] == "application/pdf"

        # Refusals: a clear 422, never a 500.
        assert http.get("/reports/alerts", params={"month": "2026-13"}).status_code == 422
        both = http.get("/reports/alerts", params={"month": "2026-11", "from": "2026-11-01T00:00:00Z"})
        assert both.status_code == 422 and "not both" in both.text
        backwards = http.get("/reports/alerts", params={"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"})
        assert backwards.status_code == 422
        too_long = http.get("/reports/alerts", params={"from": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"})
        assert too_long.status_code == 422 and "366 days" in too_long.text
        assert http.get("/reports/alerts", params={"group_by": "colour"}).status_code == 422
        assert http.get("/reports/alerts", params={"format": "docx"}).status_code == 422
        month = http.get("/reports/alerts", params={"month": "2026-11"}).json()
        assert (month["since"], month["until"]) == ("2026-10-31T16:00:00Z", "2026-11-30T16:00:00Z")

    # Who may read it: the office and admins; patrol and maintenance may not.
    with api.client(api.token("patrol", grids=["g1"])) as http:
        assert http.get("/reports/alerts").status_code == 403
    with api.client(api.token("maintenance")) as http:
        assert http.get("/reports/alerts").status_code == 403
    # An office token limited to another grid (a street's office over some grids) sees none of g1's alerts.
    with api.admin() as admin:
        assert admin.put("/grids/g2", json={"site": site_id, "name": "第二网格"}).status_code == 201
    with api.client(api.token("office", grids=["g2"])) as http:
        assert http.get("/reports/alerts").json()["total"]["raised"] == 0
