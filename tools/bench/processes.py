"""Child processes for the benchmarks that run Anju in production shape.

`anju serve` and `anju simulate` run as child processes, each with its own
interpreter: in one process they would share one interpreter lock, and a figure
would measure that contention instead of the gateway. The CPU a child used is
read from the kernel (`/proc/<pid>/stat`), so a benchmark can state the cost per
message of each process whatever else the machine runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


class AnjuProcess:
    """A child `anju` command with its output kept in a log file (shown when it fails)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "anju.cli", *args], env={**os.environ, **env},
                                            stdout=out, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def check(self) -> None:
        """Raise with the end of its log if the child has exited (a benchmark must not wait for a dead child)."""
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.log.name} exited ({self.process.returncode}):\n"
                               f"{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        """Wait for a child that ends by itself (`anju simulate --duration`); its exit code."""
        return self.process.wait(timeout)

    def stop(self) -> None:
        """SIGTERM (the graceful stop `anju serve` handles), SIGKILL after 20 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def wait_ready(gateway: AnjuProcess, port: int, timeout: float = 60.0) -> None:
    """Until the `anju serve` child answers `/healthz` on `port` and is connected to its broker."""
    import httpx  # a test extra: only the benchmarks that run `anju serve` children need it

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gateway.check()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json().get("mqtt_connected"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the gateway did not connect within {timeout:.0f} s (log: {gateway.log})")


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far, all its threads (None: gone or not on this host).

    Fields 14 and 15 of `/proc/<pid>/stat`; the command name (field 2) may hold
    spaces or parentheses, so the fields are counted from its closing parenthesis.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS
