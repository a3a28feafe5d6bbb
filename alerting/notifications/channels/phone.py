"""Phone numbers: an SMS, or a call for an SOS, through a provider's HTTP API (Apprise has no Chinese SMS provider).

The provider is behind a Protocol so another one (Tencent Cloud, an operator's gateway) is one class; the channels
only normalize the number and make sure nothing escapes as an exception.
"""

from __future__ import annotations

from typing import Protocol

from alerting.notifications.channels._apprise import one_line
from alerting.notifications.channels.base import Message, Outcome
from alerting.notifications.channels.targets import normalize_phone


class PhoneProvider(Protocol):
    """Sends to one normalized number (`normalize_phone`): 11 mainland digits, or +E.164."""

    def send_sms(self, phone: str, message: Message) -> Outcome: ...

    def call(self, phone: str, message: Message) -> Outcome: ...


def _number(address: str) -> str | Outcome:
    try:
        return normalize_phone(address)
    except ValueError as e:
        return Outcome(delivered=False, error=one_line(str(e)), retry=False)


class _PhoneChannel:
    """A channel that reaches a phone number through one of the provider's two ways (`send_sms`, `call`)."""

    name: str

    def __init__(self, provider: PhoneProvider) -> None:
        self.provider = provider

    def _reach(self, phone: str, message: Message) -> Outcome:
        raise NotImplementedError

    def send(self, address: str, message: Message) -> Outcome:
        phone = _number(address)
        if isinstance(phone, Outcome):
            return phone
        try:
            return self._reach(phone, message)
        except Exception as e:  # noqa: BLE001 (a provider bug must not take a sender thread down)
            kind = "SMS" if self.name == "sms" else self.name
            return Outcome(delivered=False, error=one_line(f"{kind} provider failed: {type(e).__name__}"), retry=True)


class SmsChannel(_PhoneChannel):
    """A text message to a phone number."""

    name = "sms"

    def _reach(self, phone: str, message: Message) -> Outcome:
        return self.provider.send_sms(phone, message)


class VoiceChannel(_PhoneChannel):
    """A call that reads the alert out: for an SOS, which a text message may leave unread."""

    name = "voice"

    def _reach(self, phone: str, message: Message) -> Outcome:
        return self.provider.call(phone, message)
