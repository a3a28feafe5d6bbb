"""The `anju` command (SPEC §1)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Literal, cast

import typer

from vision.cli import enroll, recognize_app

app = typer.Typer(help="Anju (安居): the smart-community gateway.", no_args_is_help=True, add_completion=False)


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    for noisy in ("alembic", "amqtt", "transitions", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="API and console port")] = 8080,
    mqtt_port: Annotated[int, typer.Option(help="embedded MQTT broker port")] = 1884,
    no_simulators: Annotated[bool, typer.Option("--no-simulators", help="start without simulated devices")] = False,
    db: Annotated[str | None, typer.Option(help="database URL (default: a fresh SQLite file)")] = None,
    speed: Annotated[float, typer.Option(help="simulated seconds per real second")] = 60.0,
    seed: Annotated[int, typer.Option(help="simulation seed; the same seed replays the same day")] = 1,
) -> None:
    """One process, zero set-up: embedded broker, SQLite, API and a simulated community."""
    from anju.demo import run_demo

    _logging("INFO")
    raise typer.Exit(run_demo(port=port, mqtt_port=mqtt_port, simulators=not no_simulators, db_url=db,
                              speed=speed, seed=seed))


@app.command()
def serve(
    config: Annotated[Path | None, typer.Option(help="YAML config file; ANJU_* variables override it")] = None,
) -> None:
    """Production: external broker, database by URL; no simulators."""
    from anju.server import run_server
    from kernel.config import load_settings

    settings = load_settings(config)
    _logging(settings.log_level)
    _log_driver_errors()
    run_server(settings)


@app.command()
def notify(
    config: Annotated[Path | None, typer.Option(help="YAML config file; ANJU_* variables override it")] = None,
) -> None:
    """Only the notification senders (SPEC §6), for a deployment that sends from processes of their own;
    the gateways then run with `notifications.workers: 0` and only queue."""
    from anju.senders import run_senders
    from kernel.config import load_settings

    settings = load_settings(config)
    _logging(settings.log_level)
    run_senders(settings)


def _log_driver_errors() -> None:
    """Third-party drivers that could not be loaded (each was skipped; everything else runs): one line each."""
    import logging

    from devices import DRIVERS, driver_errors

    log = logging.getLogger("anju.devices")
    log.info("device drivers: %s", ", ".join(sorted(DRIVERS)))
    for error in driver_errors:
        log.error("%s", error)


@app.command()
def simulate(
    broker: Annotated[str, typer.Option(help="mqtt://[user:pass@]host:port")] = "mqtt://127.0.0.1:1883",
    scenario: Annotated[str, typer.Option(help="community, load, faults, sos, offline, lift-trapped, water-outage, "
                                                 "heating-cold, rules, rule-<id>")] = "community",
    devices: Annotated[int | None, typer.Option(help="load mode: number of simulated devices")] = None,
    rate: Annotated[float | None, typer.Option(help="load mode: total messages per second")] = None,
    duration: Annotated[float | None, typer.Option(help="seconds to run (default: until Ctrl-C)")] = None,
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same run")] = 1,
    speed: Annotated[float, typer.Option(help="community: simulated seconds per real second")] = 60.0,
    site_file: Annotated[Path | None, typer.Option(help="site file (default: the sample community)")] = None,
    kind: Annotated[str | None, typer.Option(help="load mode: only this device kind")] = None,
    connections: Annotated[int, typer.Option(help="load mode: shared MQTT connections")] = 4,
) -> None:
    """Drive simulated devices (or a named scenario) against any broker."""
    import signal
    import threading

    from simulators.connection import BrokerUnavailable
    from simulators.runner import run_simulation

    _logging("INFO")
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl-C ends the run and still prints the report
    try:
        report = run_simulation(broker, scenario=scenario, devices=devices, rate=rate, duration=duration,
                                seed=seed, speed=speed, site_file=str(site_file) if site_file else None,
                                stop_event=stop, kind=kind, connections=connections)
    except (BrokerUnavailable, ValueError) as exc:
        typer.echo(f"anju simulate: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(report.summary())


@app.command("broker-config")
def broker_config(
    site_file: Annotated[Path, typer.Option(help="site file whose devices get broker users")],
    out: Annotated[Path, typer.Option(help="directory for passwd, acl, credentials.csv, gateway.env, "
                                           "mosquitto.conf")],
    gateway_user: Annotated[str, typer.Option(help="the gateway's broker user name")] = "anju-gateway",
    broker: Annotated[str | None, typer.Option(help="mqtt:// or mqtts:// host:port the gateway connects "
                                                    "to, for gateway.env (default: as before, else "
                                                    "mqtt://127.0.0.1:1883)")]
    = None,
    listen: Annotated[str | None, typer.Option(help="Mosquitto listener, PORT or ADDRESS:PORT (default: as before, "
                                                    "else the --broker port)")] = None,
    rotate: Annotated[bool, typer.Option("--rotate", help="new passwords for every device and the gateway "
                                                           "(default: existing passwords are kept)")] = False,
    bind_client_ids: Annotated[bool, typer.Option(help="client id = user name, so no device can take over the "
                                                       "gateway's session; turn off only for gateway workers "
                                                       "sharing one user")] = True,
) -> None:
    """Mosquitto users and ACL: each device may publish only as itself (docs/security.md)."""
    import yaml

    from tools.brokerconfig import BrokerConfigError, generate_broker_config

    try:
        result = generate_broker_config(site_file, out, gateway_user=gateway_user, broker=broker, listen=listen,
                                        rotate=rotate, bind_client_ids=bind_client_ids)
    except (BrokerConfigError, ValueError, OSError, yaml.YAMLError) as exc:
        typer.echo(f"anju broker-config: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(result.summary())


rules_app = typer.Typer(help="Rule files: validate them.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("check")
def rules_check(files: Annotated[list[Path], typer.Argument(help="rule files (YAML)")]) -> None:
    """Validate rule files; print every error as FILE:LINE: reason, exit non-zero if there is any."""
    from rules.check import main as check_main

    raise typer.Exit(check_main([str(f) for f in files]))


@rules_app.command("backtest")
def rules_backtest(
    files: Annotated[list[Path], typer.Argument(help="rule files (YAML)")],
    since: Annotated[str, typer.Option(help="start of the replay, RFC 3339 or YYYY-MM-DD (UTC)")],
    until: Annotated[str | None, typer.Option(help="end of the replay (default: now)")] = None,
    config: Annotated[Path | None, typer.Option(help="config file naming the database")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Replay stored events through rule files and report what would have fired (live alerts untouched)."""
    import json
    from dataclasses import asdict
    from datetime import UTC, datetime

    from alerting.backtest import run_backtest
    from kernel.config import load_settings
    from kernel.db import make_engine, session_factory
    from kernel.timeutil import parse_instant as when
    from rules.loader import RuleFileError, load_rule_files

    try:
        rules = load_rule_files(files)
    except RuleFileError as exc:
        typer.echo("\n".join(str(e) for e in exc.errors), err=True)
        raise typer.Exit(1) from None
    settings = load_settings(config)
    engine = make_engine(settings.db.url)
    fired = run_backtest(session_factory(engine), rules, when(since), when(until) if until else datetime.now(UTC))
    if as_json:
        typer.echo(json.dumps([asdict(f) for f in fired], ensure_ascii=False, indent=2))
        return
    for f in fired:
        typer.echo(f"{f.first_at}  {f.severity:<8} {f.rule:<28} {f.device_id or '-':<16} x{f.count}  {f.title}")
    typer.echo(f"{len(fired)} alert{'s' if len(fired) != 1 else ''} would have fired")


