"""Notification channels against real servers: HTTP receivers that check what each service's docs require, a real
SMTP server, the real MQTT broker, and an Alibaba Cloud stand-in that verifies the signature on its own.

Nothing of the channel code is replaced: what is checked is what arrives on the wire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote_plus, unquote, urlsplit

import paho.mqtt.client as mqtt
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from alerting.notifications.channels import Channels, Message, Outcome, Target, normalize_phone, parse_target
from alerting.notifications.channels.aliyun import AliyunPhoneProvider
from alerting.notifications.channels.apprise_channel import AppriseChannel
from kernel.config import NotificationSettings, PhoneSettings
from tools.bench.mosquitto import free_port

SOS = Message(title="1号楼 王秀英 呼救", body="3单元 502 的呼叫按钮被按下。请立即前往。\nhttps://anju.example.cn/l/a1b2?s=9",
              severity="critical", link="https://anju.example.cn/l/a1b2?s=9", short="1号楼王秀英呼救")
WECOM_KEY = "693a91f6-7b5e-4bc4-97a0-0ec2a1f5aa01"
DING_TOKEN = "1d0b4c56e1f0a3f0c1a2b3c4d5e6f708"
DING_SECRET = "SEC0b6e5d4c3b2a190807f6e5d4c3b2a1"
FEISHU_TOKEN = "8f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
ALIYUN_ID = "LTAI5tAnjuTestKeyId01"
ALIYUN_SECRET = "anjuTestSecret/With+Odd=Chars~"


# -- a real HTTP receiver ----------------------------------------------------------------------------


@dataclass
class Seen:
    """One request as it arrived."""

    method: str
    path: str
    query: str
    """Raw, not decoded: what a service's signature check sees."""
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))

    def raw_params(self) -> dict[str, str]:
        return dict(pair.split("=", 1) for pair in self.query.split("&") if pair)


Answer = Callable[[Seen], tuple[int, Any]]


class Receiver:
    """An HTTP server on a free port, in a thread; `answer` decides each response (None: never answer)."""

    def __init__(self, answer: Answer | None) -> None:
        self.seen: list[Seen] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self) -> None:
                parts = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen = Seen(self.command, parts.path, parts.query, dict(self.headers.items()), body)
                receiver.seen.append(seen)
                if answer is None:
                    receiver.release.wait(10)
                    return
                status, payload = answer(seen)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = handle_one

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def only(self) -> Seen:
        assert len(self.seen) == 1, self.seen
        return self.seen[0]

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[[Answer | None], Receiver]]:
    started: list[Receiver] = []

    def start(answer: Answer | None) -> Receiver:
        started.append(Receiver(answer))
        return started[-1]

    yield start
    for one in started:
        one.stop()


def ok(_: Seen) -> tuple[int, Any]:
    return 200, {"errcode": 0, "errmsg": "ok"}


def channels(timeout: float = 2.0, **settings: Any) -> Channels:
    return Channels.from_settings(NotificationSettings(timeout_seconds=timeout, **settings))


# -- Apprise: webhooks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("severity", "notify_type"), [("critical", "failure"), ("major", "failure"),
                                                       ("minor", "warning"), ("warning", "warning"),
                                                       ("info", "info"), ("unheard-of", "warning")])
def test_json_webhook_gets_title_message_and_type(receiver: Callable[[Answer | None], Receiver], severity: str,
                                                  notify_type: str) -> None:
    rx = receiver(lambda _: (200, {"ok": True}))
    message = Message(title=SOS.title, body=SOS.body, severity=severity)
    outcome = channels().send(parse_target(f"json://127.0.0.1:{rx.port}/hook"), message)
    assert outcome == Outcome(delivered=True)
    seen = rx.only()
    assert (seen.method, seen.path) == ("POST", "/hook")
    assert seen.headers["Content-Type"].startswith("application/json")
    payload = seen.json()
    assert (payload["title"], payload["message"], payload["type"]) == (SOS.title, SOS.body, notify_type)


def test_json_basic_auth_is_sent_and_a_refusal_shows_no_password(
        receiver: Callable[[Answer | None], Receiver]) -> None:
    rx = receiver(lambda _: (401, {"error": "unauthorized"}))
    target = parse_target(f"json://guard:pw-s3cret-77@127.0.0.1:{rx.port}/hook")
    assert "pw-s3cret-77" not in target.shown
    outcome = channels().send(target, SOS)
    expected = "Basic " + base64.b64encode(b"guard:pw-s3cret-77").decode()
    assert rx.only().headers["Authorization"] == expected
    assert not outcome.delivered and outcome.retry is False  # 401: the same request is refused again
    assert outcome.error and "401" in outcome.error and "pw-s3cret-77" not in outcome.error
    assert "\n" not in outcome.error


