"""`anju demo` as a newcomer runs it: a real process, its embedded broker, Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

import httpx
import pytest

from tests.helpers import Publisher, wait_for
from tools.bench.mosquitto import free_port


class Demo:
    """`anju demo` in a subprocess, its output collected as it is printed."""

    def __init__(self, *args: str) -> None:
        self.port, self.mqtt_port = free_port(), free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "anju.cli", "demo", "--port", str(self.port), "--mqtt-port", str(self.mqtt_port),
             *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def login_token(self, role: str) -> str:
        """The demo token of `role`, from its printed one-time login link (which works once: the console trades
        its code for the token), checked against the token printed beside it."""
        pattern = re.compile(rf"^\s+{role} .*#login=(\S+)$")
        line = wait_for(lambda: next((i for i, line in enumerate(self.lines) if pattern.match(line)), None),
                        timeout=60, what=f"the {role} login link")
        code = pattern.match(self.lines[line]).group(1)  # type: ignore[union-attr]
        wait_for(lambda: len(self.lines) > line + 1, timeout=10, what="the token printed under the link")
        printed = self.lines[line + 1].split("token ", 1)[1].strip()
        redeemed = httpx.post(f"http://127.0.0.1:{self.port}/api/v1/login", json={"code": code}, timeout=10)
        assert redeemed.status_code == 200 and redeemed.json()["token"] == printed, redeemed.text
        again = httpx.post(f"http://127.0.0.1:{self.port}/api/v1/login", json={"code": code}, timeout=10)
        assert again.status_code == 401  # a login link works once
        return printed

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"demo did not stop on Ctrl-C:\n{''.join(self.lines)[-3000:]}")
        self._reader.join(timeout=5)
        return "".join(self.lines)


def health(port: int) -> dict | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def test_demo_runs_the_simulated_community_and_stops_cleanly() -> None:
    demo = Demo("--speed", "600")
    try:
        status = wait_for(lambda: (h := health(demo.port)) and h["mqtt_connected"] and h["messages_accepted"] > 20
                          and h, timeout=60, interval=0.5, what="simulated traffic through the demo")
        assert status["database"] == "ok"
    finally:
        out = demo.stop()
    assert demo.proc.returncode == 0, out[-3000:]
    assert "http://127.0.0.1:" in out and "Anju demo stopped." in out
    assert "Traceback" not in out, out[-3000:]


def test_demo_without_simulators_takes_a_press_to_the_patrol_login_it_prints() -> None:
    demo = Demo("--no-simulators")
    try:
        wait_for(lambda: (h := health(demo.port)) and h["mqtt_connected"], timeout=60, interval=0.3, what="demo up")
        patrol = {"Authorization": f"Bearer {demo.login_token('patrol')}"}
        api = f"http://127.0.0.1:{demo.port}/api/v1"
        assert httpx.get(f"{api}/me", headers=patrol).json()["role"] == "patrol"
        pub = Publisher(f"mqtt://127.0.0.1:{demo.mqtt_port}", "hexie")
        try:
            device = _first_elder_button()
            pub.send(device, "elder_button", "event", type="press")
        finally:
            pub.close()
        alerts = wait_for(lambda: httpx.get(f"{api}/alerts", headers=patrol).json(), timeout=10,
                          what="the SOS in the patrol's alert list")
        assert alerts[0]["device_id"] == device and alerts[0]["severity"] == "critical"
        assert httpx.get(f"http://127.0.0.1:{demo.port}/", follow_redirects=True).status_code == 200  # the console
    finally:
        out = demo.stop()
    assert demo.proc.returncode == 0, out[-3000:]


def _first_elder_button() -> str:
    from kernel.siteconfig import load_site_config, sample_community_path

    community = load_site_config(sample_community_path())
    return next(d.id for d in community.sites[0].devices if d.kind == "elder_button")
