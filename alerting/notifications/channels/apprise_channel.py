"""Every target that is an Apprise URL: WeCom, DingTalk and Feishu group bots, email, webhooks, MQTT, and the rest.

One plugin instance per URL, kept (an MQTT target keeps its broker connection), used by one sender at a time (its
lock: plugins keep state between sends).

No sender ever sleeps for a rate limit. Apprise's plugins wait between two requests to the same service (5.5 s by
default) inside `send`: with a storm of alerts to one WeCom group, every sender thread would queue behind that
group while an SOS text message waits. Here Apprise's wait is off, and a group bot sent to again too soon (WeCom and
DingTalk take 20 messages a minute) gets a retryable outcome at once, with `retry_after` (the seconds until the
bot may be sent to again): the outbox tries again then, and the attempt does not count. A bot's own rate-limit
refusal (WeCom 45009, DingTalk 130101…) holds every message to that bot for `bots.RATE_LIMIT_WAIT` the same way.

WeCom and DingTalk say "refused" in an HTTP 200 body, which Apprise's plugins do not read: the plugins used here are
`bots`' subclasses, which do, and a refusal becomes a failed outcome with the service's errcode and errmsg.

Apprise's own retry loop is turned off (`retry=0`) and so is its call deadline: the outbox schedules retries, and a
deadline in Apprise abandons a send that is still running in a worker thread, which would then share the instance
with the next send. An attempt is bounded by the socket timeouts instead (`timeout_seconds`, for the connection
and for every read).
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from string import Formatter
from urllib.parse import parse_qsl, urlsplit

from apprise import NotifyBase, NotifyFormat, NotifyType, OverflowMode

from alerting.notifications.channels import _apprise
from alerting.notifications.channels.base import Message, Outcome
from alerting.notifications.channels.bots import CheckedBot, Refusal
from kernel.config import NotificationSettings

NOTIFY_TYPES: dict[str, NotifyType] = {
    "critical": NotifyType.FAILURE,
    "major": NotifyType.FAILURE,
    "minor": NotifyType.WARNING,
    "warning": NotifyType.WARNING,
    "info": NotifyType.INFO,
}
"""Severity (kernel.vocabulary: critical, major, minor, warning; "info" for messages that are no alert) → Apprise's
notify type (a Feishu card's colour, a JSON hook's `type`). Anything else is a WARNING: never shown as harmless."""

ENDPOINT_FIELDS: dict[str, str] = {"wecombot": "key", "dingtalk": "token", "feishu": "token"}
"""The schemas whose request URL `notifications.endpoints` may replace, and the field each template must contain."""

MIN_INTERVALS: dict[str, float] = {"wecombot": 3.0, "dingtalk": 3.0, "feishu": 0.6}
"""Seconds between two messages to one bot: WeCom and DingTalk allow 20 a minute, Feishu 100 a minute."""

MAX_INSTANCES = 512
"""Instances kept; past this the oldest is dropped (targets come from the site file: a bound, not a working set)."""

_HTTP_STATUS = re.compile(r"\berror=(\d{3})\b")
_PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 410, 413, 414, 415, 422})
"""HTTP refusals that the same request will meet again (a bad key, a removed hook): no retry."""


@dataclass
class _Instance:
    plugin: NotifyBase
    secrets: frozenset[str]
    service: str
    interval: float = 0.0
    next_at: float = 0.0
    """time.monotonic() before which this target is not sent to again (its rate limit)."""
    lock: threading.Lock = field(default_factory=threading.Lock)


def _check_endpoints(endpoints: dict[str, str]) -> dict[str, str]:
    """The endpoint templates, each checked now: a typo must stop start-up, not every WeCom message."""
    checked: dict[str, str] = {}
    for schema, template in endpoints.items():
        key = schema.lower().strip()
        if key not in ENDPOINT_FIELDS:
            known = "an Apprise schema whose request URL cannot be replaced" if key in _apprise.MANAGER else \
                "not an Apprise schema"
            raise ValueError(f"notifications.endpoints: {schema!r} is {known}; "
                             f"endpoints can be set for {', '.join(sorted(ENDPOINT_FIELDS))}")
        parts = urlsplit(template)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"notifications.endpoints[{schema!r}]: {template!r} is not an http(s) URL")
        wanted = ENDPOINT_FIELDS[key]
        try:
            fields = {name for _, name, _, _ in Formatter().parse(template) if name is not None}
        except ValueError as e:
            raise ValueError(f"notifications.endpoints[{schema!r}]: {e} (write a literal brace as {{{{ or }}}})") from e
        if fields != {wanted}:
            raise ValueError(f"notifications.endpoints[{schema!r}] must contain {{{wanted}}} and no other field "
                             f"(found {', '.join(sorted(fields)) or 'none'})")
        checked[key] = template
    return checked


class AppriseChannel:
    """Sends to Apprise URLs; never raises (a failure is an Outcome whose error carries no secret)."""

    name = "apprise"

    def __init__(self, settings: NotificationSettings) -> None:
        self.timeout = settings.timeout_seconds
        self.endpoints = _check_endpoints(settings.endpoints)
        self.asset = _apprise.asset()
        self._instances: dict[str, _Instance] = {}
        self._lock = threading.Lock()

    # -- instances ---------------------------------------------------------------------------------

    def _instance(self, address: str) -> _Instance:
        with self._lock:
            found = self._instances.get(address)
            if found is not None:
                return found
        loaded = _apprise.load(address, self.asset)  # ValueError: the target is unusable
        instance = _Instance(plugin=loaded.plugin, secrets=loaded.secrets, service=str(loaded.plugin.service_name),
                             interval=MIN_INTERVALS.get(loaded.schema, 0.0))
        self._configure(address, loaded.schema, loaded.plugin, instance)
        with self._lock:
            found = self._instances.setdefault(address, instance)  # another sender may have loaded it meanwhile
            while len(self._instances) > MAX_INSTANCES:
                del self._instances[next(iter(self._instances))]
            return found

    def _configure(self, address: str, schema: str, plugin: NotifyBase, instance: _Instance) -> None:
        """Our settings over the URL's: one bounded attempt, no retry loop, long bodies cut rather than refused.

        The timeouts are `timeout_seconds` (Apprise's defaults are 4 s, 15 s for SMTP) unless the URL sets a
        shorter `cto=`/`rto=` itself.
        """
        written = {key.lower() for key, _ in parse_qsl(urlsplit(address).query)}
        plugin.socket_connect_timeout = (min(plugin.socket_connect_timeout, self.timeout) if "cto" in written
                                         else self.timeout)
        plugin.socket_read_timeout = (min(plugin.socket_read_timeout, self.timeout) if "rto" in written
                                      else self.timeout)
        plugin.retry = 0
        plugin.request_rate_per_sec = 0  # no sleeping in a sender (see the module's docstring)
        plugin.overflow_mode = OverflowMode.TRUNCATE
        client = getattr(plugin, "client", None)  # MQTT: paho's own connect timeout (5 s by default)
        if client is not None and hasattr(client, "connect_timeout"):
            client.connect_timeout = self.timeout
        template = self.endpoints.get(schema)
        if template is None:
            return
        if schema == "wecombot":  # the plugin computes its request URL once, in __init__
            key = getattr(plugin, "key")  # noqa: B009 (an attribute of this plugin only)
            plugin.api_url = template.format(key=key)  # type: ignore[attr-defined]
            instance.secrets = instance.secrets | _apprise.variants([plugin.api_url])  # type: ignore[attr-defined]
        else:  # dingtalk, feishu: formatted with the token at every send
            plugin.notify_url = template  # type: ignore[attr-defined]

    def close(self) -> None:
        """Forget every instance (an MQTT plugin disconnects when it is collected)."""
        with self._lock:
            self._instances.clear()

    # -- sending -----------------------------------------------------------------------------------

    def send(self, address: str, message: Message) -> Outcome:
        try:
            instance = self._instance(address)
        except ValueError as e:
            return Outcome(delivered=False, error=_apprise.one_line(f"unusable target: {e}"), retry=False)
        except Exception as e:  # noqa: BLE001 (a plugin's constructor can raise anything; send never raises)
            return Outcome(delivered=False, error=_apprise.one_line(
                f"cannot load target: {type(e).__name__}: {_apprise.scrub(str(e), [address])}"), retry=True)
        notify_type = NOTIFY_TYPES.get(message.severity, NotifyType.WARNING)
        plugin = instance.plugin
        with instance.lock, _apprise.capturing(instance.secrets) as capture:
            now = time.monotonic()
            if now < instance.next_at:
                wait = instance.next_at - now
                return Outcome(delivered=False, retry=True, retry_after=round(wait, 3), error=(
                    f"{instance.service}: not sent, the bot's rate limit allows the next message in {wait:.1f} s"))
            instance.next_at = now + instance.interval
            if isinstance(plugin, CheckedBot):
                plugin.refusal = None
            try:
                sent = bool(plugin.notify(body=message.body, title=message.title, notify_type=notify_type,
                                          body_format=NotifyFormat.TEXT))
            except Exception as e:  # noqa: BLE001 (a plugin bug must not take a sender thread down)
                detail = _apprise.scrub(str(e), instance.secrets | {address})
                return Outcome(delivered=False, error=_apprise.one_line(
                    f"{instance.service}: {type(e).__name__}: {detail}"), retry=True)
            refusal = plugin.refusal if isinstance(plugin, CheckedBot) else None
            if refusal is not None and refusal.retry_after:  # the bot's own rate limit: hold the others too
                instance.next_at = max(instance.next_at, time.monotonic() + refusal.retry_after)
        if sent:
            return Outcome(delivered=True)
        if refusal is not None:
            return self._refused(instance, refusal)
        return self._failure(instance, capture)

    def _refused(self, instance: _Instance, refusal: Refusal) -> Outcome:
        """A bot's refusal in an HTTP 200: its errcode and errmsg, never the key."""
        error = _apprise.one_line(_apprise.scrub(refusal.error(), instance.secrets))
        return Outcome(delivered=False, error=error, retry=refusal.retry, retry_after=refusal.retry_after)

    def _failure(self, instance: _Instance, capture: _apprise.Capture) -> Outcome:
        """One line from what Apprise logged: its warning, then the low-level cause; retry unless HTTP said no."""
        warnings = capture.warnings()
        text = "; ".join(dict.fromkeys(warnings)) or f"{instance.service} did not accept the notification"
        cause = capture.cause()
        if cause and cause not in text:
            text = f"{text} ({cause})"
        statuses = [int(code) for line in warnings for code in _HTTP_STATUS.findall(line)]
        retry = not (statuses and statuses[-1] in _PERMANENT_STATUSES)
        return Outcome(delivered=False, error=_apprise.one_line(_apprise.scrub(text, instance.secrets)), retry=retry)
