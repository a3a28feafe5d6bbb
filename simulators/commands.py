"""How a simulated device answers the gateway's commands (docs/commands.md, docs/simulators.md).

Every simulated device subscribes to its `cmd` topic and answers each command on `cmd_result` with
`{"cmd_id", "ok", "detail"}`, as real firmware should. What it answers depends on its mode, the site file's
device attribute `simulate_commands` (or `SimulatedDevice(command_mode=...)`, later `device.commands.mode`):

- `ok` (default): it does what it is told, if its kind declares the command and the arguments are right
  (checked with the driver's own command models, as the gateway checks them), and says what it did: a gate
  `{"opened_for_s": 10}`, a fence `{"disarmed": ["Z1"]}`, a button `{"beeping_for_s": 10}`; else `ok: false` with
  the reason. A command that arrives past its `expires_at` is not carried out (`ok: false`, "expired on arrival").
- `fail`: `ok: false, detail: "jammed"` to everything.
- `silent`: no answer at all (the gateway expires the command).

What was done changes what the device reports (`shape`): an opened gate's heartbeats say `door: open` until it
closes again, a disarmed fence zone raises no alarms (its heartbeats list it in `disarmed_zones`), a located
button's heartbeats say `beeping: true` while it beeps. A state-changing command is followed by a heartbeat at
once, so the change is seen without waiting for the next one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from pydantic import ValidationError

from simulators.messages import Message

log = logging.getLogger(__name__)

MODES = ("ok", "fail", "silent")
FAIL_DETAIL = "jammed"
ATTRIBUTE = "simulate_commands"
"""The site file's device attribute that sets a simulated device's mode."""


def command_mode(attributes: dict[str, Any] | None) -> str:
    """The mode a device's site-file attributes ask for (`ok` when absent or not one of `MODES`)."""
    mode = (attributes or {}).get(ATTRIBUTE, "ok")
    if mode not in MODES:
        log.warning("%s: %r is not one of %s; answering commands ok", ATTRIBUTE, mode, ", ".join(MODES))
        return "ok"
    return str(mode)


class CommandResponder:
    """One simulated device's side of commands: its answers and the state they leave (real time, not simulated:
    commands come from people, now)."""

    def __init__(self, kind: str, zones: list[str] | None = None, mode: str = "ok",
                 clock: Callable[[], float] = time.time) -> None:
        if mode not in MODES:
            raise ValueError(f"command mode must be one of {MODES}, not {mode!r}")
        self.kind = kind
        self.zones = list(zones or [])
        self.mode = mode
        self.clock = clock
        self.answered: list[dict[str, Any]] = []
        """Every command received, with the answer given (None: silent), oldest first."""
        self.open_until: float | None = None
        self.locked = False
        self.disarmed: set[str] = set()
        self.beeping_until: float | None = None
        self._lock = threading.Lock()

    def answer(self, payload: bytes) -> tuple[dict[str, Any] | None, bool]:
        """The `cmd_result` for a received `cmd` payload (None: nothing to answer, or silent) and whether the
        device's state changed (then a heartbeat should follow)."""
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None, False
        if not isinstance(data, dict) or not isinstance(data.get("cmd_id"), str):
            return None, False  # nothing that names a command to answer
        cmd_id, command, args = data["cmd_id"], data.get("command"), data.get("args") or {}
        with self._lock:
            if self.mode == "silent":
                result: dict[str, Any] | None = None
                changed = False
            elif self.mode == "fail":
                result, changed = {"cmd_id": cmd_id, "ok": False, "detail": FAIL_DETAIL}, False
            else:
                ok, detail, changed = self._carry_out(command, args, data.get("expires_at"))
                result = {"cmd_id": cmd_id, "ok": ok, "detail": detail}
            self.answered.append({"command": data, "result": result})
        return result, changed

    def _carry_out(self, command: Any, args: Any, expires_at: Any) -> tuple[bool, Any, bool]:
        from devices import DRIVERS  # read at call time, as `make_model` does: plugins installed later count

        now = self.clock()
        if isinstance(expires_at, int | float) and not isinstance(expires_at, bool) and now * 1000 > expires_at:
            return False, "expired on arrival", False
        driver = DRIVERS.get(self.kind)
        model = driver.commands.get(command) if driver is not None and isinstance(command, str) else None
        if model is None:
            return False, f"unknown command {command!r}", False
        try:
            parsed = model.model_validate(args if isinstance(args, dict) else {}).model_dump()
        except ValidationError as exc:
            return False, f"bad arguments: {exc.errors(include_url=False)[0]['msg']}", False
        if self.kind == "access_gate" and command == "open":
            self.open_until, self.locked = now + parsed["seconds"], False
            return True, {"opened_for_s": parsed["seconds"]}, True
        if self.kind == "access_gate" and command == "lock":
            self.open_until, self.locked = None, True
            return True, {"locked": True}, True
        if self.kind == "fence" and command in ("arm", "disarm"):
            zone = parsed.get("zone")
            if zone is not None and self.zones and zone not in self.zones:
                return False, f"no zone {zone!r} (zones: {', '.join(self.zones)})", False
            zones = [zone] if zone is not None else list(self.zones)
            if command == "arm":
                self.disarmed.difference_update(zones)
                return True, {"armed": zones}, True
            self.disarmed.update(zones)
            return True, {"disarmed": zones}, True
        if self.kind == "elder_button" and command == "locate":
            self.beeping_until = now + parsed["seconds"]
            return True, {"beeping_for_s": parsed["seconds"]}, True
        return True, {"done": command}, False  # a plugin kind's command: nothing modelled, done

    def shape(self, message: Message) -> Message | None:
        """The message as the device's state after commands makes it: None when it would not be sent at all (an
        alarm of a disarmed fence zone)."""
        with self._lock:
            now = self.clock()
            if self.kind == "fence" and self.disarmed:
                if message.type == "alarm" and message.fields.get("zone") in self.disarmed:
                    return None
                if message.channel == "telemetry" and message.type == "heartbeat":
                    armed = not set(self.zones) <= self.disarmed  # some zone still armed
                    return Message(message.channel, message.type, {**message.fields, "armed": armed,
                                   "disarmed_zones": sorted(self.disarmed)}, message.ts_ms)
            if message.channel != "telemetry" or message.type != "heartbeat":
                return message
            if self.kind == "access_gate" and self.open_until is not None:
                if now < self.open_until:
                    return Message(message.channel, message.type,
                                   {**message.fields, "door": "open", "opened_by": "command"}, message.ts_ms)
                self.open_until = None
            if self.kind == "elder_button" and self.beeping_until is not None:
                if now < self.beeping_until:
                    return Message(message.channel, message.type, {**message.fields, "beeping": True}, message.ts_ms)
                self.beeping_until = None
            return message
