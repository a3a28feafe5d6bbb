"""What every channel shares: the message, the outcome of one attempt, the channel's interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Message:
    """One notification as sent: a short title, the body, and what a channel may use to shape it."""

    title: str
    body: str
    severity: str = "warning"
    """critical, major, minor, warning (kernel.vocabulary.SEVERITIES): channels map it (Apprise's notify type:
    critical/major → failure, minor → warning, warning → info)."""
    link: str | None = None
    """The signed one-tap link (already in the body; channels with buttons may show it as one)."""
    short: str | None = None
    """At most ~60 characters, for an SMS template variable or a voice call's text; `title` when None."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one attempt."""

    delivered: bool
    error: str | None = None
    """Why not, in one line, with no secret in it (it is shown in the alert's history)."""
    retry: bool = True
    """False when trying again cannot help (a malformed target, a refused template): the row fails at once."""
    retry_after: float | None = None
    """Seconds after which trying again makes sense; the attempt does not count against max_attempts (a bot's or
    a provider's rate limit, our own spacing of one bot's messages). None: the outbox's usual backoff."""


class Channel(Protocol):
    """One way of reaching a target (Apprise, SMS, voice). `send` never raises: failures are outcomes."""

    name: str

    def send(self, address: str, message: Message) -> Outcome: ...
