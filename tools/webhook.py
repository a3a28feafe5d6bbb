"""A local HTTP receiver for notifications: what a WeCom/DingTalk server or a JSON webhook would see.

Used by `anju bench latency` (press → notification received) and by the tests, which check what Anju sent
against what the provider documents. Every request is kept with its arrival time (`time.perf_counter()` and
wall clock), path, query, headers and body; `reply` decides the answer (200 `{"errcode": 0}` by default, the
shape WeCom and DingTalk answer with).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Received:
    at: float
    """`time.perf_counter()` when the request's body was read."""
    wall: float
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Reply = Callable[[Received], tuple[int, bytes]]


def ok(_request: Received) -> tuple[int, bytes]:
    return 200, b'{"errcode": 0, "errmsg": "ok"}'


@dataclass
class WebhookReceiver:
    """`with WebhookReceiver() as hook:` … `hook.url("/x")`, `hook.wait(1)`, `hook.received`."""

    reply: Reply = ok
    received: list[Received] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Received(time.perf_counter(), time.time(), self.command, parts.path,
                                   parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver._cond:
                    receiver.received.append(request)
                    receiver._cond.notify_all()
                status, answer = receiver.reply(request)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_POST = do_GET = do_PUT = _handle

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="webhook-receiver")

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "/hook", scheme: str = "json") -> str:
        """The Apprise URL of `path` here (`json://127.0.0.1:PORT/hook`)."""
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def wait(self, count: int, timeout: float = 10.0,
             where: Callable[[Received], bool] = lambda _r: True) -> list[Received]:
        """The first `count` requests matching `where`, waiting up to `timeout`; fewer if they never came."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [r for r in self.received if where(r)]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    return found[:count] if len(found) >= count else found
                self._cond.wait(left)
