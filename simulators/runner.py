"""Entry point of `anju simulate` (and of `anju demo`'s simulators).

`run_simulation` connects the simulated community (or the load pool) to a broker,
plays the chosen scenario in real time and returns a `SimulationReport`.
`plan_scenario` runs the same scenario instantly without a broker and returns
what would be sent, for tests and for looking at a scenario before running it.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from kernel.mqtt import parse_broker_url
from kernel.siteconfig import SiteConfig, load_site_config, sample_community_path
from simulators.clock import Scheduler, clock_text, run_realtime
from simulators.fleet import LiveFleet, Record, RecordingFleet
from simulators.load import run_load
from simulators.netloop import NetLoop
from simulators.report import Counters, SimulationReport
from simulators.scenarios import DEFAULT_START, LOAD_SCENARIO, SCENARIO_NAMES, SCENARIOS, SimContext
from simulators.world import CommunityWorld

log = logging.getLogger(__name__)

DEFAULT_LOAD_DEVICES = 100
DEFAULT_LOAD_RATE = 100.0


def load_site(site_file: str | Path | None = None, site_id: str | None = None) -> SiteConfig:
    """The site to simulate: `site_id` (or the first site) of `site_file` (or the sample community)."""
    config = load_site_config(site_file or sample_community_path())
    if not config.sites:
        raise ValueError(f"{site_file}: no sites")
    if site_id is None:
        return config.sites[0]
    for site in config.sites:
        if site.id == site_id:
            return site
    raise ValueError(f"{site_file}: no site {site_id!r}")


def run_simulation(
    broker_url: str,
    scenario: str = "community",
    devices: int | None = None,
    rate: float | None = None,
    duration: float | None = None,
    seed: int = 1,
    speed: float = 60.0,
    site_file: str | None = None,
    stop_event: threading.Event | None = None,
    *,
    kind: str | None = None,
    connections: int = 4,
) -> SimulationReport:
    """Run a scenario against `broker_url` until `duration` real seconds pass or
    `stop_event` is set (no duration: until stopped).

    `devices`/`rate` select load mode (also with the default scenario name);
    `kind` restricts load mode to one device kind, `connections` sizes its pool.
    `speed` is simulated seconds per real second (60: a day in 24 minutes).
    Raises `BrokerUnavailable` if the broker cannot be reached or refuses us,
    `ValueError` for a bad URL, scenario or argument.
    """
    broker = parse_broker_url(broker_url)
    stop_event = stop_event or threading.Event()
    if scenario not in SCENARIO_NAMES:
        raise ValueError(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIO_NAMES)}")
    load_mode = scenario == LOAD_SCENARIO or (
        scenario == "community" and (devices is not None or rate is not None)
    )
    if not load_mode and (devices is not None or rate is not None):
        raise ValueError(
            f"--devices/--rate select the load scenario; scenario {scenario!r} uses the site file"
        )
    if duration is not None and duration < 0:
        raise ValueError("duration must not be negative")
    if speed <= 0:
        raise ValueError("speed must be positive")
    site = load_site(site_file)
    counters = Counters()
    netloop = NetLoop()
    netloop.start()
    try:
        if load_mode:
            n, r = devices or DEFAULT_LOAD_DEVICES, rate or DEFAULT_LOAD_RATE
            log.info(
                "load: %d devices at %.0f msg/s over %d connections to %s",
                n,
                r,
                connections,
                broker.describe(),
            )
            real, conns = run_load(
                broker,
                site.id,
                n,
                r,
                duration,
                stop_event,
                counters,
                netloop,
                seed=seed,
                kind=kind,
                connections=connections,
            )
            return counters.snapshot(
                scenario=LOAD_SCENARIO,
                seed=seed,
                broker=broker.describe(),
                speed=0.0,
                duration_s=real,
                devices=n,
                connections=conns,
            )
        world = CommunityWorld.build(site, seed)

        def action_failed(exc: BaseException) -> None:
            log.error("simulation action failed: %r", exc, exc_info=exc)
            counters.error(f"action failed: {exc!r}")

        scheduler = Scheduler(start=DEFAULT_START, on_error=action_failed)
        fleet = LiveFleet(world, broker, counters, netloop)
        log.info(
            "%s: connecting %d devices of site %s to %s",
            scenario,
            len(fleet.devices),
            site.id,
            broker.describe(),
        )
        try:
            fleet.connect_all()
            SCENARIOS[scenario].install(SimContext(world, scheduler, fleet))

            def progress(sim_now: float) -> None:
                log.info("sim %s: %d messages published", clock_text(sim_now), counters.total_published())

            real, sim = run_realtime(scheduler, speed, stop_event, duration, progress)
        finally:
            fleet.shutdown()
        return counters.snapshot(
            scenario=scenario,
            seed=seed,
            broker=broker.describe(),
            speed=speed,
            duration_s=real,
            sim_seconds=sim,
            devices=len(fleet.devices),
            connections=fleet.connection_count,
        )
    finally:
        netloop.stop()


def plan_scenario(
    scenario: str = "community", sim_seconds: float = 3600.0, seed: int = 1, site_file: str | None = None
) -> list[Record]:
    """Run a community scenario instantly, without a broker, and return what it does:
    `(sim time, device, channel | "drop" | "restore" | "fault", type, fields)` records."""
    if scenario not in SCENARIOS:
        raise ValueError(f"cannot plan {scenario!r}; one of {', '.join(SCENARIOS)}")
    world = CommunityWorld.build(load_site(site_file), seed)
    scheduler = Scheduler(start=DEFAULT_START)
    fleet = RecordingFleet(world, lambda: scheduler.now)
    SCENARIOS[scenario].install(SimContext(world, scheduler, fleet))
    scheduler.run_until(DEFAULT_START + sim_seconds)
    return fleet.records
