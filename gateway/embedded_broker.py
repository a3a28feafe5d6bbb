"""The embedded MQTT broker (amqtt) behind `anju demo`: zero set-up, MQTT 3.1.1, in-process.

amqtt only queues messages for an offline persistent session when the client
is not anonymous, so the broker asks for a user name (any name, no password):
that keeps the gateway's "nothing is lost while I restart" promise in the demo too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

from amqtt.broker import Broker

log = logging.getLogger(__name__)


class SnapshotDict(dict[Any, Any]):
    """A dict whose iteration walks a copy of its keys (or items).

    amqtt 0.12 iterates its subscription table with `await`s inside the loop (a connecting client is sent the
    retained messages of every filter; each broadcast walks the filters): a device subscribing meanwhile — a
    simulated community's devices all subscribe to their `cmd` topics at start — changes the table's size, the
    loop raises "dictionary changed size during iteration", and that client's session dies. Walking a copy
    gives each loop the table as it was when the loop began, which is all either loop needs.
    """

    def __iter__(self) -> Iterator[Any]:
        return iter(list(super().keys()))

    def items(self) -> Any:
        return list(super().items())

    def keys(self) -> Any:
        return list(super().keys())


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Broker | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 5000}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False},
            },
        }

    def start(self, timeout: float = 10.0) -> None:
        ready = threading.Event()
        errors: list[BaseException] = []

        async def run() -> None:
            self._stopped = asyncio.Event()
            try:
                self._broker = Broker(self.config())
                self._broker._subscriptions = SnapshotDict(self._broker._subscriptions)
                await self._broker.start()
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            await self._stopped.wait()
            await self._broker.shutdown()

        def target() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(run())
            self._loop.close()

        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._thread = threading.Thread(target=target, name="anju-embedded-broker", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("embedded broker did not start in time")
        if errors:
            raise RuntimeError(f"embedded broker failed to start on {self.host}:{self.port}: {errors[0]}")
        log.info("embedded MQTT broker on %s", self.url)

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(timeout=10)
