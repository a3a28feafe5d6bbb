"""Camera-image recognition for Anju (licence plates)."""

from vision.plates import PlateReading, read_plates

__all__ = ["PlateReading", "read_plates"]
