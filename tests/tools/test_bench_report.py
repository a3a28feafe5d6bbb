"""`anju bench report` runs end to end on a small month (the 100k-alert numbers are in docs/office.md)."""

from __future__ import annotations

import json
from pathlib import Path

from tools.bench.report import run_report_bench


def test_the_report_bench_fills_a_month_and_times_every_format(tmp_path: Path) -> None:
    result = run_report_bench(2000, formats=("csv", "xlsx", "pdf"), out=tmp_path / "bench.json")
    assert result.alerts == 2000 and result.groups == 20 and result.database == "sqlite"
    assert set(result.formats_s) == {"csv", "xlsx", "pdf"} and all(result.sizes[f] > 0 for f in result.sizes)
    assert "ratio" in result.summary() and json.loads((tmp_path / "bench.json").read_text())["alerts"] == 2000
