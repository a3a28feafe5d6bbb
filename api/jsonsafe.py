"""JSON values at the API's edges: what is stored is always shown, and what is accepted is bounded.

Free-form values (device `attributes` and `location`, a person's `attributes`,
an alert's `evidence` with the device's payload in it) were stored as sent. One
nested 300 levels deep then broke every answer that contained it (pydantic stops
at 255 levels: "Maximum serialization depth exceeded"), for every caller: one
device or integrator could take the alert list away from every patrol. So:

- **Rendering never fails**: `renderable` copies a stored value for an answer,
  replacing whatever JSON cannot carry or a reader cannot take (nesting past
  `MAX_RENDER_DEPTH`, NaN and infinities, unpaired surrogates) by a marker. It
  is the API's last line of defence, whatever the gateway or an older version
  stored.
- **Input is bounded**: `BoundedObject` refuses (422, with the reason) a value
  nested deeper than `MAX_VALUE_DEPTH` or larger than `MAX_VALUE_BYTES` as JSON,
  and NaN or infinities, where an integrator sends free-form objects.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator

MAX_RENDER_DEPTH = 64
"""Containers nested deeper than this in a stored value are shown as `TOO_DEEP` (far above anything accepted)."""
TOO_DEEP = f"<nested deeper than {MAX_RENDER_DEPTH} levels: not shown>"
MAX_VALUE_DEPTH = 8
"""Levels of nesting accepted in `attributes` and `location` (the object itself is level 1)."""
MAX_VALUE_BYTES = 64 * 1024
"""Size of `attributes` or `location` as compact JSON, at most (an elder's contacts and notes take ~1 KiB)."""


def renderable(value: Any, depth: int = 0) -> Any:
    """A copy of a stored JSON value that every serialiser can write: never raises, never recurses past the limit."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else f"<{value}>"
    if not isinstance(value, dict | list | tuple):
        return _text(str(value))
    if depth >= MAX_RENDER_DEPTH:
        return TOO_DEEP
    if isinstance(value, dict):
        return {_text(str(k)): renderable(v, depth + 1) for k, v in value.items()}
    return [renderable(v, depth + 1) for v in value]


def renderable_object(value: Any) -> dict[str, Any]:
    """A stored object (attributes, location) for an answer: `{}` when what is stored is not an object."""
    shown = renderable(value)
    return shown if isinstance(shown, dict) else {}


def _text(value: str) -> str:
    """The string, with unpaired surrogates (which UTF-8 cannot encode) replaced."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def problem(value: Any, max_depth: int = MAX_VALUE_DEPTH, max_bytes: int = MAX_VALUE_BYTES) -> str | None:
    """Why `value` is refused as a free-form object, or None. Walks iteratively, stopping at the first problem."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return "NaN and infinite numbers are not JSON"
        if isinstance(item, dict | list):
            if level > max_depth:
                return f"nested deeper than {max_depth} levels"
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    try:
        encoded = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError) as exc:
        return f"not JSON: {exc}"
    size = len(encoded)
    if b"\\u0000" in encoded:
        return "U+0000 (NUL) in a key or a string: PostgreSQL cannot query JSON holding it"
    if size > max_bytes:
        return f"{size} bytes as JSON; at most {max_bytes} are accepted"
    return None


def _bounded(value: dict[str, Any]) -> dict[str, Any]:
    reason = problem(value)
    if reason is not None:
        raise ValueError(reason)
    return value


BoundedObject = Annotated[dict[str, Any], AfterValidator(_bounded)]
"""A free-form JSON object an integrator sends: at most `MAX_VALUE_DEPTH` levels and `MAX_VALUE_BYTES` bytes."""
