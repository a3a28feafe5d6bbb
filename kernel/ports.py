"""What the layers above the gateway (the rule engine, the outage tracker) may use of a running gateway.

A `Protocol`, so `alerting` is wired to a gateway by type, not by reaching into its internals, and a test
or a benchmark can hand it anything with these few members. `gateway.service.Gateway` satisfies it
structurally; nothing here imports the gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from kernel.config import Settings
from kernel.metrics import GatewayMetrics
from kernel.observations import Observation

TransactionHook = Callable[[Session, list[Observation]], None]
"""Called inside the gateway's transaction with the batch's observations, after they are stored."""
Ticker = Callable[[datetime], None]
"""Called on the gateway's clock (its watchdog thread) with the current time."""


class Sessions(Protocol):
    """A session factory (`sqlalchemy.orm.sessionmaker`): `sessions()` for reads, `sessions.begin()` to write."""

    def __call__(self) -> Session: ...

    def begin(self) -> AbstractContextManager[Session]: ...


class Service(Protocol):
    """Something that runs beside the gateway and starts and stops with it (the notification senders)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class GatewayPort(Protocol):
    """The gateway as the alerting layer sees it."""

    @property
    def settings(self) -> Settings: ...

    @property
    def sessions(self) -> Sessions: ...

    @property
    def metrics(self) -> GatewayMetrics: ...

    def add_transaction_hook(self, hook: TransactionHook) -> None:
        """Run `hook` last in every batch's transaction (hooks run in the order they were added)."""

    def add_ticker(self, ticker: Ticker) -> None:
        """Call `ticker` on the gateway's clock."""

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 on the gateway's MQTT connection."""

    def add_service(self, service: Service) -> None:
        """Start `service` after the database is ready, stop it when the gateway stops."""