@app.command()
def report(
    out: Annotated[Path, typer.Option(help="file to write; its suffix (.pdf, .xlsx, .csv, .json) is the format")],
    month: Annotated[str | None, typer.Option(help="YYYY-MM in the site's time zone (default: last month)")] = None,
    since: Annotated[str | None, typer.Option("--from", help="start instead of --month, RFC 3339")] = None,
    until: Annotated[str | None, typer.Option("--to", help="end (exclusive), RFC 3339 (default: now)")] = None,
    group_by: Annotated[str, typer.Option(help="grid, site, rule or severity")] = "grid",
    site: Annotated[str | None, typer.Option(help="only this site (default: every site)")] = None,
    config: Annotated[Path | None, typer.Option(help="config file naming the database")] = None,
) -> None:
    """The office's report (SPEC §7) to a file: `anju report --month 2026-11 --out bulletin.pdf` is the monthly
    bulletin (月度通报) the cron job mails on the 1st."""
    from office.cli import ReportRequest, write_report

    try:
        written = write_report(ReportRequest(out=out, month=month, since=since, until=until, group_by=group_by,
                                             site=site), config)
    except ValueError as exc:
        typer.echo(f"anju report: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(written)


bench_app = typer.Typer(help="Benchmarks: each reports a ratio against a limit measured in the same run.",
                        no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("ingest")
def bench_ingest(
    broker: Annotated[str | None, typer.Option(help="broker URL (default: a private Mosquitto per run, configured "
                                                    "for load)")] = None,
    devices: Annotated[int, typer.Option(help="simulated devices")] = 500,
    rate: Annotated[float, typer.Option(help="offered messages per second of the fixed-rate run")] = 1000.0,
    duration: Annotated[float, typer.Option(help="seconds of traffic per run (and per sweep step)")] = 15.0,
    db: Annotated[str | None, typer.Option(help="default: a fresh SQLite file per run; a PostgreSQL URL: the "
                                                "server where a fresh database is created per run")] = None,
    influx_url: Annotated[str | None, typer.Option(help="send readings to this InfluxDB (or VictoriaMetrics) "
                                                        "instead of the SQL store")] = None,
    out: Annotated[Path | None, typer.Option(help="write every figure as JSON here")] = None,
    publishers: Annotated[int, typer.Option(help="load generator processes sharing the rate")] = 2,
    mix: Annotated[str, typer.Option(help="issue: 60 % elder heartbeats, 30 % gate passes, 10 % fence "
                                          "telemetry; all-kinds: the five kinds in turn, each its routine mix")]
    = "issue",
    kind: Annotated[str | None, typer.Option(help="every simulated device of this kind, its routine mix "
                                                  "(instead of --mix)")] = None,
    saturate: Annotated[bool, typer.Option(help="after the fixed-rate run, a sweep (2k, 4k, 8k… msg/s) until the "
                                                "gateway falls behind or sheds")] = False,
    workers: Annotated[str | None, typer.Option(help="N `anju serve` worker processes sharing one subscription, "
                                                     "or a list 1,2,3 (one run each, fresh database); more than "
                                                     "one needs --db postgresql+psycopg://...")] = None,
) -> None:
    """The gateway (`anju serve`, own process) against a bare paho subscriber on the same traffic: rates, and
    CPU per message of each."""
    from tools.bench.ingest import run_ingest_bench
    from tools.bench.mixes import check_mix
    from tools.bench.workers import check_workers_database, parse_worker_counts, run_workers_bench

    _logging("WARNING")
    try:
        check_mix(mix, kind)
        if publishers < 1:
            raise ValueError("--publishers must be at least 1")
        counts = parse_worker_counts(workers) if workers is not None else None
        if counts is not None:
            check_workers_database(counts, db)
            if saturate:
                raise ValueError("--saturate runs one gateway: leave out --workers")
    except ValueError as exc:
        typer.echo(f"anju bench ingest: {exc}", err=True)
        raise typer.Exit(2) from None
    if counts is None:
        typer.echo(run_ingest_bench(broker, devices, rate, duration, db, out, influx_url, mix=mix, kind=kind,
                                    publishers=publishers, saturate=saturate).summary())
        return
    typer.echo(run_workers_bench(counts, broker, devices, rate, duration, db, out, influx_url, kind, mix,
                                 publishers).summary())


@bench_app.command("latency")
def bench_latency(
    presses: Annotated[int, typer.Option(help="elder presses to time")] = 200,
    background_rate: Annotated[float, typer.Option(help="background fence telemetry, msg/s (0: none)")] = 5000,
    db: Annotated[str | None, typer.Option(help="database URL (default: a fresh SQLite file)")] = None,
    out: Annotated[Path | None, typer.Option(help="write the result as JSON here")] = None,
    notify: Annotated[bool, typer.Option(help="also time the notification to a local webhook")] = True,
) -> None:
    """Press -> alert on the alerts topic and the live stream, and -> notification at a local webhook,
    p50/p99/max, against the bare MQTT hop."""
    from tools.bench.latency import run_latency_bench

    _logging("WARNING")
    typer.echo(run_latency_bench(presses, background_rate, db, out, notify).summary())


@bench_app.command("scale")
def bench_scale(
    devices: Annotated[int, typer.Option(min=1, help="registered devices, spread over 50 sites")] = 100_000,
    rules: Annotated[int, typer.Option(min=1, help="generated rules, on top of the built-in pack")] = 1000,
    messages: Annotated[int, typer.Option(min=1, help="messages through each gateway")] = 20_000,
    db: Annotated[str | None, typer.Option(help="an empty database for the bench only, emptied between its runs "
                                                "(default: fresh SQLite files)")] = None,
    out: Annotated[Path | None, typer.Option(help="write the result as JSON here")] = None,
) -> None:
    """Start-up, memory per device and evaluation rate with many devices and rules, against the built-in pack alone."""
    from tools.bench.scale import run_scale_bench

    _logging("WARNING")
    typer.echo(run_scale_bench(devices, rules, messages, db, out).summary())


@bench_app.command("readings")
def bench_readings(
    backend: Annotated[str, typer.Option(help="sql or influxdb")] = "sql",
    url: Annotated[str | None, typer.Option(help="influxdb: server URL (default: a private VictoriaMetrics)")]
    = None,
    token: Annotated[str | None, typer.Option(help="influxdb: API token")] = None,
    org: Annotated[str, typer.Option(help="influxdb: organisation")] = "anju",
    bucket: Annotated[str, typer.Option(help="influxdb: bucket")] = "anju",
    readings: Annotated[int, typer.Option(help="readings to write through each path")] = 200_000,
    batch_size: Annotated[int, typer.Option(help="influxdb: readings per write request")] = 5000,
    db: Annotated[str | None, typer.Option(help="sql: database URL (default: a fresh SQLite file)")] = None,
    out: Annotated[Path | None, typer.Option(help="write the result as JSON here")] = None,
) -> None:
    """Readings/s sustained through the reading store vs. the bare client writing the same rows (target >= 0.7x)."""
    from tools.bench.readings import run_readings_bench

    if backend not in ("sql", "influxdb"):
        raise typer.BadParameter("sql or influxdb", param_hint="--backend")
    _logging("WARNING")
    chosen = cast(Literal["sql", "influxdb"], backend)
    typer.echo(run_readings_bench(chosen, readings, url, token, org, bucket, batch_size, db, out).summary())


@bench_app.command("vision")
def bench_vision(
    repeat: Annotated[int, typer.Option(min=1, help="timed passes over every photo")] = 3,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the result as JSON here")] = None,
    plates_dir: Annotated[Path | None, typer.Option(help="labelled plate photos (default: ANJU_PLATES_DIR, "
                                                         "else ../shared/vision/plates)")] = None,
) -> None:
    """Plate reading and face matching on real photos, on one core, against the targets and a same-run calibration."""
    from tools.bench.vision import run_vision_bench

    _logging("WARNING")
    result = run_vision_bench(repeat, plates_dir, out=json_out)
    typer.echo(result.summary())
    if result.plates is None and result.faces is None:
        raise typer.Exit(1)  # nothing was measured


@bench_app.command("report")
def bench_report(
    alerts: Annotated[int, typer.Option(min=1, help="alerts in the month")] = 100_000,
    db: Annotated[str | None, typer.Option(help="an empty database's URL (default: a fresh SQLite file)")] = None,
    formats: Annotated[str, typer.Option(help="comma-separated formats to write after the figures")] = "csv,xlsx,pdf",
    out: Annotated[Path | None, typer.Option(help="write the result as JSON here")] = None,
) -> None:
    """The office's monthly report for N alerts: figures and each format, against a bare select of the same rows."""
    from tools.bench.report import run_report_bench

    _logging("WARNING")
    chosen = tuple(f.strip() for f in formats.split(",") if f.strip())
    typer.echo(run_report_bench(alerts, db, chosen, out).summary())


app.add_typer(recognize_app, name="recognize")
app.command("enroll")(enroll)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
