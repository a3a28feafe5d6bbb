"""How a target is reached: Apprise URLs (group bots, email, webhooks, MQTT), and phone numbers through a provider.

`Channels.send(target, message)` is all a sender needs: it picks the channel from the target and never raises, so
one bad target or one provider's bug costs one outcome, not a sender thread.
"""

from __future__ import annotations

from alerting.notifications.channels._apprise import one_line, scrub
from alerting.notifications.channels.aliyun import AliyunPhoneProvider
from alerting.notifications.channels.apprise_channel import AppriseChannel
from alerting.notifications.channels.base import Channel, Message, Outcome
from alerting.notifications.channels.phone import PhoneProvider, SmsChannel, VoiceChannel
from alerting.notifications.channels.targets import Target, normalize_phone, parse_target
from kernel.config import NotificationSettings

__all__ = ["Channel", "Channels", "Message", "Outcome", "PhoneProvider", "Target", "normalize_phone",
           "parse_target"]

NO_PHONE_PROVIDER = "no phone provider configured (notifications.phone)"


class Channels:
    """Every channel of this process, chosen per target."""

    def __init__(self, apprise: AppriseChannel, phone: PhoneProvider | None = None,
                 secrets: tuple[str, ...] = ()) -> None:
        self.apprise = apprise
        self.sms: Channel | None = SmsChannel(phone) if phone is not None else None
        self.voice: Channel | None = VoiceChannel(phone) if phone is not None else None
        self._secrets = secrets
        """Scrubbed out of an unexpected exception's message (the phone provider's key)."""

    @classmethod
    def from_settings(cls, settings: NotificationSettings) -> Channels:
        """The channels `settings` describe; ValueError (naming the setting) for a configuration that cannot work."""
        phone: PhoneProvider | None = None
        if settings.phone.provider == "aliyun":
            phone = AliyunPhoneProvider(settings.phone, settings.timeout_seconds)
        secrets = tuple(s for s in (settings.phone.access_key_secret, settings.phone.access_key_id) if s)
        return cls(AppriseChannel(settings), phone, secrets)

    def send(self, target: Target, message: Message) -> Outcome:
        """One attempt; never raises."""
        try:
            if target.channel in ("sms", "voice"):
                channel = self.sms if target.channel == "sms" else self.voice
                if channel is None:
                    return Outcome(delivered=False, error=NO_PHONE_PROVIDER, retry=False)
                return channel.send(target.address, message)
            return self.apprise.send(target.address, message)
        except Exception as e:  # noqa: BLE001 (the contract: failures are outcomes)
            detail = scrub(str(e), (target.address, *self._secrets))
            return Outcome(delivered=False, error=one_line(f"{type(e).__name__}: {detail}"), retry=True)

    def close(self) -> None:
        """Drop kept connections (MQTT targets)."""
        self.apprise.close()
