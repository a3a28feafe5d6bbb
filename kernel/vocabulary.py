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