def test_a_webhook_that_never_answers_times_out_and_is_retried(
        receiver: Callable[[Answer | None], Receiver]) -> None:
    rx = receiver(None)
    started = time.monotonic()
    outcome = channels(timeout=0.5).send(parse_target(f"json://127.0.0.1:{rx.port}/slow"), SOS)
    assert time.monotonic() - started < 3
    assert not outcome.delivered and outcome.retry is True
    assert outcome.error and "timed out" in outcome.error.lower()


def test_concurrent_senders_each_get_their_own_error(receiver: Callable[[Answer | None], Receiver]) -> None:
    """The log capture is per thread: eight senders failing at once each read their own status, not another's."""
    statuses = {f"/s{code}": code for code in (500, 502, 503, 504, 404, 401, 403, 410)}
    rx = receiver(lambda seen: (statuses[seen.path], {}))
    sender = channels()
    outcomes: dict[int, Outcome] = {}

    def send(path: str) -> None:
        outcomes[statuses[path]] = sender.send(parse_target(f"json://127.0.0.1:{rx.port}{path}"), SOS)

    threads = [threading.Thread(target=send, args=(path,)) for path in statuses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(rx.seen) == len(statuses)
    for code, outcome in outcomes.items():
        assert outcome.error is not None
        assert re.findall(r"error=(\d{3})", outcome.error) == [str(code)], outcome.error
        assert outcome.retry is (code >= 500)


# -- Apprise: WeCom, DingTalk and Feishu bots through `endpoints` ---------------------------------------


def test_wecom_bot_through_an_endpoint(receiver: Callable[[Answer | None], Receiver]) -> None:
    rx = receiver(ok)
    sender = channels(endpoints={"wecombot": f"http://127.0.0.1:{rx.port}/cgi-bin/webhook/send?key={{key}}"})
    outcome = sender.send(parse_target(f"wecombot://{WECOM_KEY}"), SOS)
    assert outcome == Outcome(delivered=True)
    seen = rx.only()
    # WeCom group bot: POST /cgi-bin/webhook/send?key=KEY, {"msgtype": "text", "text": {"content": …}}
    assert (seen.method, seen.path, seen.params()) == ("POST", "/cgi-bin/webhook/send", {"key": WECOM_KEY})
    payload = seen.json()
    assert payload["msgtype"] == "text"
    content = payload["text"]["content"]
    assert SOS.title in content and SOS.body in content
    assert len(content.encode()) <= 2048  # the documented limit of a text message

    again = sender.send(parse_target(f"wecombot://{WECOM_KEY}"), SOS)  # 20 a minute: not within 3 s
    assert not again.delivered and again.retry is True and again.error and "rate limit" in again.error
    assert again.retry_after is not None and 0 < again.retry_after <= 3  # the attempt does not count
    assert len(rx.seen) == 1


def _dingtalk_check(seen: Seen) -> tuple[int, Any]:
    """DingTalk's documented check: timestamp (ms) within an hour; sign = urlEncode(base64(HmacSHA256(secret,
    timestamp + "\\n" + secret))), as it appears in the URL."""
    raw = seen.raw_params()
    timestamp = raw.get("timestamp", "")
    if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > 3600_000:
        return 200, {"errcode": 310000, "errmsg": "invalid timestamp"}
    digest = hmac.new(DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(), hashlib.sha256).digest()
    if raw.get("sign") != quote_plus(base64.b64encode(digest).decode()):
        return 200, {"errcode": 310000, "errmsg": "sign not match"}
    if raw.get("access_token") != DING_TOKEN:
        return 200, {"errcode": 300001, "errmsg": "token is not exist"}
    return ok(seen)


def test_dingtalk_bot_signed_as_dingtalk_documents(receiver: Callable[[Answer | None], Receiver]) -> None:
    answers: list[Any] = []

    def check(seen: Seen) -> tuple[int, Any]:
        answers.append(_dingtalk_check(seen)[1])
        return 200, answers[-1]

    rx = receiver(check)
    sender = channels(endpoints={"dingtalk": f"http://127.0.0.1:{rx.port}/robot/send?access_token={{token}}"})
    outcome = sender.send(parse_target(f"dingtalk://{DING_SECRET}@{DING_TOKEN}"), SOS)
    assert answers == [{"errcode": 0, "errmsg": "ok"}]
    assert outcome == Outcome(delivered=True)
    seen = rx.only()
    assert (seen.method, seen.path) == ("POST", "/robot/send")
    payload = seen.json()
    assert payload["msgtype"] == "text"
    assert SOS.title in payload["text"]["content"] and SOS.body in payload["text"]["content"]


def _bot(schema: str, rx: Receiver) -> tuple[Channels, Target]:
    if schema == "wecombot":
        endpoint = f"{rx.base}/cgi-bin/webhook/send?key={{key}}"
        return channels(endpoints={schema: endpoint}), parse_target(f"wecombot://{WECOM_KEY}")
    endpoint = f"{rx.base}/robot/send?access_token={{token}}"
    return channels(endpoints={schema: endpoint}), parse_target(f"dingtalk://{DING_SECRET}@{DING_TOKEN}")


@pytest.mark.parametrize(("schema", "errcode", "errmsg", "retry", "retry_after"), [
    ("wecombot", 45009, "api freq out of limit, hint: [1717571485419203277035119], from ip: 203.0.113.9, more info "
                        "at https://open.work.weixin.qq.com/devtool/query?e=45009", True, 60.0),
    ("wecombot", 93000, f"invalid webhook url, hint: [1717], key={WECOM_KEY}", False, None),
    ("wecombot", 40008, "invalid message type", False, None),
    ("wecombot", -1, "system busy", True, None),
    ("wecombot", 81999, "something new", True, None),
    ("dingtalk", 310000, "sign not match", False, None),
    ("dingtalk", 300001, f"token is not exist: {DING_TOKEN}", False, None),
    ("dingtalk", 400102, "机器人已停用", False, None),
    ("dingtalk", 130101, "send too fast, exceed 20 times per minute", True, 60.0),
    ("dingtalk", 660026, "send too fast", True, 60.0),
    ("dingtalk", 555555, "something new", True, None),
])
def test_a_bot_refusal_in_an_http_200_is_not_delivered(receiver: Callable[[Answer | None], Receiver], schema: str,
                                                        errcode: int, errmsg: str, retry: bool,
                                                        retry_after: float | None) -> None:
    """WeCom and DingTalk answer a refused message with HTTP 200 and an errcode: a failure, retried or not by
    the code, with the code and the service's message in the error and never the key."""
    rx = receiver(lambda _: (200, {"errcode": errcode, "errmsg": errmsg}))
    sender, target = _bot(schema, rx)
    outcome = sender.send(target, SOS)
    assert len(rx.seen) == 1
    assert not outcome.delivered
    assert (outcome.retry, outcome.retry_after) == (retry, retry_after)
    assert outcome.error and f"errcode {errcode}" in outcome.error and errmsg.split(",")[0][:12] in outcome.error
    for secret in (WECOM_KEY, DING_TOKEN, DING_SECRET):
        assert secret not in outcome.error and secret[:8] not in outcome.error
    assert "hint" not in outcome.error and "203.0.113.9" not in outcome.error  # WeCom's request id and our address


@pytest.mark.parametrize("schema", ["wecombot", "dingtalk"])
def test_a_bot_answer_without_an_errcode_is_not_delivered(receiver: Callable[[Answer | None], Receiver],
                                                          schema: str) -> None:
    """An HTTP 200 that is not the bot's API (a proxy's page, a captive portal) proves nothing: retried."""
    rx = receiver(lambda _: (200, b"<html>Welcome to the guest network</html>"))
    sender, target = _bot(schema, rx)
    outcome = sender.send(target, SOS)
    assert not outcome.delivered and outcome.retry is True and outcome.retry_after is None
    assert outcome.error and "without an errcode" in outcome.error


def test_a_bot_rate_limit_holds_its_next_messages(receiver: Callable[[Answer | None], Receiver]) -> None:
    """After WeCom's 45009 the next message to that bot is not even sent: it waits out the bot's minute, and that
    wait is no failed attempt."""
    answers = iter([(200, {"errcode": 45009, "errmsg": "api freq out of limit"})])
    rx = receiver(lambda _: next(answers, (200, {"errcode": 0, "errmsg": "ok"})))
    sender, target = _bot("wecombot", rx)
    first = sender.send(target, SOS)
    assert first.retry_after == 60.0
    held = sender.send(target, SOS)
    assert not held.delivered and held.retry is True and held.error and "rate limit" in held.error
    assert held.retry_after is not None and 55 < held.retry_after <= 60
    assert len(rx.seen) == 1


def test_feishu_bot_through_an_endpoint_and_its_refusal(receiver: Callable[[Answer | None], Receiver]) -> None:
    refuse = {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}
    answers = iter([(200, {"code": 0, "msg": "success"}), (200, refuse)])
    rx = receiver(lambda _: next(answers))
    sender = channels(endpoints={"feishu": f"http://127.0.0.1:{rx.port}/open-apis/bot/v2/hook/{{token}}/"})
    target = parse_target(f"feishu://{FEISHU_TOKEN}")
    assert sender.send(target, SOS) == Outcome(delivered=True)
    seen = rx.only()
    assert seen.path == f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}/"
    payload = seen.json()
    assert payload["msg_type"] == "text"
    assert SOS.title in payload["content"]["text"] and SOS.body in payload["content"]["text"]
    time.sleep(0.7)  # Feishu: 100 a minute
    refused = sender.send(target, SOS)
    assert not refused.delivered and refused.error and "19021" in refused.error
    assert FEISHU_TOKEN not in refused.error


