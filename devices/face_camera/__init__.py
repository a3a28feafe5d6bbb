"""人脸识别 face-recognition camera, one folder: the driver (`driver.py`),
its simulated device (`simulated.py`) and canonical sample payloads (`samples.json`, checked by tests/devices)."""

from devices.face_camera.driver import Face, FaceCamera
from devices.face_camera.simulated import FaceCameraModel

FaceCamera.__module__ = __name__  # its public name (logs, driver errors): devices.face_camera.FaceCamera

__all__ = ["Face", "FaceCamera", "FaceCameraModel"]
