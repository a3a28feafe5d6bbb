"""Split a `multipart/form-data` or `multipart/mixed` body into its parts (stdlib email parser, no extra dependency).

Hikvision cameras post `multipart/form-data` (newer firmware) or `multipart/mixed`
(older ones) with the event as one part (XML or JSON) and the pictures as others.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.parser import BytesParser


class MultipartError(ValueError):
    """The body is not a well-formed multipart message."""


@dataclass(slots=True)
class Part:
    name: str | None
    """The form field name (`Content-Disposition: form-data; name=...`), if any."""
    filename: str | None
    content_type: str
    data: bytes


def split_multipart(content_type: str, body: bytes, max_parts: int = 32) -> list[Part]:
    """The parts of a multipart body; raises MultipartError with a reason."""
    if "boundary=" not in content_type.lower():
        raise MultipartError("multipart body without a boundary in its Content-Type")
    head = f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n".encode("latin-1", errors="replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise MultipartError("the body is not multipart")
    parts: list[Part] = []
    for sub in message.iter_parts():
        if len(parts) >= max_parts:
            raise MultipartError(f"more than {max_parts} parts")
        payload = sub.get_payload(decode=True)
        if not isinstance(payload, bytes):  # a nested multipart: not something a camera sends
            continue
        name = sub.get_param("name", header="content-disposition")
        parts.append(Part(name if isinstance(name, str) else None, sub.get_filename(),
                          sub.get_content_type(), payload))
    if not parts:
        raise MultipartError("no parts found (wrong boundary?)")
    return parts
