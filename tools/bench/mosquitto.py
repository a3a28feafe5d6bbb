"""A private Mosquitto, configured for load, for benchmarks and tests that must own their broker.

Mosquitto's defaults (20 unacknowledged QoS 1 messages per client, 1000 queued)
silently drop messages to a busy subscriber; a broker Anju starts never runs
with them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CONFIG = """\
{listener}allow_anonymous {anonymous}
persistence {persistence}
persistence_location {workdir}/
max_queued_messages 0
max_inflight_messages {max_inflight}
max_packet_size 1048576
sys_interval 1
set_tcp_nodelay true
log_dest none
user {user}
{extra}"""


def _current_user() -> str:
    """Mosquitto started as root switches to the `mosquitto` user, which cannot write our private directory
    (persistence silently lost) nor read files the test made: it stays who started it. A no-op otherwise."""
    return pwd.getpwuid(os.geteuid()).pw_name


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class ManagedProcess:
    """A server a benchmark or test owns: spawned, waited for until it answers, stopped."""

    name = "server"
    port: int
    process: subprocess.Popen[bytes] | None = None

    def _spawn(self, args: list[str], ready: Callable[[], bool], timeout: float) -> None:
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"{self.name} exited at start: {err}")
            if ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer on port {self.port} within {timeout}s")

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (a graceful stop) or SIGKILL."""
        if self.process is not None and self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None


class ManagedMosquitto(ManagedProcess):
    name = "mosquitto"

    def __init__(self, port: int | None = None, persistence: bool = False, max_inflight: int = 1000,
                 anonymous: bool = True, extra_config: str = "", listener: bool = True) -> None:
        """`extra_config`: lines appended to the configuration (later lines win for simple options),
        e.g. `include_dir` of what `anju broker-config` wrote, with `anonymous=False`; `listener=False`
        when `extra_config` declares the listener itself (on `port`, which must then be given)."""
        self.binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.port = port or free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="anju-mosquitto-"))
        self.persistence = persistence
        self.max_inflight = max_inflight
        self.anonymous = anonymous
        self.extra_config = extra_config
        self.listener = listener
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(CONFIG.format(port=self.port, workdir=self.workdir, max_inflight=self.max_inflight,
                                      persistence="true" if self.persistence else "false",
                                      anonymous="true" if self.anonymous else "false",
                                      extra=self.extra_config, user=_current_user(),
                                      listener=f"listener {self.port} 127.0.0.1\n" if self.listener else ""))
        self._spawn([self.binary, "-c", str(conf)], lambda: listening(self.port), timeout)

    def __enter__(self) -> ManagedMosquitto:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
