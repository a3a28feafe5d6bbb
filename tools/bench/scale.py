"""`anju bench scale`: 100k registered devices and 1,000 rules: start-up time, memory (RSS), evaluation rate.

What it measures is the registry and the rule engine at the size of a district
(50 communities of 2,000 devices), not the network: messages are built as the
MQTT hub builds them (`RawMessage`, stamped on arrival) and handed to
`gateway.pipeline.process` in batches of `gateway.batch_size`, so no MQTT
broker is needed and none is started. Everything runs in one process:

* start-up: `Gateway(settings).prepare_database()` (migrations, the site file
  registered, the registry loaded) plus loading the rule files, once on an
  empty database (every device registered) and once more on the same database
  with the whole fleet online (a restart: the site file re-applied, every
  device's offline deadline armed);
* memory: VmRSS of this process before and after, reported per device, and
  the peak (VmHWM);
* evaluation: the same traffic (telemetry and events of every kind, stamped at
  the last 23:00 so that night-time rules apply whatever the hour of the run)
  through the gateway with the built-in pack plus the generated rules, and
  through a gateway with only the built-in pack on a fresh database. The second
  is the limit measured in the same run: ratio = rate with the rules / rate
  without, so it says what the extra rules cost whatever else the machine is
  doing.

The generated rules are of the kinds docs/rules.md describes (mostly `event`
and `threshold`, some `count`), each scoped to one site and often one grid,
so a message concerns only a few of them, as in a real deployment; they are
checked with the project's own loader before use.
"""

from __future__ import annotations

import gc
import json
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.engine import Engine

from alerting.engine import RuleEngine
from gateway.decode import RawMessage
from gateway.service import Gateway
from kernel.config import Settings, load_settings
from kernel.db import Base
from kernel.db.models import Alert, Device
from kernel.timeutil import utcnow
from kernel.topics import device_topic
from rules.loader import builtin_rules_path, format_errors, inspect_rules, load_rule_files
from simulators.kinds import AccessGateModel, ElderButtonModel, FaceCameraModel, FenceModel, PlateCameraModel
from simulators.messages import Message, build_payload, encode_payload
from simulators.plates import local_plate

SITES = 50
GRIDS_PER_SITE = 10
COURTYARDS_PER_SITE = 20
FENCE_ZONES = ("W1", "W2", "W3", "W4")
FENCES_PER_DEVICES = 500
"""One perimeter fence host per 500 devices of a site (a community's wall has a handful)."""
KIND_SHARES: tuple[tuple[str, float], ...] = (
    ("elder_button", 0.70), ("access_gate", 0.14), ("face_camera", 0.10), ("plate_camera", 0.06))
"""The rest of a site's devices, by kind: mostly elders' buttons, as in the communities Anju serves."""
LOW_BATTERY_SHARE = 0.02
"""Buttons reporting a battery below the built-in pack's 20 % (and the generated rules' 15 %): a few in a fleet."""
TARGET_RATIO = 0.8
"""Our target: the generated rules may cost at most a fifth of the gateway's processing rate."""
SEED = 1
TIMEZONE = "Asia/Shanghai"
"""The sites' time zone (the site file's default)."""


