"""`AlertSpec`: what a rule wants raised, handed from the rule language (`rules`) to the alert lifecycle
(`alerting`).

It lives here, below `alerting`, because conditions produce it and must not import the lifecycle that
consumes it (the layers contract in pyproject.toml forbids `rules` → `alerting`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class AlertSpec:
    """What a rule wants raised."""

    rule: str
    type: str
    severity: str
    title: str
    site: str
    grid: str | None = None
    device_id: str | None = None
    kind: str | None = None
    audience: str = "patrol"
    dedup_key: str | None = None
    """None: one alert per trigger; otherwise repeats merge into the open alert with this key."""
    silenceable: bool = True
    evidence: dict[str, Any] = field(default_factory=dict)
