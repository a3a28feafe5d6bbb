"""What targets and the Apprise channel share: loading an Apprise URL, its secrets, and a private view of Apprise's log.

Apprise reports a failed send only as `False` and says why in its log, at WARNING ("Failed to send … error=404")
and, for the cause, at DEBUG ("Socket Exception: … Read timed out"). Its debug lines also print request URLs with
their keys in them. So, for as long as one of our sends runs, a filter on the `apprise` logger keeps every line
for that send (the outcome's one-line error is made from them) and rewrites it without the target's secrets before
anything else sees it. Lines below the level the application asked for are kept for us and dropped, as before.

The capture is a context variable, not a global handler: senders are several threads, and each one sees only the
lines of its own send (`apprise.LogCapture` adds a handler to the shared logger, so it would mix them).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

import apprise
from apprise import Apprise, AppriseAsset, NotificationManager, NotifyBase

from alerting.notifications.channels import bots

MASK = "****"
MIN_SECRET = 3
"""Shorter values are not scrubbed out of text (masking every "ab" would make errors unreadable)."""
ERROR_LIMIT = 300
"""An outcome's error is one line of at most this many characters."""

_SECRET_PARAMS = re.compile(
    r"(?i)((?:access_?token|token|key|secret|sign|signature|password|passwd|pass|apikey|api_key|accesskeyid)=)"
    r"[^&\s'\"]+"
)
"""Query parameters that carry a secret whatever the service: scrubbed even when we do not know the value."""
_USERINFO = re.compile(r"(://[^/\s:@]*:)[^@\s/]+@")
"""The password of any `schema://user:password@host` in a text."""
_SCHEMA = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_NATIVE_SCHEMAS = ("http", "https")
"""Apprise also recognises some services' own webhook addresses (https://qyapi.weixin.qq.com/…?key=…)."""

MANAGER = NotificationManager()
"""Apprise's plugin registry (a singleton): which schemas exist."""


def asset() -> AppriseAsset:
    """How Anju presents itself to services: the User-Agent, an email's sender name, a card's fallback title."""
    return AppriseAsset(app_id="Anju", app_desc="Anju", secure_logging=True)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the given secrets, URL passwords, or secret-looking query values, on one line."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= MIN_SECRET:
            text = text.replace(secret, MASK)
    text = _USERINFO.sub(rf"\g<1>{MASK}@", text)
    text = _SECRET_PARAMS.sub(rf"\g<1>{MASK}", text)
    return " ".join(text.split())