@dataclass
class ScaleResult:
    database: str
    devices: int
    sites: int
    rules: int
    """Generated rules, loaded on top of the built-in pack."""
    rules_active: int
    """Rules the engine evaluates: the built-in pack plus the generated ones."""
    builtin_rules: int
    messages: int
    batch_size: int
    rules_load_s: float
    """Reading and checking the rule files (included in both start-up figures)."""
    first_start_s: float
    """Empty database: migrations, every device of the site file registered, registry loaded, rules loaded."""
    warm_start_s: float
    """Same database, the fleet online: the site file re-applied, registry and offline deadlines loaded, rules."""
    rss_before_mb: float
    rss_after_first_mb: float
    rss_after_warm_mb: float
    """The process after the warm start, the first gateway dropped: what a running gateway holds."""
    rss_peak_mb: float
    rss_per_device_kb: float
    """(rss_after_warm - rss_before) / devices: the registry, offline deadlines and what start-up left behind."""
    processed: int
    """Messages the gateway with the generated rules finished (accepted, duplicate or rejected)."""
    rejected: int
    rate_with_rules: float
    alerts_with_rules: int
    processed_builtin: int
    rate_builtin: float
    alerts_builtin: int
    ratio: float
    target_ratio: float

    def summary(self) -> str:
        complete = self.processed == self.messages and self.processed_builtin == self.messages
        verdict = "OK" if self.ratio >= self.target_ratio and complete and not self.rejected else "BELOW"
        return (
            f"{self.devices} devices on {self.sites} sites, {self.rules} generated rules + {self.builtin_rules} "
            f"built-in ({self.rules_active} active), {self.messages} messages in batches of {self.batch_size} "
            f"({self.database}, no broker)\n"
            f"start-up        : first {self.first_start_s:.1f} s (every device registered), warm "
            f"{self.warm_start_s:.1f} s (fleet online); rule files {self.rules_load_s:.2f} s of each\n"
            f"memory (RSS)    : {self.rss_before_mb:.0f} MB before, {self.rss_after_first_mb:.0f} MB after the "
            f"first start, {self.rss_after_warm_mb:.0f} MB after the warm start (peak {self.rss_peak_mb:.0f} MB): "
            f"{self.rss_per_device_kb:.2f} KB per device\n"
            f"with the rules  : {self.processed:>8} processed {self.rate_with_rules:>8.0f} msg/s  "
            f"{self.alerts_with_rules} alerts\n"
            f"built-in only   : {self.processed_builtin:>8} processed {self.rate_builtin:>8.0f} msg/s  "
            f"{self.alerts_builtin} alerts (fresh database, same traffic)\n"
            f"ratio {self.ratio:.2f} (target >= {self.target_ratio})  rejected: {self.rejected}  -> {verdict}"
        )


