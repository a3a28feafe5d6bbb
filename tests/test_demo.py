"""`anju demo` as a newcomer runs it: a real process, its embedded broker, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from anju.bench.mosquitto import free_port
from tests.helpers import Publisher, wait_for


def start_demo(*args: str) -> tuple[subprocess.Popen[str], int, int]:
    port, mqtt_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "anju.cli", "demo", "--port", str(port), "--mqtt-port", str(mqtt_port), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return proc, port, mqtt_port


def health(port: int) -> dict | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"demo did not stop on Ctrl-C:\n{out[-3000:]}")
    return out


def test_demo_runs_the_simulated_community_and_stops_cleanly() -> None:
    proc, port, _ = start_demo("--speed", "600")
    try:
        status = wait_for(lambda: (h := health(port)) and h["mqtt_connected"] and h["messages_accepted"] > 20 and h,
                          timeout=60, interval=0.5, what="simulated traffic through the demo")
        assert status["database"] == "ok"
    finally:
        out = stop(proc)
    assert proc.returncode == 0, out[-3000:]
    assert "http://127.0.0.1:" in out and "Anju demo stopped." in out
    assert "Traceback" not in out, out[-3000:]


def test_demo_without_simulators_accepts_a_device() -> None:
    proc, port, mqtt_port = start_demo("--no-simulators")
    try:
        wait_for(lambda: (h := health(port)) and h["mqtt_connected"], timeout=60, interval=0.3, what="demo up")
        pub = Publisher(f"mqtt://127.0.0.1:{mqtt_port}", "hexie")
        try:
            device = _first_elder_button()
            pub.send(device, "elder_button", "event", type="press")
        finally:
            pub.close()
        wait_for(lambda: health(port)["messages_accepted"] >= 1, timeout=10, what="the press")
    finally:
        out = stop(proc)
    assert proc.returncode == 0, out[-3000:]


def _first_elder_button() -> str:
    from anju.siteconfig import load_site_config, sample_community_path

    community = load_site_config(sample_community_path())
    return next(d.id for d in community.sites[0].devices if d.kind == "elder_button")
