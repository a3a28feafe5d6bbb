"""Assemble the running service from settings (`api.runtime.Runtime`): gateway + rule engine, the same for
`serve` and `demo`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alerting.engine import RuleEngine
from api.present import has_pictures, present_alert
from api.runtime import Runtime
from gateway.service import Gateway
from kernel.config import Settings
from patrol.rounds import RoundKeeper


def build_runtime(settings: Settings) -> Runtime:
    gateway = Gateway(settings)
    engine = RuleEngine.from_files(settings.rules.files)
    engine.attach(gateway)
    RoundKeeper(engine).attach(gateway)  # patrol rounds: made and closed on the gateway's clock
    engine.present = presenter(gateway)
    return Runtime(gateway, engine)


def presenter(gateway: Gateway) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Alerts on the alerts topic as the API and the stream show them: a picture by its public id, never the
    sequential internal one (a look-up only for alerts that have pictures)."""
    def present(alert: dict[str, Any]) -> dict[str, Any]:
        if not has_pictures(alert):
            return alert
        with gateway.sessions() as session:
            return present_alert(session, alert)

    return present


__all__ = ["Runtime", "build_runtime", "presenter"]
