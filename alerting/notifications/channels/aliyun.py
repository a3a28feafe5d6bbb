"""Alibaba Cloud SMS (Dysmsapi `SendSms`) and voice (Dyvmsapi `SingleCallByTts`), over their documented RPC API.

No SDK: each is one signed GET (signature version 1.0, HMAC-SHA1), and the SDKs bring a dependency tree for it.

Signing, as Alibaba Cloud documents it for RPC APIs:
1. every parameter but `Signature`, sorted by name, each name and value percent-encoded per RFC 3986 in UTF-8
   (unreserved `A-Z a-z 0-9 - _ . ~` kept; a space is `%20`, `*` is `%2A`, `~` stays: Java's URLEncoder output
   with `+`→`%20`, `*`→`%2A`, `%7E`→`~`, which the docs call specialUrlEncode), joined as `k=v&k=v`;
2. StringToSign = `GET&%2F&` + percentEncode(that canonicalized query);
3. Signature = base64(HMAC-SHA1(key = AccessKeySecret + "&", StringToSign)), sent percent-encoded as `Signature`.

The templates, registered in the Alibaba Cloud console, get these variables (names the templates must use):

- SMS template (`sms_template`, SMS_…): `${title}`, the alert in at most 35 characters (`Message.short`, else
  its title); `${link}`, the one-tap link's path and query without the leading `/`. Alibaba Cloud refuses templates
  whose link domain is a variable, so the template writes the console's address itself:
  `【和谐社区】${title}，请处理：https://anju.example.cn/${link}`.
- Voice template (`voice_template`, TTS_…): `${title}` only, read out (a link cannot be heard).

Outcome: `Code == "OK"` is delivered. Throttling (`isv.BUSINESS_LIMIT_CONTROL`, with `retry_after` 60 s, and
`Throttling*`), the provider's own errors (`isp.SYSTEM_ERROR`, `InternalError`, `ServiceUnavailable`, HTTP 5xx),
timeouts and network errors are retried; any other code (`isv.SMS_TEMPLATE_ILLEGAL`, `isv.MOBILE_NUMBER_ILLEGAL`,
a refused signature or key) is not: the same request would be refused again. Errors carry the Code, the Message and
the RequestId (what Alibaba Cloud's support asks for), never the AccessKey.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from alerting.notifications.channels._apprise import one_line, scrub
from alerting.notifications.channels.base import Message, Outcome
from kernel.config import PhoneSettings

VERSION = "2017-05-25"
"""Both Dysmsapi and Dyvmsapi."""
VARIABLE_LIMIT = 35
"""Characters in one template variable: Alibaba Cloud's limit for free-text variables in notification templates."""
RETRY_CODES = frozenset({"isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR", "InternalError", "ServiceUnavailable",
                         "SignatureNonceUsed"})
"""Codes a later attempt can get past (the nonce is new at every attempt)."""
THROTTLED: dict[str, float] = {"isv.BUSINESS_LIMIT_CONTROL": 60.0}
"""Codes that say "not now" (Alibaba Cloud's flow control of one number and template), with the seconds to wait:
that attempt does not count against the outbox's max_attempts."""
_URL_IN_TEXT = re.compile(r"https?://\S+|(?<=url: )\S+")


def percent_encode(value: str) -> str:
    """RFC 3986 in UTF-8, unreserved characters kept: Alibaba Cloud's specialUrlEncode (`quote` keeps `~` already)."""
    return quote(value, safe="~")


def sign(params: dict[str, str], secret: str, method: str = "GET") -> tuple[str, str]:
    """The canonicalized query and its signature (version 1.0, HMAC-SHA1)."""
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))
    string_to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return canonical, base64.b64encode(digest).decode()


