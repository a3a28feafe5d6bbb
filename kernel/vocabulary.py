"""The alert vocabulary, in one place: severities, states, audiences (SPEC §3).

The rule file format, the alert lifecycle, the API's types and the metrics all
speak it; written out in each, they could drift apart (a fifth severity in the
rules that the API refuses to show).
"""

from __future__ import annotations

from typing import Literal, get_args

Severity = Literal["critical", "major", "minor", "warning"]
"""Most urgent first: `SEVERITIES.index` orders them."""
State = Literal["open", "acknowledged", "resolved"]
Audience = Literal["patrol", "maintenance"]
"""Who an alert is for: the patrol chain of its grid, or maintenance."""

SEVERITIES: tuple[str, ...] = get_args(Severity)
STATES: tuple[str, ...] = get_args(State)
OPEN_STATES: tuple[str, ...] = ("open", "acknowledged")
"""States of an alert someone still has to act on."""
AUDIENCES: tuple[str, ...] = get_args(Audience)

Disposition = Literal["handled", "referred", "false_alarm", "device_fault", "test", "duplicate"]
"""How a resolved alert ended (docs/office.md): the outcome the monthly bulletin counts, beside the free-text note."""
DISPOSITIONS: tuple[str, ...] = get_args(Disposition)
DISPOSITION_LABELS: dict[str, str] = {
    "handled": "现场处置 real incident, handled on the spot",
    "referred": "转交处理 referred to another body (police, hospital, property company)",
    "false_alarm": "误报 false alarm",
    "device_fault": "设备故障 device fault",
    "test": "测试 test",
    "duplicate": "重复 duplicate of another alert",
}
"""Chinese first, as the office reads it; the English after it for integrators."""
DISPOSITION_REQUIRED: frozenset[str] = frozenset({"critical", "major"})
"""Severities whose resolution must say how it ended: the bulletin judges the community on them."""
