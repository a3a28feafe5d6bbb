"""车牌识别 licence-plate camera, one folder: the driver (`driver.py`),
its simulated device (`simulated.py`) and canonical sample payloads (`samples.json`, checked by tests/devices)."""

from devices.plate_camera.driver import Plate, PlateCamera
from devices.plate_camera.simulated import PlateCameraModel

PlateCamera.__module__ = __name__  # its public name (logs, driver errors): devices.plate_camera.PlateCamera

__all__ = ["Plate", "PlateCamera", "PlateCameraModel"]
