"""`anju notify`: a process that only sends notifications, until SIGINT/SIGTERM.

Any number of them may run against one PostgreSQL database beside the gateways (`alerting.notifications`
claims each row for one sender); `anju serve` runs the same senders in-process unless `notifications.workers`
is 0.
"""

from __future__ import annotations

import logging
import signal
import threading

from alerting.notifications.senders import Notifier
from kernel.config import Settings
from kernel.db import make_engine, migrate, session_factory
from kernel.metrics import GatewayMetrics

log = logging.getLogger(__name__)


def run_senders(settings: Settings) -> None:
    engine = make_engine(settings.db.url)
    migrate(engine)  # the outbox must exist even if this process starts before any gateway
    notifier = Notifier(settings.notifications, session_factory(engine), GatewayMetrics())
    if not settings.notifications.workers:
        raise SystemExit("notifications.workers is 0: nothing to run")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    notifier.start()
    log.info("notification senders: %d threads (%s)", settings.notifications.workers, notifier.name)
    try:
        while not stop.wait(1):
            pass
    finally:
        notifier.stop()
        engine.dispose()