def test_an_unreachable_endpoint_error_carries_no_key() -> None:
    port = free_port()
    sender = channels(timeout=0.5, endpoints={"wecombot": f"http://127.0.0.1:{port}/hook/{{key}}/send?key={{key}}"})
    outcome = sender.send(parse_target(f"wecombot://{WECOM_KEY}"), SOS)
    assert not outcome.delivered and outcome.retry is True
    assert outcome.error and "refused" in outcome.error.lower()
    assert WECOM_KEY not in outcome.error and WECOM_KEY[:12] not in outcome.error


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO])
def test_apprise_log_lines_of_a_send_carry_no_key(receiver: Callable[[Answer | None], Receiver],
                                                 caplog: pytest.LogCaptureFixture, level: int) -> None:
    """Apprise logs request URLs (with the key) at DEBUG: they reach the application's log scrubbed, and only at
    the level it asked for."""
    caplog.set_level(level)
    rx = receiver(ok)
    sender = channels(endpoints={"wecombot": f"{rx.base}/cgi-bin/webhook/send?key={{key}}"})
    assert sender.send(parse_target(f"wecombot://{WECOM_KEY}"), SOS).delivered
    lines = [(record.levelno, record.getMessage()) for record in caplog.records if record.name == "apprise"]
    assert lines and not any(WECOM_KEY in text for _, text in lines)
    assert any("WeCom Bot GET URL" in text for _, text in lines) is (level == logging.DEBUG)
    assert all(levelno >= level for levelno, _ in lines)


