"""电梯 lift monitor, one folder: the driver (`driver.py`),
its simulated device (`simulated.py`) and canonical sample payloads (`samples.json`, checked by tests/devices)."""

from devices.elevator.driver import FAULT_CODES, Elevator, Fault, Restore, Status, Trapped
from devices.elevator.simulated import ElevatorModel

Elevator.__module__ = __name__  # its public name (logs, driver errors): devices.elevator.Elevator

__all__ = ["FAULT_CODES", "Elevator", "ElevatorModel", "Fault", "Restore", "Status", "Trapped"]
