"""Liveness (`/healthz`, the one route without a token) and Prometheus metrics (`/metrics`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import func, select, text

from api.auth import Permission, Principal
from api.deps import DB, Svc, errors, require
from devices import driver_errors
from kernel import __version__
from kernel.db.models import Alert, Device
from kernel.vocabulary import OPEN_STATES, SEVERITIES
from vision import missing_models

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(svc: Svc) -> dict[str, Any]:
    """Liveness, without authentication: is the process up, is it connected, can it reach its database."""
    gateway = svc.gateway
    try:
        with gateway.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        db_ok = True
    except Exception:  # noqa: BLE001 - reported, not raised
        db_ok = False
    return {
        "status": "ok",
        "version": __version__,
        "mqtt_connected": gateway.hub.connected.is_set(),
        "database": "ok" if db_ok else "unavailable",
        "queue_depth": gateway.hub.inbox.qsize(),
        "messages_accepted": int(gateway.metrics.total("anju_messages_total", outcome="accepted")),
        "dead_letters": int(gateway.metrics.total("anju_dead_letters_total")),
        "driver_errors": [error.as_dict() for error in driver_errors],
        "vision": _vision(svc),
    }


def _vision(svc: Svc) -> dict[str, Any]:
    """Whether pictures can be read: the model packages, and the recognition queue (docs/vision.md)."""
    pool = svc.gateway.reader.pool
    return {"enabled": svc.settings.vision.enabled, "missing_models": missing_models(),
            "queued": pool.in_flight, "queue_limit": pool.queue_limit, "refused": pool.refused,
            "failed": pool.failed}


PROMETHEUS_TEXT = {"description": "Prometheus text exposition format",
                   "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}


@router.get("/metrics", response_class=Response, responses={200: PROMETHEUS_TEXT, **errors()})
def metrics(svc: Svc, session: DB, _who: Annotated[Principal, Depends(require(Permission.METRICS_READ))]) -> Any:
    """Prometheus text format: the gateway's counters, plus open alerts and device states read at scrape time."""
    gateway = svc.gateway
    gateway.metrics.queue_depth.set(gateway.hub.inbox.qsize())
    gateway.metrics.mqtt_connected.set(1 if gateway.hub.connected.is_set() else 0)
    now = CollectorRegistry()
    open_alerts = Gauge("anju_open_alerts", "Alerts not resolved, by severity and state", ["severity", "state"],
                        registry=now)
    for severity in SEVERITIES:
        for state in OPEN_STATES:
            open_alerts.labels(severity, state).set(0)
    for severity, state, count in session.execute(
            select(Alert.severity, Alert.state, func.count()).where(Alert.state != "resolved")
            .group_by(Alert.severity, Alert.state)):
        open_alerts.labels(severity, state).set(count)
    devices = Gauge("anju_devices", "Registered devices by kind and connection state", ["kind", "state"], registry=now)
    for kind, online, count in session.execute(
            select(Device.kind, Device.online, func.count()).group_by(Device.kind, Device.online)):
        devices.labels(kind, "unknown" if online is None else "online" if online else "offline").set(count)
    Gauge("anju_alert_stream_clients", "Live alert stream connections", registry=now).set(svc.alerts.subscribers)
    Gauge("anju_api_auth_blocked_total", "Requests refused (429) after too many wrong tokens from one address",
          registry=now).set(svc.failed_auth.blocked_total)
    body = generate_latest(gateway.metrics.registry) + generate_latest(now)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