def _status_kb(field: str) -> float:
    """A VmRSS/VmHWM line of /proc/self/status, in KB (0 where there is no /proc: not Linux)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def rss_mb() -> float:
    return _status_kb("VmRSS") / 1024


def peak_rss_mb() -> float:
    return _status_kb("VmHWM") / 1024


# -- the district: sites, devices, rules -----------------------------------------------------------------------


def site_ids(sites: int) -> list[str]:
    return [f"s{i + 1:02d}" for i in range(sites)]


def grid_ids(site: str) -> list[str]:
    """Grid ids are primary keys across sites, hence prefixed by the site."""
    return [f"{site}-g{i + 1:02d}" for i in range(GRIDS_PER_SITE)]


def _site_devices(site: str, count: int) -> list[dict[str, Any]]:
    """`count` devices of one site: a few fence hosts, then the other kinds by their shares, over the grids."""
    grids = grid_ids(site)
    fences = min(count, max(1, count // FENCES_PER_DEVICES))
    kinds = ["fence"] * fences
    rest = count - fences
    for kind, share in KIND_SHARES[1:]:
        kinds += [kind] * int(rest * share)
    kinds += ["elder_button"] * (count - len(kinds))
    out: list[dict[str, Any]] = []
    for i, kind in enumerate(kinds):
        grid = grids[i % len(grids)]
        courtyard = f"y{i % COURTYARDS_PER_SITE + 1:02d}"
        device: dict[str, Any] = {"id": f"{site}-{kind.replace('_', '-')}-{i + 1:05d}", "kind": kind, "grid": grid}
        if kind == "fence":
            device.update(zone=f"perimeter-{i + 1}", name=f"{site} 围栏主机 {i + 1}",
                          attributes={"zones": list(FENCE_ZONES), "pulse_kv": 8.5})
        elif kind == "elder_button":
            device.update(zone=courtyard, name=f"{courtyard} {i % 6 + 1}号楼 {i % 30 + 101}")
        else:
            device.update(zone=courtyard, name=f"{courtyard} {kind} {i + 1}")
        out.append(device)
    return out


def site_file_data(devices: int, sites: int = SITES) -> dict[str, Any]:
    """The site file of the district, in the format of `kernel.siteconfig` (with grids, so scopes can name them)."""
    ids = site_ids(min(sites, devices))
    per_site, extra = divmod(devices, len(ids))
    return {"sites": [{
        "id": site, "name": f"社区 {site}",
        "grids": [{"id": g, "name": f"{site} 第{i + 1}网格"} for i, g in enumerate(grid_ids(site))],
        "devices": _site_devices(site, per_site + (1 if n < extra else 0)),
    } for n, site in enumerate(ids)]}


def _rule_templates(site: str, grid: str, n: int) -> list[dict[str, Any]]:
    """One rule of each generated kind for `site` (and `grid` where a grid makes sense); `n` keeps ids unique."""
    tag = f"{site}-{n:03d}"
    return [
        {"id": f"sos-{tag}", "name": f"{grid} 呼救 / SOS", "severity": "critical", "silenceable": False,
         "scope": {"sites": [site], "grids": [grid]},
         "when": {"event": {"kind": "elder_button", "type": "press"}},
         "message": "{device_name} 呼救 ({grid})"},
        {"id": f"battery-{tag}", "name": f"{grid} 电量低 / Battery low", "severity": "minor",
         "audience": "maintenance", "scope": {"sites": [site], "grids": [grid]},
         "when": {"threshold": {"kind": "elder_button", "metric": "battery", "below": 15}}},
        {"id": f"held-{tag}", "name": "门禁未关 / Gate held open", "severity": "minor",
         "scope": {"sites": [site], "grids": [grid]},
         "when": {"event": {"kind": "access_gate", "type": "held_open", "where": {"seconds": {"gt": 90 + n}}}}},
        {"id": f"denied-{tag}", "name": "门禁多次拒绝 / Denied passes", "severity": "major",
         "scope": {"sites": [site]},
         "when": {"count": {"event": {"kind": "access_gate", "type": "pass", "where": {"result": "denied"}},
                            "at_least": 3, "within": "5m", "per": "device"}}},
        {"id": f"voltage-{tag}", "name": "围栏电压低 / Fence voltage low", "severity": "minor",
         "audience": "maintenance", "scope": {"sites": [site]},
         "when": {"threshold": {"kind": "fence", "metric": "voltage_kv", "below": 7.0 + (n % 10) / 10}},
         "dedup": {"key": ["rule", "device", "zone"]}},
        {"id": f"intrusion-{tag}", "name": "周界入侵 / Intrusion", "severity": "major", "silenceable": False,
         "scope": {"sites": [site], "zones": [FENCE_ZONES[n % len(FENCE_ZONES)]]},
         "when": {"event": {"kind": "fence", "type": "alarm", "where": {"cause": {"in": ["intrusion", "cut"]}}}},
         "dedup": {"key": ["rule", "device", "zone"]}},
        {"id": f"plate-{tag}", "name": "黑名单车辆 / Blacklisted plate", "severity": "major",
         "scope": {"sites": [site]},
         "when": {"event": {"kind": "plate_camera", "type": "plate",
                            "where": {"plate": {"on_watchlist": f"blacklist-{site}"}}}}},
        {"id": f"face-{tag}", "name": "夜间陌生人 / Stranger at night", "severity": "warning",
         "scope": {"sites": [site], "grids": [grid]}, "schedule": {"from": "22:00", "to": "06:00"},
         "when": {"event": {"kind": "face_camera", "type": "face",
                            "where_any": [{"person_id": {"exists": False}}, {"similarity": {"lt": 0.85}}]}}},
        {"id": f"offline-{tag}", "name": "设备离线 / Device offline", "severity": "minor", "audience": "maintenance",
         "scope": {"sites": [site], "grids": [grid], "kinds": ["access_gate", "face_camera"]},
         "when": {"event": {"type": "device_offline"}}},
        {"id": f"forced-{tag}", "name": "门被强行打开 / Forced open", "severity": "major",
         "scope": {"sites": [site], "grids": [grid]},
         "when": {"event": {"kind": "access_gate", "type": ["forced_open", "tamper"]}}},
    ]


def rule_file_data(count: int, sites: int = SITES) -> dict[str, Any]:
    """`count` rules spread over the sites and their grids, the templates taken in turn."""
    ids = site_ids(sites)
    rules: list[dict[str, Any]] = []
    n = 0
    while len(rules) < count:
        for site in ids:
            grid = grid_ids(site)[n % GRIDS_PER_SITE]
            rules.append(_rule_templates(site, grid, n)[n % 10])
            if len(rules) == count:
                break
        n += 1
    return {"rules": rules}


def _dump(data: dict[str, Any], path: Path) -> None:
    """libyaml when present: the pure-Python dumper takes most of a minute for 100k devices."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    with open(path, "w", encoding="utf-8") as fh:
        yaml.dump(data, fh, Dumper=dumper, allow_unicode=True, sort_keys=False)


