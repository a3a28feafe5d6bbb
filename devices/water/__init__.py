"""二次供水 water supply (pump room, building supply), one folder: the driver (`driver.py`),
its simulated device (`simulated.py`) and canonical sample payloads (`samples.json`, checked by tests/devices)."""

from devices.water.driver import Leak, Reading, SupplyInterrupted, SupplyRestored, Water
from devices.water.simulated import WaterModel

Water.__module__ = __name__  # its public name (logs, driver errors): devices.water.Water

__all__ = ["Leak", "Reading", "SupplyInterrupted", "SupplyRestored", "Water", "WaterModel"]
