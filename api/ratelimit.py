"""Wrong tokens, rate-limited per client address: after too many in a minute, that address gets 429.

Tokens are 256 random bits, so guessing is hopeless anyway; the limit keeps a scanner
or a misconfigured client from filling the logs and the database with failed look-ups,
and makes a guessing attempt visible (`anju_api_auth_blocked_total`). The address is
the peer's own unless it is one of `api.trusted_proxies` (none by default: api/serve.py),
so a forged `X-Forwarded-For` can neither dodge the limit nor get another address
blocked. Behind a reverse proxy, list it there (docs/api.md).
"""

from __future__ import annotations

import threading
import time
from collections import deque

WINDOW = 60.0


class FailedAuth:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.blocked_total = 0

    def retry_after(self, address: str) -> int:
        """Seconds until `address` may try again (0: it may now)."""
        if self.per_minute <= 0:
            return 0
        now = time.monotonic()
        with self._lock:
            failures = self._failures.get(address)
            if failures is None:
                return 0
            while failures and failures[0] <= now - WINDOW:
                failures.popleft()
            if not failures:
                del self._failures[address]
                return 0
            if len(failures) < self.per_minute:
                return 0
            self.blocked_total += 1
            return max(1, int(failures[0] + WINDOW - now) + 1)

    def failed(self, address: str) -> None:
        if self.per_minute <= 0:
            return
        with self._lock:
            if len(self._failures) > 100_000:  # a flood from many addresses: forget the oldest half
                for key in list(self._failures)[: len(self._failures) // 2]:
                    del self._failures[key]
            self._failures.setdefault(address, deque()).append(time.monotonic())
