"""`anju demo`: broker, database, gateway, API and a simulated community in one process."""

from __future__ import annotations

import logging
import socket
import tempfile
import threading
from pathlib import Path

from anju.config import load_settings
from anju.runtime import build_runtime
from anju.siteconfig import sample_community_path
from api.app import create_app
from api.serve import serve_http
from gateway.embedded_broker import EmbeddedBroker

log = logging.getLogger(__name__)


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def run_demo(port: int, mqtt_port: int, simulators: bool, db_url: str | None, speed: float, seed: int) -> int:
    host = "127.0.0.1"
    for what, p, flag in (("MQTT", mqtt_port, "--mqtt-port"), ("API", port, "--port")):
        if not port_free(host, p):
            log.error("%s port %d is already in use: choose another with %s", what, p, flag)
            return 2
    workdir = Path(tempfile.mkdtemp(prefix="anju-demo-"))
    db_url = db_url or f"sqlite:///{workdir / 'anju-demo.db'}"
    broker = EmbeddedBroker(host, mqtt_port)
    broker.start()
    settings = load_settings(
        mqtt={"url": f"mqtt://anju-gateway@{host}:{mqtt_port}", "client_id": "anju-demo-gateway"},
        db={"url": db_url},
        api={"host": host, "port": port},
        site_file=str(sample_community_path()),
    )
    runtime = build_runtime(settings)
    gateway = runtime.gateway
    gateway.start()
    stop_sims = threading.Event()
    sim_thread: threading.Thread | None = None
    if simulators:
        from simulators.runner import run_simulation

        sim_thread = threading.Thread(
            target=run_simulation, name="anju-simulators", daemon=True,
            kwargs={"broker_url": broker.url, "scenario": "community", "seed": seed, "speed": speed,
                    "stop_event": stop_sims},
        )
        sim_thread.start()
    print(
        "\nAnju demo is running.\n"
        f"  Console and API   http://{host}:{port}/   (OpenAPI: http://{host}:{port}/docs)\n"
        f"  Health            http://{host}:{port}/healthz\n"
        f"  MQTT broker       mqtt://{host}:{mqtt_port}  (any user name, no password)\n"
        f"  Database          {db_url}\n"
        f"  Simulators        {'the sample community (和谐社区), ' + str(speed) + 'x speed' if simulators else 'off'}\n"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )
    try:
        serve_http(create_app(runtime), host=host, port=port)
    finally:
        stop_sims.set()
        if sim_thread is not None:
            sim_thread.join(timeout=10)
        gateway.stop()
        broker.stop()
        print("Anju demo stopped.", flush=True)
    return 0