def _truncate(text: str, limit: int = VARIABLE_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _link_path(link: str | None) -> str:
    """`https://anju.example.cn/l/abc?s=1` → `l/abc?s=1` (the template writes the address; see the module's doc)."""
    if not link:
        return ""
    parts = urlsplit(link)
    path = parts.path.lstrip("/")
    return f"{path}?{parts.query}" if parts.query else path


class AliyunPhoneProvider:
    """SMS and text-to-speech calls through Alibaba Cloud; see the module's docstring for the template variables."""

    def __init__(self, settings: PhoneSettings, timeout: float) -> None:
        required = ["access_key_id", "access_key_secret", "sign_name", "sms_template"]
        if settings.voice_for:
            required.append("voice_template")
        missing = [f"notifications.phone.{name}" for name in required if not getattr(settings, name)]
        if missing:
            hint = " (or set notifications.phone.voice_for to [] for SMS only)" if \
                "notifications.phone.voice_template" in missing else ""
            raise ValueError(f"the Aliyun phone provider needs {', '.join(missing)}{hint}")
        assert settings.access_key_id and settings.access_key_secret and settings.sign_name and settings.sms_template
        self.access_key_id = settings.access_key_id
        self._secret = settings.access_key_secret
        self.sign_name = settings.sign_name
        self.sms_template = settings.sms_template
        self.voice_template = settings.voice_template
        self.called_show_number = settings.called_show_number
        self.region = settings.region
        self.sms_endpoint = settings.sms_endpoint
        self.voice_endpoint = settings.voice_endpoint
        self.timeout = timeout

    # -- the two operations ------------------------------------------------------------------------

    def send_sms(self, phone: str, message: Message) -> Outcome:
        variables = {"title": _truncate(message.short or message.title), "link": _link_path(message.link)}
        return self._request("SMS", self.sms_endpoint, {
            "Action": "SendSms",
            "PhoneNumbers": phone.removeprefix("+"),  # international: country code and number, no + (the docs)
            "SignName": self.sign_name,
            "TemplateCode": self.sms_template,
            "TemplateParam": json.dumps(variables, ensure_ascii=False, separators=(",", ":")),
        })

    def call(self, phone: str, message: Message) -> Outcome:
        if not self.voice_template:
            return Outcome(delivered=False, error="no voice template configured (notifications.phone.voice_template)",
                           retry=False)
        if phone.startswith("+"):
            return Outcome(delivered=False, error="Aliyun voice calls reach mainland China numbers only", retry=False)
        params = {
            "Action": "SingleCallByTts",
            "CalledNumber": phone,
            "TtsCode": self.voice_template,
            "TtsParam": json.dumps({"title": _truncate(message.short or message.title)}, ensure_ascii=False,
                                   separators=(",", ":")),
        }
        if self.called_show_number:
            params["CalledShowNumber"] = self.called_show_number
        return self._request("voice", self.voice_endpoint, params)

    # -- the signed request ------------------------------------------------------------------------

    def _request(self, what: str, endpoint: str, action_params: dict[str, str]) -> Outcome:
        params = {
            "AccessKeyId": self.access_key_id,
            "Format": "JSON",
            "RegionId": self.region,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": str(uuid.uuid4()),
            "SignatureVersion": "1.0",
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": VERSION,
            **action_params,
        }
        canonical, signature = sign(params, self._secret)
        base = endpoint if urlsplit(endpoint).path else endpoint + "/"
        url = f"{base}?Signature={percent_encode(signature)}&{canonical}"
        try:
            response = requests.get(url, timeout=self.timeout)  # a connection per send: senders are threads
        except requests.Timeout:
            return Outcome(delivered=False, error=f"Aliyun {what}: no answer within {self.timeout:g}s", retry=True)
        except requests.RequestException as e:
            return Outcome(delivered=False, error=self._error(f"Aliyun {what}: {type(e).__name__}: {e}"), retry=True)
        return self._outcome(what, response)

    def _outcome(self, what: str, response: requests.Response) -> Outcome:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "Code" not in body:
            retry = response.status_code >= 500 or response.status_code == 429
            return Outcome(delivered=False, error=f"Aliyun {what}: HTTP {response.status_code} without a result",
                           retry=retry)
        code = str(body.get("Code"))
        if code == "OK" and response.status_code == 200:
            return Outcome(delivered=True)
        retry = code in RETRY_CODES or code.startswith("Throttling") or response.status_code >= 500
        text = f"Aliyun {what} refused: {code}: {body.get('Message', '')}"
        if body.get("RequestId"):
            text += f" (RequestId {body['RequestId']})"
        return Outcome(delivered=False, error=self._error(text), retry=retry, retry_after=THROTTLED.get(code))

    def _error(self, text: str) -> str:
        """One line without the AccessKey (nor the signed URL, which names it)."""
        text = _URL_IN_TEXT.sub("…", text)
        return one_line(scrub(text, [self._secret, self.access_key_id]))
