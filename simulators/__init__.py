"""Simulated devices that speak the Anju MQTT contract (SPEC §2), so everything is testable without hardware.

Building blocks, from the wire up:

- `SimulatedDevice`: one device on its own MQTT connection (will = retained `offline`).
- `kinds`: per-kind payload models (`ElderButtonModel`, `AccessGateModel`, ...).
- `faults`: functions that publish each class of bad input or make a device misbehave.
- `rule_scenarios`: one short script per built-in rule (scenarios `rules` and `rule-<id>`).
- `run_simulation`: a named scenario against a broker; `plan_scenario`: the same, dry.
"""

from __future__ import annotations

from kernel.mqtt import BrokerSettings, parse_broker_url
from simulators.connection import BrokerUnavailable, MqttConnection
from simulators.device import DeviceOffline, SimulatedDevice
from simulators.faults import FAULT_CLASSES, InjectedFault
from simulators.kinds import (
    AccessGateModel,
    ElderButtonModel,
    FaceCameraModel,
    FenceModel,
    KindModel,
    PlateCameraModel,
    make_model,
)
from simulators.load import synthetic_devices
from simulators.messages import Message, MsgIdFactory, build_payload, encode_payload
from simulators.netloop import NetLoop
from simulators.report import SimulationReport
from simulators.rule_scenarios import RULE_SCRIPTS, SCENARIO_WATCHLISTS, RuleScript
from simulators.runner import plan_scenario, run_simulation
from simulators.scenarios import SCENARIO_NAMES, SCENARIOS

__all__ = [
    "FAULT_CLASSES",
    "RULE_SCRIPTS",
    "SCENARIOS",
    "SCENARIO_NAMES",
    "SCENARIO_WATCHLISTS",
    "AccessGateModel",
    "BrokerSettings",
    "BrokerUnavailable",
    "DeviceOffline",
    "ElderButtonModel",
    "FaceCameraModel",
    "FenceModel",
    "InjectedFault",
    "KindModel",
    "Message",
    "MqttConnection",
    "MsgIdFactory",
    "NetLoop",
    "PlateCameraModel",
    "RuleScript",
    "SimulatedDevice",
    "SimulationReport",
    "build_payload",
    "encode_payload",
    "make_model",
    "parse_broker_url",
    "plan_scenario",
    "run_simulation",
    "synthetic_devices",
]
