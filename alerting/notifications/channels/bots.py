"""WeCom and DingTalk group bots that read the answer: both say "refused" in an HTTP 200 body.

A WeCom group bot answers `{"errcode": 45009, "errmsg": "api freq out of limit"}` and a DingTalk custom robot
`{"errcode": 310000, "errmsg": "sign not match"}` with HTTP 200, and Apprise 2.3's `wecombot` and `dingtalk` plugins
only look at the status, so a refused message counts as delivered. For an elder's SOS that is the worst failure:
nobody got it and nobody knows.

These subclasses of Apprise's plugins keep everything of them (URL parsing, native webhook addresses, the privacy
URL, the secrets they mark private, the request URL `notifications.endpoints` replaces) and replace only `send`:
the same request, then the body's `errcode` read. A refusal is kept on the instance (`refusal`) for the channel to
turn into an outcome; `send` returns False as for any other failure.

errcode 0 is delivered; a code in `rate_limited` is retried after `RATE_LIMIT_WAIT` (the attempt does not count);
a code in `permanent` (a bad key, token or signature, a robot removed from its group, a message the service will
refuse again) is not retried; any other code, and an HTTP 200 without an errcode, is retried.

WeCom (global error codes, developer.work.weixin.qq.com/document/path/90455; a bot takes 20 messages a minute):
  45009  接口调用超过限制 / "api freq out of limit"                      rate limit
  93000  "invalid webhook url": a wrong key, or the bot removed from its group   permanent
  40008  不合法的msgtype参数                                              permanent
DingTalk custom robot (its send API's error codes, open.dingtalk.com "自定义机器人发送群消息", and answers
reported against it; a robot takes 20 messages a minute):
  130101 "send too fast, exceed 20 times per minute", 410100 发送速度太快而限流, 660026   rate limit
  310000 keyword missing / "sign not match" / IP not allowed / timestamp too old      permanent
  300001 "token is not exist", 400101 access_token 不存在, 400102 机器人已停用,
  400106 机器人不存在, 400013 群已被解散, 400105 不支持的消息类型                       permanent
  430101–430104 the content refused (an unsafe link, text, image, content)           permanent
"""

from __future__ import annotations

from dataclasses import dataclass
from json import dumps
from typing import Any, ClassVar
from urllib.parse import unquote

import requests
from apprise import NotifyBase, NotifyFormat, NotifyType
from apprise.plugins import url_to_dict
from apprise.plugins.dingtalk import NotifyDingTalk
from apprise.plugins.wecombot import NotifyWeComBot

RATE_LIMIT_WAIT = 60.0
"""Seconds to wait after a bot's own rate-limit refusal: both count 20 messages in a rolling minute."""
_MESSAGE_LIMIT = 160
"""Characters of a service's errmsg kept in an error."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A bot's "no" in an HTTP 200 answer."""

    service: str
    code: int | None
    """None: the answer had no errcode (not the bot's API: a proxy, a captive portal)."""
    message: str
    retry: bool
    retry_after: float | None = None

    def error(self) -> str:
        if self.code is None:
            return f"{self.service}: HTTP 200 without an errcode ({self.message}); not counted as delivered"
        return f"{self.service} refused the message: errcode {self.code}: {self.message}"


class CheckedBot(NotifyBase):
    """What the two bots share: the request, and reading its answer. Not a plugin by itself."""

    rate_limited: ClassVar[frozenset[int]] = frozenset()
    permanent: ClassVar[frozenset[int]] = frozenset()
    refusal: Refusal | None = None
    """The last send's refusal, if the service refused it (each instance is used by one sender at a time)."""

    def _post(self, url: str, payload: dict[str, Any], params: dict[str, str] | None = None) -> bool:
        """POST the payload as Apprise's plugin does (same headers, timeouts, log lines), then read the errcode."""
        self.refusal = None
        headers = {"User-Agent": self.app_id, "Content-Type": "application/json; charset=utf-8"}
        self.throttle()
        try:
            response = requests.post(url, data=dumps(payload).encode("utf-8"), headers=headers, params=params,
                                     verify=self.verify_certificate, timeout=self.request_timeout,
                                     allow_redirects=self.redirects)
        except requests.RequestException as e:
            self.logger.warning(f"A Connection error occurred sending {self.service_name} notification.")
            self.logger.debug(f"Socket Exception: {e!s}")
            return False
        if response.status_code != requests.codes.ok:
            status = self.http_response_code_lookup(response.status_code)
            self.logger.warning(f"Failed to send {self.service_name} notification: "
                                f"{status}{', ' if status else ''}error={response.status_code}.")
            self.logger.debug("Response Details:\r\n%r", (response.content or b"")[:2000])
            return False
        refusal = self.read(response)
        if refusal is None:
            self.logger.info(f"Sent {self.service_name} notification.")
            return True
        self.refusal = refusal
        self.logger.warning(f"{self.service_name} refused the notification: errcode={refusal.code} "
                            f"errmsg={refusal.message}")
        return False

    def read(self, response: requests.Response) -> Refusal | None:
        """None when the answer says delivered (errcode 0)."""
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        raw = body.get("errcode") if isinstance(body, dict) else None
        try:
            code = int(raw) if raw is not None and not isinstance(raw, bool) else None
        except (TypeError, ValueError):
            code = None
        service = str(self.service_name)
        if code is None:
            shown = "not JSON" if body is None else "no errcode in the body"
            return Refusal(service, None, shown, retry=True)
        if code == 0:
            return None
        message = " ".join(str(body.get("errmsg", "")).split())
        message = message.split(", hint:")[0]  # WeCom appends a request id, our address and a help link
        if len(message) > _MESSAGE_LIMIT:
            message = message[: _MESSAGE_LIMIT - 1] + "…"
        if code in self.rate_limited:
            return Refusal(service, code, message, retry=True, retry_after=RATE_LIMIT_WAIT)
        return Refusal(service, code, message, retry=code not in self.permanent)


