"""One I/O thread for many MQTT connections.

A community has ~70 devices and each must own its MQTT connection so its will
fires when it drops. `loop_start()` per client would mean one thread each;
instead every paho client here runs on paho's external-loop API and this loop
multiplexes all their sockets with `selectors`. Publishing threads never touch
the socket: paho queues the packet, tells us through `on_socket_register_write`,
and this thread writes it.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from typing import Protocol

log = logging.getLogger(__name__)


class Endpoint(Protocol):
    """What the loop drives: one MQTT connection."""

    def sock(self) -> socket.socket | None: ...
    def handle_read(self) -> None: ...
    def handle_write(self) -> bool:
        """Write what is queued; True if more is waiting for the socket."""
        ...

    def tick(self, now: float) -> None:
        """Keepalive pings and reconnects, about every `tick_s`."""
        ...


class NetLoop:
    """Selector loop thread; `start()` it once, attach endpoints, `stop()` at the end."""

    _shared: NetLoop | None = None
    _shared_lock = threading.Lock()

    def __init__(self, name: str = "anju-sim-net", tick_s: float = 0.5) -> None:
        self.name = name
        self.tick_s = tick_s
        self._selector = selectors.DefaultSelector()
        self._sel_lock = threading.Lock()  # serialises register/modify/unregister
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._pending: set[Endpoint] = set()
        self._pending_lock = threading.Lock()
        self._endpoints: set[Endpoint] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def shared(cls) -> NetLoop:
        """A process-wide loop for devices created without one (tests, one-off scripts)."""
        with cls._shared_lock:
            if cls._shared is None or not cls._shared.running:
                cls._shared = cls(name="anju-sim-net-shared")
                cls._shared.start()
            return cls._shared

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread; connections still attached are left as they are."""
        self._stop.set()
        self._wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # --- called from any thread -------------------------------------------
    def add(self, ep: Endpoint) -> None:
        with self._pending_lock:
            self._endpoints.add(ep)

    def remove(self, ep: Endpoint) -> None:
        with self._pending_lock:
            self._endpoints.discard(ep)
            self._pending.discard(ep)

    def watch(self, sock: socket.socket, ep: Endpoint) -> None:
        """Start reading a newly opened socket of `ep`."""
        with self._sel_lock:
            self._selector.register(sock, selectors.EVENT_READ, ep)
        self._wake()

    def unwatch(self, sock: socket.socket) -> None:
        """Forget a socket about to be closed (before close, so its fd is not reused yet)."""
        with self._sel_lock, contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(sock)

    def want_write(self, ep: Endpoint) -> None:
        """`ep` has queued packets: write them soon (wakes the loop once per batch)."""
        with self._pending_lock:
            first = not self._pending
            self._pending.add(ep)
        if first:
            self._wake()

    # --- the loop thread --------------------------------------------------
    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def _run(self) -> None:
        next_tick = time.monotonic() + self.tick_s
        while not self._stop.is_set():
            try:
                events = self._selector.select(timeout=max(0.0, next_tick - time.monotonic()))
            except OSError:  # a socket closed under us; the next select is clean
                events = []
            writable: set[Endpoint] = set()
            for key, mask in events:
                if key.data is None:
                    with contextlib.suppress(BlockingIOError, OSError):
                        while self._wake_r.recv(4096):
                            pass
                    continue
                ep: Endpoint = key.data
                if mask & selectors.EVENT_READ:
                    self._guard(ep.handle_read)
                if mask & selectors.EVENT_WRITE:
                    writable.add(ep)
            with self._pending_lock:
                writable |= self._pending
                self._pending = set()
            for ep in writable:
                more = self._guard(ep.handle_write)
                self._set_write_interest(ep, bool(more))
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + self.tick_s
                with self._pending_lock:
                    endpoints = list(self._endpoints)
                for ep in endpoints:
                    self._guard(ep.tick, now)
        log.debug("%s stopped", self.name)

    def _set_write_interest(self, ep: Endpoint, want: bool) -> None:
        sock = ep.sock()
        if sock is None:
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0)
        with self._sel_lock, contextlib.suppress(KeyError, ValueError, OSError):
            if self._selector.get_key(sock).events != events:
                self._selector.modify(sock, events, ep)

    @staticmethod
    def _guard(fn: object, *args: object) -> object:
        """Run an endpoint handler; one broken connection must not stop the others."""
        try:
            return fn(*args)  # type: ignore[operator]
        except Exception:
            log.exception("simulator network handler failed")
            return None