# -- the traffic ------------------------------------------------------------------------------------------------


def _message(kind: str, rng: random.Random) -> Message:
    """One message of a device of `kind`: mostly heartbeats and routine events, now and then one that alerts."""
    roll = rng.random()
    if kind == "elder_button":
        if roll < 0.96:
            low = rng.random() < LOW_BATTERY_SHARE
            return ElderButtonModel(rng, battery=rng.uniform(5, 25) if low else rng.uniform(35, 100)).heartbeat()
        return Message.event("press") if roll < 0.98 else Message.event("cancel")
    if kind == "access_gate":
        gate = AccessGateModel(rng)
        if roll < 0.80:
            return gate.passage(rng.choice(("in", "out")), rng.choice(("card", "face", "pin")),
                                f"{rng.getrandbits(32):08X}", "denied" if roll < 0.06 else "granted")
        if roll < 0.96:
            return gate.heartbeat()
        return gate.held_open(rng.randint(30, 300)) if roll < 0.99 else gate.forced_open()
    if kind == "face_camera":
        camera = FaceCameraModel(rng)
        if roll < 0.85:
            return camera.recognised(f"R{rng.randint(1, 500):04d}", rng.uniform(0.6, 0.99))
        return camera.heartbeat()
    if kind == "plate_camera":
        if roll < 0.9:
            plate, color = local_plate(rng)
            return PlateCameraModel(rng).plate(plate, color, rng.choice(("in", "out")))
        return PlateCameraModel(rng).heartbeat()
    fence = FenceModel(rng, zones=FENCE_ZONES)
    if roll < 0.95:
        return fence.heartbeat()
    zone = rng.choice(FENCE_ZONES)
    return fence.alarm(zone, rng.choice(("intrusion", "short", "cut"))) if roll < 0.98 else fence.restore(zone)


def last_night_ms(now: datetime | None = None) -> int:
    """The latest 23:00 in the sites' time zone, as epoch ms: what every message of the traffic is stamped with.

    Rules with a schedule (the night-time stranger rules) then apply in every run, whatever the hour it
    runs at, so figures of runs at different times of day compare; a device's `ts` in the past is believed
    (a buffered upload), and the rules' windows and schedules go by it.
    """
    local = (now or utcnow()).astimezone(ZoneInfo(TIMEZONE))
    night = local.replace(hour=23, minute=0, second=0, microsecond=0)
    if night > local:
        night -= timedelta(days=1)
    return int(night.timestamp() * 1000)


