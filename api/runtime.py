"""What the API is given to serve: the running gateway and its rule engine (assembled by `anju.runtime`)."""

from __future__ import annotations

from dataclasses import dataclass

from alerting.engine import RuleEngine
from gateway.service import Gateway


@dataclass
class Runtime:
    gateway: Gateway
    rules: RuleEngine
    """Kept for the API's live alert stream, which listens to the engine's alert changes."""