def one_line(text: str, limit: int = ERROR_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def variants(values: Iterable[str]) -> set[str]:
    """Each secret as written and as it appears percent-encoded in a URL or a log line."""
    out: set[str] = set()
    for value in values:
        if len(value) >= MIN_SECRET:
            out.update((value, quote(value, safe=""), quote_plus(value)))
    return out


# -- the log capture -------------------------------------------------------------------------------


@dataclass
class Capture:
    """The Apprise log lines of one send (or one parse), already scrubbed."""

    secrets: set[str] = field(default_factory=set)
    lines: list[tuple[int, str]] = field(default_factory=list)

    def warnings(self) -> list[str]:
        return [text for level, text in self.lines if level >= logging.WARNING]

    def cause(self) -> str | None:
        """The low-level reason Apprise logs at DEBUG after a failure (a socket or SMTP exception), shortened."""
        causes = [text.split(":", 1)[1].strip() for level, text in self.lines
                  if level < logging.WARNING and text.startswith(("Socket Exception:", "Connection Exception:"))]
        return _short_cause(causes[-1]) if causes else None


_ERRNO = re.compile(r"\[Errno -?\d+\][^\"')]+")


def _short_cause(cause: str) -> str:
    """`HTTPConnectionPool(host=…): Max retries exceeded … [Errno 111] Connection refused')` → the errno's words."""
    errno = _ERRNO.search(cause)
    if errno:
        return errno.group(0).strip()
    if "): " in cause:
        return cause.split("): ", 1)[1]
    return cause


_current: ContextVar[Capture | None] = ContextVar("anju_apprise_capture", default=None)


class _LogFilter(logging.Filter):
    """Keeps, scrubs and passes on Apprise's lines; see the module's docstring."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger
        self.lowered = False
        """We set the `apprise` logger to DEBUG (it had no level of its own), so we drop what it would not log."""

    def filter(self, record: logging.LogRecord) -> bool:
        capture = _current.get()
        if capture is not None:
            text = scrub(record.getMessage(), capture.secrets)
            capture.lines.append((record.levelno, text))
            record.msg, record.args = text, None
        return record.levelno >= self.passing_level()

    def passing_level(self) -> int:
        if self.lowered and self.logger.level == logging.DEBUG and self.logger.parent is not None:
            return self.logger.parent.getEffectiveLevel()
        return logging.NOTSET


_install_lock = threading.Lock()
_installed: _LogFilter | None = None


def _install() -> None:
    """Put the filter on the `apprise` logger once; lower the logger to DEBUG only if nobody chose its level."""
    global _installed
    with _install_lock:
        if _installed is not None:
            return
        logger = logging.getLogger(apprise.LOGGER_NAME)
        log_filter = _LogFilter(logger)
        logger.addFilter(log_filter)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.DEBUG)
            log_filter.lowered = True
        _installed = log_filter


@contextmanager
def capturing(secrets: Iterable[str] = ()) -> Iterator[Capture]:
    """Collect the Apprise log lines of the code inside, in this thread (or task) only."""
    _install()
    capture = Capture(secrets=variants(secrets))
    token = _current.set(capture)
    try:
        yield capture
    finally:
        _current.reset(token)


# -- loading a URL ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """An Apprise URL Apprise can use: its plugin instance, what must never be shown of it, and what may."""

    schema: str
    """The Apprise schema ("wecombot", "mailto", "json"…); a service's own webhook address gets its plugin's."""
    plugin: NotifyBase
    secrets: frozenset[str]
    shown: str


def _url_secrets(text: str) -> set[str]:
    """What may be secret in a URL Apprise could not load: we cannot ask its plugin, so every credential-like part."""
    try:
        parts = urlsplit(text)
        found = {parts.password or "", parts.username or ""}
        found.update(segment for segment in parts.path.split("/") if segment)
        found.update(value for _, value in parse_qsl(parts.query))
        if parts.hostname and "." not in parts.hostname:
            found.add(parts.hostname)  # a token in the host position (wecombot://KEY, feishu://TOKEN)
    except ValueError:
        return set()
    return {value for value in found if len(value) >= MIN_SECRET and "@" not in value}


def plugin_secrets(plugin: NotifyBase) -> set[str]:
    """The values a plugin marks private (keys, tokens, passwords), and the headers and parameters it sends."""
    found: set[str] = set()

    def add(value: Any) -> None:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                add(item)
        elif isinstance(value, dict):
            for item in value.values():
                add(item)

    # Each table on its own: an argument that is an alias of a private token (`?key=` of wecombot, `?token=` of
    # dingtalk) has the token's name and no `private` of its own, and must not hide the token's.
    for specs in (getattr(plugin, "template_tokens", {}), getattr(plugin, "template_args", {})):
        for name, spec in specs.items():
            if isinstance(spec, dict) and spec.get("private"):
                for attribute in (name, spec.get("map_to"), spec.get("alias_of")):
                    if isinstance(attribute, str):
                        add(getattr(plugin, attribute, None))
    for attribute in ("password", "headers", "params", "payload_extras"):
        add(getattr(plugin, attribute, None))
    return {value for value in found if len(value) >= MIN_SECRET}


def _shown(plugin: NotifyBase, original: str, secrets: Iterable[str]) -> str:
    """The plugin's privacy URL, with only the query arguments the target itself wrote (and headers masked)."""
    private = str(plugin.url(privacy=True))
    written = {key.lower() for key, _ in parse_qsl(urlsplit(original).query, keep_blank_values=True)}
    base, _, query = private.partition("?")
    kept = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.lower() not in written:
            continue  # Apprise's own defaults (overflow=, format=, retry=…): noise in a console
        kept.append(f"{key}={MASK if key[:1] in '+-:' else quote(value, safe='@.,')}")
    base = unquote(base.rstrip("/"))  # mailto://…/guard@example.com rather than guard%40example.com
    return scrub(base + ("?" + "&".join(kept) if kept else ""), variants(secrets))


def schema_of(text: str) -> str | None:
    match = _SCHEMA.match(text.strip())
    return match.group(1).lower() if match else None


def load(text: str, app_asset: AppriseAsset | None = None) -> Loaded:
    """Let Apprise parse and instantiate `text`; ValueError, with Apprise's reason (scrubbed), when it cannot."""
    text = text.strip()
    if not text:
        raise ValueError("empty target")
    schema = schema_of(text)
    if schema is None:
        raise ValueError("not a URL: expected an Apprise URL (schema://…) or sms:<phone> / voice:<phone>")
    if schema not in MANAGER and schema not in _NATIVE_SCHEMAS:
        raise ValueError(f"unknown schema {schema}:// (not an Apprise service; "
                         "phones are sms:<phone> or voice:<phone>)")
    guessed = _url_secrets(text)
    with capturing(guessed) as capture:
        plugin = Apprise.instantiate(text, asset=app_asset or asset())
        if plugin is not None:
            plugin = bots.checked(plugin, text)  # WeCom and DingTalk: read the errcode of an HTTP 200
    if plugin is None:
        reasons = [line for line in capture.warnings() if not line.startswith(("Could not load", "Unparseable"))]
        reason = "; ".join(reasons) or (capture.warnings() or ["Apprise cannot parse it"])[-1]
        if schema not in MANAGER:
            raise ValueError(f"unusable URL: not a service's webhook address Apprise recognises (a plain webhook is "
                             f"json{'s' if schema == 'https' else ''}://host/path)")
        raise ValueError(one_line(f"unusable {schema}:// URL: {reason}"))
    if len(plugin) == 0:  # e.g. mqtt://host without a topic: Apprise accepts it, and every send would fail
        raise ValueError(f"unusable {schema}:// URL: it names no recipient (a topic, an address, a channel)")
    if schema in MANAGER:
        name = schema
    else:
        protocol = plugin.secure_protocol or plugin.protocol
        name = protocol[0] if isinstance(protocol, (list, tuple)) else str(protocol)
    secrets = frozenset(variants(plugin_secrets(plugin)))
    return Loaded(schema=name, plugin=plugin, secrets=secrets, shown=_shown(plugin, text, secrets))