@pytest.mark.parametrize(("endpoints", "reason"), [
    ({"nosuch": "http://x/{key}"}, "not an Apprise schema"),
    ({"tgram": "http://x/{token}"}, "cannot be replaced"),
    ({"wecombot": "http://x/send"}, "must contain {key}"),
    ({"dingtalk": "http://x/send?access_token={key}"}, "must contain {token}"),
    ({"feishu": "ftp://x/{token}"}, "not an http(s) URL"),
])
def test_unusable_endpoints_stop_start_up(endpoints: dict[str, str], reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        AppriseChannel(NotificationSettings(endpoints=endpoints))


# -- Apprise: email and MQTT -------------------------------------------------------------------------


class _Mailbox:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


def test_email_through_a_real_smtp_server() -> None:
    mailbox = _Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        target = parse_target(f"mailto://anju@example.com?smtp=127.0.0.1&port={port}&mode=insecure"
                              "&to=guard@example.com")
        assert target.channel == "mailto"
        assert channels().send(target, SOS) == Outcome(delivered=True)
    finally:
        controller.stop()
    [envelope] = mailbox.envelopes
    assert envelope.mail_from == "anju@example.com"
    assert envelope.rcpt_tos == ["guard@example.com"]
    assert isinstance(envelope.content, bytes)
    mail = message_from_bytes(envelope.content, policy=default_policy)
    assert isinstance(mail, EmailMessage)
    assert mail["Subject"] == SOS.title
    assert "anju@example.com" in mail["From"] and mail["To"] == "guard@example.com"
    part = mail.get_body(preferencelist=("plain", "html"))
    assert part is not None
    assert SOS.body.split("\n")[0] in part.get_content()  # the Chinese text, intact after quoted-printable


@pytest.mark.broker
def test_mqtt_through_the_real_broker(mosquitto_url: str) -> None:
    parts = urlsplit(mosquitto_url)
    topic = f"anju-test/notify/{uuid.uuid4().hex[:12]}"
    got: list[bytes] = []
    subscribed, arrived = threading.Event(), threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"anju-test-{uuid.uuid4().hex[:8]}")
    client.on_subscribe = lambda *_: subscribed.set()

    def on_message(_client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        got.append(bytes(msg.payload))
        arrived.set()

    client.on_message = on_message
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    client.subscribe(topic, qos=1)
    client.loop_start()
    sender = channels()
    try:
        assert subscribed.wait(5)
        target = parse_target(f"mqtt://{parts.hostname}:{parts.port or 1883}/{topic}")
        assert target.channel == "mqtt"
        assert sender.send(target, SOS) == Outcome(delivered=True)
        assert arrived.wait(5)
    finally:
        sender.close()
        client.loop_stop()
        client.disconnect()
    text = got[0].decode()
    assert SOS.title in text and SOS.body in text


# -- Alibaba Cloud SMS and voice ----------------------------------------------------------------------

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def _rfc3986(text: str) -> str:
    """Percent-encoding as Alibaba Cloud's signature docs define it, written out byte by byte."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


class AliyunStandIn:
    """Checks a request as Dysmsapi / Dyvmsapi document it; answers `codes` in turn (then OK)."""

    COMMON: ClassVar[frozenset[str]] = frozenset({
        "AccessKeyId", "Action", "Format", "RegionId", "SignatureMethod", "SignatureNonce", "SignatureVersion",
        "Timestamp", "Version", "Signature"})
    ACTIONS: ClassVar[dict[str, frozenset[str]]] = {
        "SendSms": frozenset({"PhoneNumbers", "SignName", "TemplateCode", "TemplateParam"}),
        "SingleCallByTts": frozenset({"CalledNumber", "TtsCode", "TtsParam"})}
    OPTIONAL: ClassVar[dict[str, frozenset[str]]] = {"SingleCallByTts": frozenset({"CalledShowNumber"}),
                                                     "SendSms": frozenset()}

    def __init__(self, codes: list[str] | None = None) -> None:
        self.codes = list(codes or [])
        self.problems: list[str] = []
        self.nonces: set[str] = set()
        self.accepted: list[dict[str, str]] = []

    def __call__(self, seen: Seen) -> tuple[int, Any]:
        raw = seen.raw_params()
        params = {unquote(k): unquote(v) for k, v in raw.items()}
        problems = self.check(seen, raw, params)
        if problems:
            self.problems += problems
            return 400, {"Code": "SignatureDoesNotMatch" if "signature" in problems[0] else "MissingParameter",
                         "Message": "; ".join(problems), "RequestId": str(uuid.uuid4())}
        self.accepted.append(params)
        code = self.codes.pop(0) if self.codes else "OK"
        answer = {"Code": code, "Message": "OK" if code == "OK" else f"refused: {code}",
                  "RequestId": str(uuid.uuid4()).upper()}
        if code == "OK":
            answer["BizId" if params["Action"] == "SendSms" else "CallId"] = "900619746936498440^0"
        return (200 if code == "OK" or code.startswith("isv.") else 400), answer

    def check(self, seen: Seen, raw: dict[str, str], params: dict[str, str]) -> list[str]:
        problems: list[str] = []
        action = params.get("Action", "")
        if seen.method != "GET" or action not in self.ACTIONS:
            return [f"unexpected {seen.method} Action={action!r}"]
        missing = (self.COMMON | self.ACTIONS[action]) - params.keys()
        unexpected = params.keys() - self.COMMON - self.ACTIONS[action] - self.OPTIONAL[action]
        if missing or unexpected:
            return [f"missing {sorted(missing)}, unexpected {sorted(unexpected)}"]
        fixed = {"AccessKeyId": ALIYUN_ID, "Format": "JSON", "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
                 "Version": "2017-05-25", "RegionId": "cn-hangzhou"}
        problems += [f"{k}={params[k]!r}" for k, v in fixed.items() if params[k] != v]
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", params["Timestamp"]):
            problems.append(f"Timestamp {params['Timestamp']!r} is not ISO 8601 UTC")
        elif abs((datetime.now(UTC) - datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
                  .replace(tzinfo=UTC)).total_seconds()) > 900:
            problems.append("Timestamp is more than 15 minutes off")
        nonce = params["SignatureNonce"]
        if nonce in self.nonces or str(uuid.UUID(nonce)) != nonce:
            problems.append("SignatureNonce reused or not a UUID")
        self.nonces.add(nonce)
        if re.search(r"[+/=]", raw["Signature"]):
            problems.append("Signature is not percent-encoded in the URL")
        for name in ("TemplateParam", "TtsParam"):
            if name in params and not isinstance(json.loads(params[name]), dict):
                problems.append(f"{name} is not a JSON object")
        canonical = "&".join(f"{_rfc3986(k)}={_rfc3986(v)}" for k, v in sorted(params.items()) if k != "Signature")
        string_to_sign = "GET&" + _rfc3986("/") + "&" + _rfc3986(canonical)
        digest = hmac.new((ALIYUN_SECRET + "&").encode(), string_to_sign.encode(), hashlib.sha1).digest()
        if base64.b64encode(digest).decode() != params["Signature"]:
            problems.insert(0, "the signature does not match")
        return problems


def phone_settings(rx: Receiver, **overrides: Any) -> PhoneSettings:
    settings: dict[str, Any] = {
        "provider": "aliyun", "access_key_id": ALIYUN_ID, "access_key_secret": ALIYUN_SECRET,
        "sms_endpoint": rx.base + "/", "voice_endpoint": rx.base + "/", "sign_name": "和谐社区",
        "sms_template": "SMS_465780123", "voice_template": "TTS_301234567", "called_show_number": "057112345678",
    }
    return PhoneSettings(**{**settings, **overrides})


def phone_channels(rx: Receiver, timeout: float = 2.0, **overrides: Any) -> Channels:
    return Channels.from_settings(NotificationSettings(timeout_seconds=timeout,
                                                       phone=phone_settings(rx, **overrides)))


def test_aliyun_sms_is_signed_and_filled_as_documented(receiver: Callable[[Answer | None], Receiver]) -> None:
    aliyun = AliyunStandIn()
    rx = receiver(aliyun)
    message = Message(title="1号楼 王秀英 呼救 * ~ + 空格 & = /", body=SOS.body, severity="critical",
                      link="https://anju.example.cn/l/a1b2?s=9")
    outcome = phone_channels(rx).send(parse_target("sms:+86 186-0000-1001"), message)
    assert aliyun.problems == []
    assert outcome == Outcome(delivered=True)
    [params] = aliyun.accepted
    assert params["Action"] == "SendSms"
    assert (params["PhoneNumbers"], params["SignName"], params["TemplateCode"]) == (
        "18600001001", "和谐社区", "SMS_465780123")
    assert json.loads(params["TemplateParam"]) == {"title": message.title, "link": "l/a1b2?s=9"}


def test_aliyun_sms_title_fits_the_variable_limit(receiver: Callable[[Answer | None], Receiver]) -> None:
    aliyun = AliyunStandIn()
    rx = receiver(aliyun)
    message = Message(title="很长的标题" * 20, body="b", short=None)
    assert phone_channels(rx).send(parse_target("sms:18600001001"), message).delivered
    title = json.loads(aliyun.accepted[0]["TemplateParam"])["title"]
    assert len(title) <= 35 and title.startswith("很长的标题")


def test_aliyun_voice_call_is_signed_as_documented(receiver: Callable[[Answer | None], Receiver]) -> None:
    aliyun = AliyunStandIn()
    rx = receiver(aliyun)
    outcome = phone_channels(rx).send(parse_target("voice:186 0000 1001"), SOS)
    assert aliyun.problems == []
    assert outcome == Outcome(delivered=True)
    [params] = aliyun.accepted
    assert (params["Action"], params["CalledNumber"], params["TtsCode"], params["CalledShowNumber"]) == (
        "SingleCallByTts", "18600001001", "TTS_301234567", "057112345678")
    assert json.loads(params["TtsParam"]) == {"title": SOS.short}


@pytest.mark.parametrize(("code", "retry", "retry_after"), [
    ("isv.BUSINESS_LIMIT_CONTROL", True, 60.0), ("Throttling.User", True, None), ("isp.SYSTEM_ERROR", True, None),
    ("isv.SMS_TEMPLATE_ILLEGAL", False, None), ("isv.MOBILE_NUMBER_ILLEGAL", False, None)])
def test_aliyun_codes_decide_the_retry(receiver: Callable[[Answer | None], Receiver], code: str, retry: bool,
                                       retry_after: float | None) -> None:
    aliyun = AliyunStandIn([code])
    rx = receiver(aliyun)
    outcome = phone_channels(rx).send(parse_target("sms:18600001001"), SOS)
    assert aliyun.problems == []
    assert not outcome.delivered and outcome.retry is retry and outcome.retry_after == retry_after
    assert outcome.error and code in outcome.error and "RequestId" in outcome.error
    assert ALIYUN_SECRET not in outcome.error and ALIYUN_ID not in outcome.error


def test_aliyun_that_never_answers_times_out(receiver: Callable[[Answer | None], Receiver]) -> None:
    rx = receiver(None)
    started = time.monotonic()
    outcome = phone_channels(rx, timeout=0.5).send(parse_target("voice:18600001001"), SOS)
    assert time.monotonic() - started < 3
    assert outcome == Outcome(delivered=False, error="Aliyun voice: no answer within 0.5s", retry=True)


def test_aliyun_unreachable_and_server_errors_are_retried(receiver: Callable[[Answer | None], Receiver]) -> None:
    rx = receiver(lambda _: (503, b"<html>busy</html>"))
    busy = phone_channels(rx).send(parse_target("sms:18600001001"), SOS)
    assert busy == Outcome(delivered=False, error="Aliyun SMS: HTTP 503 without a result", retry=True)
    closed = PhoneSettings(provider="aliyun", access_key_id=ALIYUN_ID, access_key_secret=ALIYUN_SECRET,
                           sms_endpoint=f"http://127.0.0.1:{free_port()}/", sign_name="和谐社区",
                           sms_template="SMS_1", voice_for=[])
    down = Channels.from_settings(NotificationSettings(timeout_seconds=1, phone=closed)).send(
        parse_target("sms:18600001001"), SOS)
    assert not down.delivered and down.retry is True and down.error
    assert ALIYUN_ID not in down.error and ALIYUN_SECRET not in down.error and "Signature" not in down.error


def test_aliyun_international_numbers(receiver: Callable[[Answer | None], Receiver]) -> None:
    aliyun = AliyunStandIn()
    rx = receiver(aliyun)
    sender = phone_channels(rx)
    assert sender.send(parse_target("sms:+852 6123 4567"), SOS).delivered
    assert aliyun.accepted[0]["PhoneNumbers"] == "85261234567"  # the docs: country code and number, no +
    call = sender.send(parse_target("voice:+852 6123 4567"), SOS)
    assert call == Outcome(delivered=False, error="Aliyun voice calls reach mainland China numbers only", retry=False)


@pytest.mark.parametrize(("missing", "named"), [
    ({"access_key_id": None}, "notifications.phone.access_key_id"),
    ({"access_key_secret": None}, "notifications.phone.access_key_secret"),
    ({"sign_name": None}, "notifications.phone.sign_name"),
    ({"sms_template": None}, "notifications.phone.sms_template"),
    ({"voice_template": None}, "notifications.phone.voice_template"),
])
def test_aliyun_needs_its_settings(missing: dict[str, Any], named: str) -> None:
    settings = PhoneSettings(provider="aliyun", access_key_id=ALIYUN_ID, access_key_secret=ALIYUN_SECRET,
                             sign_name="和谐社区", sms_template="SMS_1", voice_template="TTS_1")
    with pytest.raises(ValueError, match=re.escape(named)):
        AliyunPhoneProvider(settings.model_copy(update=missing), timeout=1)
    sms_only = settings.model_copy(update={"voice_template": None, "voice_for": []})
    AliyunPhoneProvider(sms_only, timeout=1)


# -- dispatch -------------------------------------------------------------------------------------------


def test_phone_targets_without_a_provider() -> None:
    outcome = channels().send(parse_target("sms:18600001001"), SOS)
    assert outcome == Outcome(delivered=False, error="no phone provider configured (notifications.phone)",
                              retry=False)


class _BrokenProvider:
    def send_sms(self, phone: str, message: Message) -> Outcome:
        raise RuntimeError(f"boom {ALIYUN_SECRET}")

    def call(self, phone: str, message: Message) -> Outcome:
        raise RuntimeError(f"boom {ALIYUN_SECRET}")


def test_send_never_raises() -> None:
    sender = Channels(AppriseChannel(NotificationSettings()), _BrokenProvider(), secrets=(ALIYUN_SECRET,))
    for text in ("sms:18600001001", "voice:18600001001"):
        outcome = sender.send(parse_target(text), SOS)
        assert not outcome.delivered and outcome.retry is True
        assert outcome.error and "RuntimeError" in outcome.error and ALIYUN_SECRET not in outcome.error


def test_an_unusable_target_fails_at_once_without_its_secret() -> None:
    bad = Target(channel="dingtalk", address="dingtalk://bad-s3cret!@tok3n", shown="dingtalk://…")
    outcome = channels().send(bad, SOS)
    assert not outcome.delivered and outcome.retry is False
    assert outcome.error and "unusable" in outcome.error
    assert "bad-s3cret" not in outcome.error and "tok3n" not in outcome.error


# -- targets ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "channel", "secrets", "shown"), [
    (f"wecombot://{WECOM_KEY}", "wecombot", [WECOM_KEY], "wecombot://"),
    (f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}", "wecombot", [WECOM_KEY], "wecombot://"),
    (f"dingtalk://{DING_SECRET}@{DING_TOKEN}", "dingtalk", [DING_SECRET, DING_TOKEN], "dingtalk://"),
    (f"feishu://{FEISHU_TOKEN}", "feishu", [FEISHU_TOKEN], "feishu://"),
    ("mailto://anju:Mail-Pa55@smtp.example.cn?to=guard@example.com", "mailto", ["Mail-Pa55"], "guard@example.com"),
    ("json://hook:Js0n-Pa55@127.0.0.1:8000/hook?+Authorization=Bearer%20t0ken-xyz", "json",
     ["Js0n-Pa55", "t0ken-xyz"], "127.0.0.1:8000/hook"),
    ("mqtt://anju:Mq77-Pa55@127.0.0.1:1883/anju/notify", "mqtt", ["Mq77-Pa55"], "/anju/notify"),
])
def test_targets_are_shown_without_secrets(text: str, channel: str, secrets: list[str], shown: str) -> None:
    target = parse_target(text)
    assert (target.channel, target.address) == (channel, text)
    assert shown in target.shown and str(target) == target.shown
    for secret in secrets:
        assert secret not in target.shown and secret[:8] not in target.shown


@pytest.mark.parametrize(("text", "shown", "address"), [
    ("sms:138-0000-0001", "sms:138****0001", "13800000001"),
    ("voice:+86 138 0000 0001", "voice:138****0001", "13800000001"),
    ("SMS:0086 13800000001", "sms:138****0001", "13800000001"),
])
def test_phone_targets(text: str, shown: str, address: str) -> None:
    target = parse_target(text)
    assert (target.channel, target.address, target.shown) == (shown.split(":")[0], address, shown)


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty target"),
    ("   ", "empty target"),
    ("hello", "not a URL"),
    ("foo://bar", "unknown schema foo://"),
    ("wecombot://", "unusable wecombot:// URL"),
    ("dingtalk://not-a-token!", "unusable dingtalk:// URL"),
    ("https://example.com/some/hook", "a plain webhook is jsons://host/path"),
    ("mqtt://127.0.0.1:1883", "names no recipient"),
    ("sms:12345", "not a mainland mobile number"),
    ("voice:", "empty phone number"),
])
def test_unusable_targets_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_target(text)


@pytest.mark.parametrize(("text", "phone"), [
    ("186-0000-1001", "18600001001"),
    ("186 0000 1001", "18600001001"),
    ("+86 186 0000 1001", "18600001001"),
    ("+86-186-0000-1001", "18600001001"),
    ("0086 18600001001", "18600001001"),
    ("(+86) 186 0000 1001", "18600001001"),
    (18600001001, "18600001001"),
    ("+852 6123 4567", "+85261234567"),
    ("+44 20 7946 0958", "+442079460958"),
    ("0044 20 7946 0958", "+442079460958"),
])
def test_normalize_phone(text: str | int, phone: str) -> None:
    assert normalize_phone(text) == phone


@pytest.mark.parametrize("text", ["12345", "28600001001", "8618600001001", "186000010011", "+0123456789", "+12345",
                                  "186-0000-10O1", "", True, 1.86e10])
def test_normalize_phone_refuses(text: Any) -> None:
    with pytest.raises(ValueError):
        normalize_phone(text)
