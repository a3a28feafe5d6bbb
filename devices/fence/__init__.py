"""脉冲电子围栏 pulse electric fence host, one folder: the driver (`driver.py`),
its simulated device (`simulated.py`) and canonical sample payloads (`samples.json`, checked by tests/devices)."""

from devices.fence.driver import Alarm, Arm, Disarm, Fence, Heartbeat, Restore, ZoneId
from devices.fence.simulated import FenceModel

Fence.__module__ = __name__  # its public name (logs, driver errors): devices.fence.Fence

__all__ = ["Alarm", "Arm", "Disarm", "Fence", "FenceModel", "Heartbeat", "Restore", "ZoneId"]
