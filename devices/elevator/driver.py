"""电梯: the monitor of one lift (电梯物联网监测终端, GB/T 24476-style fault reporting).

A monitor reports people trapped in a stopped car (`trapped`, 困人), faults by code (`fault`), the return to
normal (`restore`) and, periodically, the lift's `status`: floor, door, whether it is moving and whether it is in
service. `trapped` is why the kind is a safety kind: it is never refused for a secondary field's format, and an
event the gateway cannot understand raises an "unrecognised alarm" (someone may be inside).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field

from devices.base import DeviceDriver, Heartbeat, Interpretation, Payload, ReadingValue
from devices.elevator.simulated import ElevatorModel

FAULT_CODES: tuple[str, ...] = (
    "door_open_while_running",  # 运行中开门
    "stopped_between_floors",  # 非平层停梯
    "overspeed",  # 超速
    "power_loss",  # 停电
    "door_fault",  # 开关门故障
    "overrun_top",  # 冲顶
    "overrun_bottom",  # 蹲底
    "safety_circuit_open",  # 安全回路断路
    "leveling_fault",  # 平层异常
)
"""The codes the built-in rules and the simulator know (GB/T 24476's fault list, in English). Any other code is
accepted as text: a monitor's own codes are stored and reach `lift-fault`."""


class Trapped(Payload):
    """People inside a stopped car (困人), from the car's alarm button or the monitor's own detection."""

    type: Literal["trapped"]
    floor: int | None = None


class Fault(Payload):
    type: Literal["fault"]
    code: str = Field(min_length=1, max_length=64)
    floor: int | None = None


class Restore(Payload):
    """The lift is back to normal (the fault cleared, the people out)."""

    type: Literal["restore"]
    code: str | None = Field(default=None, max_length=64)


class Status(Payload):
    type: Literal["status"]
    running: bool
    in_service: bool
    floor: int | None = None
    door: Literal["open", "closed"] | None = None


class Elevator(DeviceDriver):
    kind = "elevator"
    title = "电梯 lift monitor"
    heartbeat_interval = timedelta(seconds=30)
    offline_timeout = timedelta(minutes=5)
    safety = True
    alarm_types = frozenset({"trapped", "fault"})
    aliases: ClassVar = {
        "困人": "trapped", "trap": "trapped", "entrapment": "trapped", "people_trapped": "trapped",
        "trapped_alarm": "trapped", "故障": "fault", "alarm": "fault", "fault_alarm": "fault",
        "恢复": "restore", "故障恢复": "restore", "restored": "restore", "recover": "restore",
        "fault_clear": "restore", "状态": "status", "state": "status",
    }
    events: ClassVar = {"trapped": Trapped, "fault": Fault, "restore": Restore}
    telemetry: ClassVar = {"status": Status, "heartbeat": Heartbeat}
    """`heartbeat`: a monitor with nothing to report still says it is alive (every kind accepts one)."""
    derived_readings: ClassVar = frozenset({"in_service", "running"})

    def interpret(self, channel: str, payload: Payload) -> Interpretation:
        """A status gives the readings `in_service` and `running` (1/0) and `floor`. Faults are events (rules
        `lift-*`), not health: the monitor itself is fine, the lift is not."""
        result = super().interpret(channel, payload)
        if isinstance(payload, Status):
            result.readings.append(ReadingValue("in_service", 1.0 if payload.in_service else 0.0))
            result.readings.append(ReadingValue("running", 1.0 if payload.running else 0.0))
            if payload.floor is not None:
                result.readings.append(ReadingValue("floor", float(payload.floor)))
        return result

    def simulated(self, rng: random.Random | None = None,
                  attributes: Mapping[str, Any] | None = None) -> ElevatorModel:
        """A lift with the site file's `floors` (default 11, the usual 小高层) and `lowest_floor` (1)."""
        attributes = attributes or {}
        return ElevatorModel(rng, floors=int(attributes.get("floors", 11)),
                             lowest=int(attributes.get("lowest_floor", 1)))
