"""Notification targets: the one string that says how to reach someone, checked once and shown without secrets.

A target is either an Apprise URL (`wecombot://KEY`, `dingtalk://SECRET@TOKEN`, `feishu://TOKEN`,
`mailto://…`, `json://host:port/path`, `mqtt://host:port/topic`, any schema Apprise knows, or a service's own
webhook address Apprise recognises) or a phone number reached through the configured provider: `sms:<phone>`,
`voice:<phone>`. Parsing uses Apprise's own parser, so a target accepted here is one Apprise can send to; and
`shown` comes from Apprise's privacy URL, so it is safe in an alert's history and in the console.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from alerting.notifications.channels import _apprise

PHONE_CHANNELS = ("sms", "voice")
_PHONE_PREFIX = re.compile(r"^(sms|voice):(?://)?(.*)$", re.IGNORECASE | re.DOTALL)
_SEPARATORS = re.compile(r"[\s\-().\u00a0]")
_MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")


@dataclass(frozen=True, slots=True)
class Target:
    """One way of reaching one recipient."""

    channel: str
    """The Apprise schema ("wecombot", "mailto", "json"…), or "sms" / "voice"."""
    address: str
    """What the channel sends to: the Apprise URL as written, or the normalized phone number."""
    shown: str
    """Safe to show (history, console, logs): no key, token or password; a phone as `sms:138****0001`."""

    def __str__(self) -> str:
        return self.shown


def normalize_phone(text: str | int) -> str:
    """A phone number as the provider wants it: a mainland mobile as its 11 digits, any other number as +E.164.

    Accepts what people type and YAML reads: `186-0000-1001`, `186 0000 1001`, `+86 186…`, `0086…`, `(0086)…`, and
    numbers YAML turned into ints. A number without `+`/`00` must be a mainland mobile: a bare 10-digit number could
    be a landline without its area code or a foreign number without its country code, and guessing sends an alert
    to a stranger.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError(f"a phone number must be text, not {type(text).__name__}")
    raw = str(text).strip()
    compact = _SEPARATORS.sub("", raw)
    if not compact:
        raise ValueError("empty phone number")
    if compact.startswith("+"):
        international, digits = True, compact[1:]
    elif compact.startswith("00"):
        international, digits = True, compact[2:]
    else:
        international, digits = False, compact
    if not digits.isdigit() or not digits.isascii():
        raise ValueError(f"not a phone number: {raw!r} (only digits, spaces, dashes, brackets and a leading +)")
    if not international:
        if _MAINLAND_MOBILE.match(digits):
            return digits
        raise ValueError(f"not a mainland mobile number: {raw!r} (11 digits starting with 1; write other numbers "
                         "with + and the country code)")
    if digits.startswith("86") and _MAINLAND_MOBILE.match(digits[2:]):
        return digits[2:]
    if digits.startswith("0"):
        raise ValueError(f"not a phone number: {raw!r} (a country code does not start with 0)")
    if not 8 <= len(digits) <= 15:
        raise ValueError(f"not a phone number: {raw!r} (an international number has 8 to 15 digits)")
    return "+" + digits


def mask_phone(phone: str) -> str:
    """`13800000001` → `138****0001`: enough to recognise a number in a history, not to dial it."""
    keep = 4 if phone.startswith("+") else 3
    if len(phone) <= keep + 4:
        return phone[:2] + "****"
    return phone[:keep] + "****" + phone[-4:]


def parse_target(text: str) -> Target:
    """A usable target, or ValueError saying why not (empty, unknown schema, Apprise cannot use it, not a phone)."""
    if not isinstance(text, str):
        raise ValueError(f"a target must be text, not {type(text).__name__}")
    return _parse(text.strip())


@lru_cache(maxsize=1024)
def _parse(text: str) -> Target:
    """Cached: senders parse a row's target at every attempt, and Apprise builds a plugin (for MQTT, a client) to
    check it. A refused text is not cached (the ValueError propagates), which costs only a refused target's time."""
    if not text:
        raise ValueError("empty target")
    phone = _PHONE_PREFIX.match(text)
    if phone is not None:
        channel = phone.group(1).lower()
        number = normalize_phone(phone.group(2))
        return Target(channel=channel, address=number, shown=f"{channel}:{mask_phone(number)}")
    loaded = _apprise.load(text)
    return Target(channel=loaded.schema, address=text, shown=loaded.shown)
