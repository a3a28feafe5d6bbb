"""`anju bench ingest`: what one gateway costs per message, and the rate it holds, in production shape.

Every part is its own process (`tools.bench.rig`): `anju serve` with its rules
and API on a fresh database, publishers sending pre-serialised payloads that
together can offer several times the gateway's rate (`tools.bench.loadgen`),
and a bare paho subscriber receiving the same traffic. The load generator and
the limit never share the gateway's interpreter, so the figures are the
gateway's: its CPU per message against the bare subscriber's on the same
messages (from /proc), and whether it kept up.

A run at a fixed offered rate (`--rate`, default 1,000 msg/s) always; with
`--saturate` a sweep after it (2k, 4k, 8k… msg/s, each `--duration` seconds on
a fresh gateway) that stops at the first rate the gateway does not hold (then one
row halfway back), giving the highest offered rate held with nothing shed and
the saturated processed rate.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tools.bench.mixes import describe_mix
from tools.bench.probes import write_site_file
from tools.bench.rig import IngestRow, RowSpec, describe_setup, run_fresh_row

SWEEP_START = 2000.0
SWEEP_STEPS = 8
"""At most 2k … 256k msg/s: the sweep ends long before on any machine the gateway runs on."""
LOAD_LIMITED = 0.9
"""A sweep step whose publishers achieved less than this share of its rate measured the load generator."""


def sweep(run: Callable[[float], IngestRow], start: float = SWEEP_START, steps: int = SWEEP_STEPS) -> list[IngestRow]:
    """Rows at `start`, twice that, … until one is not held (the gateway fell behind, shed or lost) or the
    publishers could not offer the rate (going higher would only measure them). Where a held rate and one
    not held are a doubling apart, one more row halfway between narrows the highest rate held."""
    rows: list[IngestRow] = []
    rate = start
    for _ in range(steps):
        row = run(rate)
        rows.append(row)
        if row.offered_actual < LOAD_LIMITED * rate:
            break
        if not row.held:
            if len(rows) > 1:
                rows.append(run(rate * 0.75))
            break
        rate *= 2
    return rows


@dataclass
class IngestResult:
    broker: str
    database: str
    devices: int
    mix: str
    duration: float
    cores: int
    fixed: IngestRow
    sweep: list[IngestRow] = field(default_factory=list)
    held_rate: float | None = None
    """The highest offered rate (asked) of a row held with nothing shed or lost, fixed run and sweep."""
    saturated_rate: float | None = None
    """The processed rate of the sweep's rows that were not held: the gateway's rate with more offered."""
    load_limited: bool = False
    """A sweep row's publishers achieved less than `LOAD_LIMITED` of its rate: there the load generator (or the
    broker taking its messages) was the limit, not the gateway."""

    def summary(self) -> str:
        lines = [f"{self.devices} devices ({self.mix}), {self.duration:.0f} s per run, {self.broker}, "
                 f"{self.database}, {self.cores} cores; gateway = `anju serve` (rules, API), every part its own "
                 f"process", *describe_row(self.fixed)]
        if self.sweep:
            lines.append(f"sweep: {'offered':>8} {'achieved':>8} {'processed/s':>11} {'shed':>6} {'lost':>5} "
                         f"{'gateway ms/msg':>14} {'bare ms/msg':>11} {'ratio':>5}  held")
            for row in self.sweep:
                lines.append(f"       {row.offered_rate:>8.0f} {row.offered_actual:>8.0f} {row.rate:>11.0f} "
                             f"{row.shed:>6} {row.lost:>5} {_ms(row.gateway_cpu_ms_per_msg, 3):>14} "
                             f"{_ms(row.bare_cpu_ms_per_msg, 3):>11} {_ms(row.cpu_ratio, 1):>5}  "
                             f"{'yes' if row.held else 'NO'}")
            held = "none" if self.held_rate is None else f"{self.held_rate:.0f} msg/s"
            saturated = ("not reached" if self.saturated_rate is None else f"{self.saturated_rate:.0f} msg/s")
            lines.append(f"highest offered rate held with nothing shed: {held}; saturated processed rate: "
                         f"{saturated}" + ("; the sweep stopped where the publishers could not offer more"
                                           if self.load_limited else ""))
            lines.append("(held: nothing shed or lost and processed at >= 95 % of the achieved offered rate)")
        if self.fixed.lost or any(row.lost for row in self.sweep):
            lines.append("LOST MESSAGES: some published messages were neither stored, dead-lettered nor shed.")
        return "\n".join(lines)


def _ms(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def describe_row(row: IngestRow) -> list[str]:
    """The fixed-rate run in words: rates, counts, then CPU per message of each process."""
    dropped = "?" if row.broker_dropped is None else str(row.broker_dropped)
    per_second = ("-" if row.gateway_msgs_per_cpu_second is None
                  else f"{row.gateway_msgs_per_cpu_second:,.0f}")
    thousandth = [_ms(None if v is None else v / 1000, 3) for v in
                  (row.broker_cpu_ms_per_1k, row.load_cpu_ms_per_1k, row.database_cpu_ms_per_1k)]
    return [
        f"offered {row.offered_rate:.0f} msg/s: {row.published} published at {row.offered_actual:.0f} msg/s by "
        f"{row.publishers} publishers ({row.backpressure_waits} waits for the broker)",
        f"gateway : {row.processed:>8} processed {row.rate:>7.0f} msg/s  (stored {row.stored}, shed {row.shed}, "
        f"lost {row.lost}, dead letters {row.dead_letters}, broker dropped {dropped})"
        f" -> {'held' if row.held else 'NOT HELD'}",
        f"bare    : {row.bare_received:>8} received  {row.bare_rate:>7.0f} msg/s",
        f"CPU per message: gateway {_ms(row.gateway_cpu_ms_per_msg, 3)} ms ({per_second} msg per CPU-second), "
        f"bare subscriber {_ms(row.bare_cpu_ms_per_msg, 3)} ms, ratio {_ms(row.cpu_ratio, 1)}",
        f"                 broker {thousandth[0]} ms, publishers {thousandth[1]} ms, PostgreSQL {thousandth[2]} ms",
    ]


def run_ingest_bench(broker_url: str | None, devices: int, rate: float, duration: float, db_url: str | None,
                     out: Path | None = None, influx_url: str | None = None, *, mix: str = "issue",
                     kind: str | None = None, publishers: int = 2, saturate: bool = False,
                     sweep_start: float = SWEEP_START) -> IngestResult:
    """The fixed-rate row, then (`saturate`) the sweep; each row on a fresh private broker (unless
    `broker_url`) and a fresh database: SQLite, or one created beside the PostgreSQL `db_url`."""
    workdir = Path(tempfile.mkdtemp(prefix="anju-bench-ingest-"))
    site_file = write_site_file(workdir, devices, mix, kind)
    count = 0

    def run(at: float) -> IngestRow:
        nonlocal count
        count += 1
        spec = RowSpec(workers=1, shared=False, site_file=site_file, devices=devices, rate=at, duration=duration,
                       workdir=workdir / f"run-{count}-{at:.0f}", mix=mix, kind=kind, publishers=publishers,
                       influx_url=influx_url)
        return run_fresh_row(spec, broker_url, db_url)

    fixed = run(rate)
    rows = sweep(run, sweep_start) if saturate else []
    held = [r.offered_rate for r in [fixed, *rows] if r.held]
    behind = [r.rate for r in rows if not r.held]
    broker, database = describe_setup(broker_url, db_url, influx_url)
    result = IngestResult(
        broker=broker, database=database, devices=devices, mix=describe_mix(mix, kind), duration=duration,
        cores=os.cpu_count() or 1, fixed=fixed, sweep=rows, held_rate=max(held) if held else None,
        saturated_rate=max(behind) if behind else None,
        load_limited=any(r.offered_actual < LOAD_LIMITED * r.offered_rate for r in rows))
    if out is not None:
        out.write_text(json.dumps({"benchmark": "ingest", **asdict(result)}, indent=2), encoding="utf-8")
    return result
