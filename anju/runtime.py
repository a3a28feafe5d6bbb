"""Assemble the running service from settings: gateway + rule engine, the same for `serve` and `demo`."""

from __future__ import annotations

from dataclasses import dataclass

from anju.config import Settings
from gateway.service import Gateway
from rules.engine import RuleEngine


@dataclass
class Runtime:
    gateway: Gateway
    rules: RuleEngine
    """Kept for the API's live alert stream, which listens to the engine's alert changes."""


def build_runtime(settings: Settings) -> Runtime:
    gateway = Gateway(settings)
    engine = RuleEngine.from_files(settings.rules.files)
    engine.attach(gateway)
    return Runtime(gateway, engine)
