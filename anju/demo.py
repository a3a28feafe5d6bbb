"""`anju demo`: broker, database, gateway, API and a simulated community in one process."""

from __future__ import annotations

import logging
import socket
import tempfile
import threading
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from anju.runtime import build_runtime
from api.app import create_app
from api.serve import serve_http
from gateway.embedded_broker import EmbeddedBroker
from kernel.config import load_settings
from kernel.db.models import Grid
from kernel.siteconfig import sample_community_path

log = logging.getLogger(__name__)


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


DEMO_USERS: tuple[tuple[str, str], ...] = (
    ("patrol", "patrol 巡逻 (all four grids)"),
    ("maintenance", "maintenance 运维"),
    ("integrator", "integrator 集成"),
    ("office", "office 社区办公室 (reports)"),
    ("admin", "admin 管理员"),
)


def demo_tokens(sessions: sessionmaker[Session]) -> dict[str, tuple[str, str]]:
    """One fresh token per role for the sample community, with a one-time console login path for it; printed
    once, stored only as hashes (the login link carries a code that works once, not the token: docs/api.md)."""
    from api.auth import Role, issue_login_link
    from api.routers.tokens import TokenIn, issue_token, login_path
    from kernel.timeutil import utcnow

    names = {"patrol": "巡逻员 张建国", "maintenance": "运维 李工", "integrator": "集成商 王工",
             "office": "社区办公室 刘主任", "admin": "管理员"}
    logins = {}
    with sessions.begin() as session:
        grids = list(session.scalars(select(Grid.id).order_by(Grid.id)))
        for role, _label in DEMO_USERS:
            body = TokenIn(name=names[role], role=Role(role), grids=grids if role == "patrol" else None)
            row, token = issue_token(session, body, "anju demo")
            logins[role] = (token, login_path(issue_login_link(session, row.id, token, utcnow())))
    return logins


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
    tokens = demo_tokens(gateway.sessions)
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
    console = f"http://{host}:{port}/console/"
    logins = "".join(f"    {label:<34}http://{host}:{port}{tokens[role][1]}\n{'':<38}token {tokens[role][0]}\n"
                     for role, label in DEMO_USERS)
    print(
        "\nAnju demo is running.\n"
        f"  Console           {console}   (OpenAPI: http://{host}:{port}/docs)\n"
        "  Log in as (each link works once, within 24 h; after that, paste the token into the login form):\n"
        f"{logins}"
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
