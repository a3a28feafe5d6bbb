"""换热站 heating substation (or a building's heating loop), one folder: the driver (`driver.py`),
its simulated device (`simulated.py`) and canonical sample payloads (`samples.json`, checked by tests/devices)."""

from devices.heating.driver import Fault, Heating, Leak, Reading
from devices.heating.simulated import HeatingModel, in_heating_season

Heating.__module__ = __name__  # its public name (logs, driver errors): devices.heating.Heating

__all__ = ["Fault", "Heating", "HeatingModel", "Leak", "Reading", "in_heating_season"]