class CheckedWeComBot(CheckedBot, NotifyWeComBot):
    """`wecombot://KEY` and `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY`."""

    rate_limited = frozenset({45009})
    permanent = frozenset({93000, 40008})

    def send(self, body: str, title: str = "", notify_type: NotifyType = NotifyType.INFO,
             **kwargs: Any) -> bool:
        payload = {"msgtype": "text", "text": {"content": body}}
        self.logger.debug(f"WeCom Bot GET URL: {self.api_url} (cert_verify={self.verify_certificate!r})")
        self.logger.debug(f"WeCom Bot Payload: {payload!s}")
        return self._post(self.api_url, payload)


class CheckedDingTalk(CheckedBot, NotifyDingTalk):
    """`dingtalk://TOKEN`, `dingtalk://SECRET@TOKEN`; the payload as Apprise's plugin builds it."""

    rate_limited = frozenset({130101, 410100, 660026})
    permanent = frozenset({310000, 300001, 400013, 400101, 400102, 400105, 400106,
                           430101, 430102, 430103, 430104})

    def get_signature(self) -> tuple[str, str]:
        """DingTalk's signature as its docs define it, handed to `requests` unencoded.

        Apprise 2.3 percent-encodes the signature and then passes it in `params`, which `requests` encodes again
        (`%2B` becomes `%252B`): DingTalk answers `310000 sign not match`. Encoded once by `requests`, it is what
        DingTalk checks.
        """
        timestamp, signature = super().get_signature()
        return timestamp, unquote(signature)

    def send(self, body: str, title: str = "", notify_type: NotifyType = NotifyType.INFO,
             body_format: NotifyFormat | None = None, **kwargs: Any) -> bool:
        payload: dict[str, Any] = {"msgtype": "text", "at": {"atMobiles": self.targets, "isAtAll": False}}
        if body_format == NotifyFormat.MARKDOWN:
            title = " ".join(title.split()).lstrip("#- ")
            payload["msgtype"] = "markdown"
            payload["markdown"] = {"title": title or self.app_desc, "text": f"# {title}\n{body}" if title else body}
        else:
            payload["text"] = {"content": f"{title}\r\n{body}" if title else body}
        url = self.notify_url.format(token=self.token)
        params = None
        if self.secret:
            timestamp, signature = self.get_signature()
            params = {"timestamp": timestamp, "sign": signature}
        self.logger.debug(f"DingTalk URL: {url} (cert_verify={self.verify_certificate})")
        self.logger.debug(f"DingTalk Payload: {payload}")
        return self._post(url, payload, params)


CHECKED: dict[type[NotifyBase], type[CheckedBot]] = {NotifyWeComBot: CheckedWeComBot,
                                                     NotifyDingTalk: CheckedDingTalk}
"""Apprise's plugin → ours."""


def checked(plugin: NotifyBase, url: str) -> NotifyBase:
    """`plugin` as our checked subclass when there is one, built by Apprise's own parser from the same URL."""
    cls = CHECKED.get(type(plugin))
    if cls is None:
        return plugin
    results = url_to_dict(url, secure_logging=True)
    if not results:
        raise ValueError(f"{plugin.service_name}: Apprise could not parse the URL again")
    return cls(**{**results, "asset": plugin.asset})
