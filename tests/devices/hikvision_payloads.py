"""Hikvision ISAPI test bodies: the files under tests/devices/data/hikvision/ and multipart bodies built like a
camera's."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "hikvision"
BOUNDARY = "MIME_boundary_a1b2c3d4e5"


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def jpeg(width: int = 64, height: int = 24, seed: int = 0) -> bytes:
    """A small, valid JPEG (a plate-sized crop, or a face)."""
    image = np.full((height, width, 3), (200, 80, 20), np.uint8)
    cv2.putText(image, str(seed), (2, height - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return encoded.tobytes()


def multipart(event: bytes, event_name: str, pictures: dict[str, bytes], subtype: str = "form-data",
              event_type: str = "application/xml") -> tuple[str, bytes]:
    """(Content-Type, body) as a camera posts it: the event part first, then one part per picture."""
    def part(name: str, content_type: str, data: bytes) -> bytes:
        disposition = f'form-data; name="{name}"; filename="{name}"' if subtype == "form-data" else \
            f'attachment; filename="{name}"'
        return (f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(data)}\r\n\r\n").encode() + data + b"\r\n"

    body = part(event_name, event_type, event)
    for name, data in pictures.items():
        body += part(name, "image/jpeg", data)
    return f"multipart/{subtype}; boundary={BOUNDARY}", body + f"--{BOUNDARY}--\r\n".encode()
