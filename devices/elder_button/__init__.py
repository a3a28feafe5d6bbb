"""一键通 elder alarm button, one folder: the driver (`driver.py`),
its simulated device (`simulated.py`) and canonical sample payloads (`samples.json`, checked by tests/devices)."""

from devices.elder_button.driver import Cancel, ElderButton, Heartbeat, Locate, Press
from devices.elder_button.simulated import ElderButtonModel

ElderButton.__module__ = __name__  # its public name (logs, driver errors): devices.elder_button.ElderButton

__all__ = ["Cancel", "ElderButton", "ElderButtonModel", "Heartbeat", "Locate", "Press"]
