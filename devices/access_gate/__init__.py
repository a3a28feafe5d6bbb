"""门禁 access gate, one folder: the driver (`driver.py`),
its simulated device (`simulated.py`) and canonical sample payloads (`samples.json`, checked by tests/devices)."""

from devices.access_gate.driver import AccessGate, ForcedOpen, HeldOpen, Lock, Open, Pass, Tamper
from devices.access_gate.simulated import AccessGateModel

AccessGate.__module__ = __name__  # its public name (logs, driver errors): devices.access_gate.AccessGate

__all__ = ["AccessGate", "AccessGateModel", "ForcedOpen", "HeldOpen", "Lock", "Open", "Pass", "Tamper"]
