"""Video patrol: a camera's live view (`attributes.live_url`), as the API shows it.

A device may carry the address of its live picture in its attributes: an HLS
playlist (`.m3u8`) or the vendor's web page. The console links to it from the
device and from the alerts about it, opening it in a new tab. Attributes are
free-form and written by integrators, so the address is checked whenever it is
shown, not trusted because it is stored: only `http` and `https` (never
`javascript:`, `data:` or a file), with a host, no white space or control
characters, and no user name or password in it (they would reach every phone
that shows the link). Anything else is not shown (None). The console applies
the same rule to what it renders (api/console/liveview.js).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

ATTRIBUTE = "live_url"
MAX_LENGTH = 2048
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f]")


def live_url(attributes: Mapping[str, Any] | None) -> str | None:
    """The device's live-view address if it may be shown as a link, else None."""
    value = attributes.get(ATTRIBUTE) if isinstance(attributes, Mapping) else None
    return value if isinstance(value, str) and safe_url(value) else None


def safe_url(value: str) -> bool:
    """Whether `value` is an http(s) address with a host and no credentials, that a browser opens as written."""
    if not value or len(value) > MAX_LENGTH or _UNSAFE.search(value):
        return False
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host) and "@" not in parts.netloc