def traffic(site_data: dict[str, Any], messages: int, seed: int = SEED) -> list[tuple[str, bytes, int]]:
    """(topic, payload, qos) of `messages` messages from devices drawn at random across the district."""
    rng = random.Random(seed)
    devices = [(site["id"], d["kind"], d["id"]) for site in site_data["sites"] for d in site["devices"]]
    stamp = last_night_ms()
    out = []
    for i in range(messages):
        site, kind, device = rng.choice(devices)
        msg = _message(kind, rng)
        payload = encode_payload(build_payload(msg, f"scale-{i}", stamp))
        out.append((device_topic(site, kind, device, msg.channel), payload, 1 if msg.channel == "event" else 0))
    return out


# -- one gateway --------------------------------------------------------------------------------------------------


def _settings(db_url: str, site_file: Path) -> Settings:
    return load_settings(db={"url": db_url}, site_file=str(site_file), vision={"enabled": False})


def _start(settings: Settings, rule_paths: list[Path]) -> tuple[Gateway, RuleEngine, float, float]:
    """A gateway made ready as `anju serve` makes it (no broker connection): (gateway, engine, total s, rules s)."""
    t0 = time.perf_counter()
    gateway = Gateway(settings)
    gateway.prepare_database()
    t1 = time.perf_counter()
    engine = RuleEngine(load_rule_files(rule_paths))
    rules_s = time.perf_counter() - t1
    engine.attach(gateway)
    return gateway, engine, time.perf_counter() - t0, rules_s


def _fleet_online(gateway: Gateway) -> None:
    """Every device online and just seen, as in steady state (traffic then raises no `device_online` events)."""
    now = utcnow()
    with gateway.sessions.begin() as session:
        session.execute(update(Device).values(online=True, online_changed_at=now, last_seen=now))


def push_messages(gateway: Gateway, plan: list[tuple[str, bytes, int]]) -> tuple[int, int, float]:
    """The planned messages through the pipeline in batches, as the processing thread takes them from the hub.

    Returns (finished, rejected, msg/s).
    """
    batch_size = gateway.settings.gateway.batch_size
    finished = rejected = 0
    t0 = time.perf_counter()
    for start in range(0, len(plan), batch_size):
        batch = [RawMessage(topic, payload, qos, False, start + i, utcnow())
                 for i, (topic, payload, qos) in enumerate(plan[start:start + batch_size])]
        result = gateway.pipeline.process(batch)
        finished += result.accepted + result.duplicates + result.rejected
        rejected += result.rejected
    seconds = time.perf_counter() - t0
    return finished, rejected, finished / seconds if seconds > 0 else 0.0


def _alerts(gateway: Gateway) -> int:
    with gateway.sessions() as session:
        return int(session.scalar(select(func.count(Alert.id))) or 0)


def _stop(gateway: Gateway) -> None:
    gateway.hub.stop()
    gateway.engine.dispose()


def _warm_up(workdir: Path) -> None:
    """Start a one-device gateway on a scratch database first, so that what start-up imports (Alembic and its
    migration scripts, the drivers, the ORM's compiled statements) is loaded before memory and time are measured:
    the figures are then about the devices and rules, not about importing Anju."""
    tiny = workdir / "warm-up.yaml"
    _dump(site_file_data(1, 1), tiny)
    gateway, _engine, _s, _r = _start(_settings(f"sqlite:///{workdir / 'warm-up.db'}", tiny), [builtin_rules_path()])
    _stop(gateway)


def _require_empty(engine: Engine) -> None:
    """A database given by URL is emptied between the runs: refuse one that holds anything already."""
    if "devices" not in inspect(engine).get_table_names():
        return
    with engine.connect() as conn:
        if conn.scalar(select(func.count()).select_from(Device)):
            raise RuntimeError(f"{engine.url.render_as_string()} already holds devices: the scale bench needs an "
                               "empty database of its own (it empties it between its two runs)")


