"""海康威视 Hikvision: a vendor driver for cameras that push ISAPI events over HTTP (docs/integrators-hikvision.md).

`driver.py` is the `DeviceDriver` (its `parse_push`); `isapi.py` parses the event documents and
`multipart.py` splits bodies that carry pictures. Sample bodies are in tests/devices/data/hikvision.
"""

from devices.hikvision.driver import Hikvision

Hikvision.__module__ = __name__  # its public name: devices.hikvision.Hikvision

__all__ = ["Hikvision"]