def _empty(engine: Engine) -> None:
    """Drop the bench's tables (and Alembic's record of them), so the next start migrates an empty database."""
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


# -- the benchmark ----------------------------------------------------------------------------------------------


def run_scale_bench(devices: int = 100_000, rules: int = 1000, messages: int = 20_000, db_url: str | None = None,
                    out: Path | None = None) -> ScaleResult:
    """`db_url`: an empty database for the bench only (it is emptied between runs); default fresh SQLite files."""
    from kernel.db import make_engine

    workdir = Path(tempfile.mkdtemp(prefix="anju-bench-scale-"))
    site_data = site_file_data(devices)
    site_file = workdir / "site.yaml"
    _dump(site_data, site_file)
    rule_file = workdir / "rules.yaml"
    _dump(rule_file_data(rules, len(site_data["sites"])), rule_file)
    check = inspect_rules(rule_file)
    if check.errors or check.rule_file is None:
        raise RuntimeError(f"generated rules are not valid:\n{format_errors(check.errors)}")
    builtin = builtin_rules_path()
    plan = traffic(site_data, messages)
    del site_data
    given = db_url is not None
    url = db_url or f"sqlite:///{workdir / 'rules.db'}"
    if given:
        probe = make_engine(url)
        _require_empty(probe)
        probe.dispose()
    settings = _settings(url, site_file)

    _warm_up(workdir)
    gc.collect()
    rss_before = rss_mb()
    first, _engine, first_s, rules_s = _start(settings, [builtin, rule_file])
    rss_first = rss_mb()
    _fleet_online(first)
    _stop(first)
    del first, _engine
    gc.collect()
    gateway, engine, warm_s, warm_rules_s = _start(settings, [builtin, rule_file])
    gc.collect()
    rss_warm = rss_mb()
    rules_active = len(engine.rules)
    processed, rejected, rate = push_messages(gateway, plan)
    alerts = _alerts(gateway)
    _stop(gateway)
    del gateway, engine
    gc.collect()

    base_url = url
    if given:
        wipe = make_engine(url)
        _empty(wipe)
        wipe.dispose()
    else:
        base_url = f"sqlite:///{workdir / 'builtin.db'}"
    baseline, base_engine, _s, _r = _start(_settings(base_url, site_file), [builtin])
    _fleet_online(baseline)
    with baseline.sessions() as session:
        baseline.registry.load_all(session)  # the registry now sees the fleet online too, as after the warm start
    processed_builtin, rejected_builtin, rate_builtin = push_messages(baseline, plan)
    alerts_builtin = _alerts(baseline)
    builtin_count = len(base_engine.rules)
    _stop(baseline)

    result = ScaleResult(
        database=url.split("://", 1)[0], devices=devices, sites=min(SITES, devices), rules=rules,
        rules_active=rules_active, builtin_rules=builtin_count, messages=messages,
        batch_size=settings.gateway.batch_size, rules_load_s=round(max(rules_s, warm_rules_s), 3),
        first_start_s=round(first_s, 3), warm_start_s=round(warm_s, 3), rss_before_mb=round(rss_before, 1),
        rss_after_first_mb=round(rss_first, 1), rss_after_warm_mb=round(rss_warm, 1),
        rss_peak_mb=round(peak_rss_mb(), 1),
        rss_per_device_kb=round((rss_warm - rss_before) * 1024 / devices, 3) if devices else 0.0,
        processed=processed, rejected=rejected + rejected_builtin, rate_with_rules=round(rate, 1),
        alerts_with_rules=alerts, processed_builtin=processed_builtin, rate_builtin=round(rate_builtin, 1),
        alerts_builtin=alerts_builtin, ratio=round(rate / rate_builtin, 3) if rate_builtin else 0.0,
        target_ratio=TARGET_RATIO,
    )
    if out is not None:
        out.write_text(json.dumps({"benchmark": "scale", **asdict(result)}, indent=2), encoding="utf-8")
    return result
