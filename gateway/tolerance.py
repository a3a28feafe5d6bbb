"""Liberal in what the gateway accepts, strict in what it reports (SPEC §2).

Field firmware is not exact: epoch seconds instead of milliseconds, a numeric
`msg_id`, `"PRESS"`, a fence zone sent as the number 3, a battery as `"80"`.
Dropping such a message would turn an elder's SOS into a dead letter nobody
reads, so a deviation whose meaning is unmistakable is repaired here and kept
as a `Deviation` on the message: it is stored on the event, counted per device
and reason, and shown to the integrator, who still has a firmware bug to chase.
What is *not* unmistakable (an unknown type, a cause nobody defined) is still
refused; for the safety kinds that refusal also raises an alert
(`kernel.observations.UNRECOGNISED_ALARM`).

Pure functions, no I/O: they run inside `gateway.decode`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from pydantic import BaseModel, ValidationError

from kernel.observations import PICTURE_FIELDS

MAX_DEPTH = 16
"""Containers nested deeper than this are refused: nothing a device means needs more, and a reader that
renders the stored value recursively (the API, the console) must never meet a 300-deep array."""
MAX_FIELD_CHARS = 16 * 1024
"""A string longer than this is refused, except in the fields that carry a picture
(`kernel.observations.PICTURE_FIELDS`), bounded by the payload limit only."""

_EARLIEST = datetime(2001, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_EARLIEST_MS, _LATEST_MS = _EARLIEST.timestamp() * 1000, _LATEST.timestamp() * 1000
_UNITS = ((1.0, None), (1e3, "ts_seconds"), (1e-3, "ts_microseconds"), (1e-6, "ts_nanoseconds"))
"""Multipliers from a numeric `ts` to milliseconds, tried in turn: the canonical unit first."""
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True, slots=True)
class Deviation:
    """One repaired departure from the contract: which field, what was wrong, what the device sent."""

    field: str
    reason: str
    """Stable class, counted per device: ts_seconds, ts_local_time, msg_id_number, type_case, type_alias, ..."""
    sent: str
    """The value as sent (its repr, shortened), so the integrator can find it in the firmware."""

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason, "sent": self.sent}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- event time ---------------------------------------------------------------------------------------


def read_event_time(ts: Any, arrival: datetime, zone: tzinfo = UTC) -> tuple[datetime, Deviation | None]:
    """The event time a `ts` means, and the deviation if it was not canonical. Never raises.

    Canonical: epoch milliseconds or RFC 3339 with an offset. Tolerated: epoch seconds, microseconds or
    nanoseconds (told apart by magnitude: only one unit lands between 2001 and 2100), numbers sent as
    strings, and local date-times without an offset (read in the site's time zone, `zone`). Anything else
    is unusable and the arrival time stands in, with the reason kept.
    """
    if ts is None:
        return arrival, None
    if isinstance(ts, bool) or not isinstance(ts, int | float | str):
        return arrival, Deviation("ts", "ts_unusable", _shown(ts))
    if isinstance(ts, str):
        text = ts.strip()
        if _NUMBER.fullmatch(text):
            at, _ = _from_number(float(text))
            return (arrival, Deviation("ts", "ts_unusable", _shown(ts))) if at is None else \
                (at, Deviation("ts", "ts_numeric_string", _shown(ts)))
        return _from_text(text, ts, arrival, zone)
    at, reason = _from_number(ts)
    if at is None:
        return arrival, Deviation("ts", "ts_unusable", _shown(ts))
    return at, None if reason is None else Deviation("ts", reason, _shown(ts))


def _from_number(value: float) -> tuple[datetime | None, str | None]:
    if not math.isfinite(value):
        return None, None
    for to_ms, reason in _UNITS:
        ms = value * to_ms
        if _EARLIEST_MS <= ms < _LATEST_MS:
            return datetime.fromtimestamp(ms / 1000.0, UTC), reason
    return None, None


def _from_text(text: str, sent: str, arrival: datetime, zone: tzinfo) -> tuple[datetime, Deviation | None]:
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    if len(iso) >= 10 and iso[4] == "/" and iso[7] == "/":  # 2026/12/06 08:00:00, common in Chinese firmware
        iso = iso[:4] + "-" + iso[5:7] + "-" + iso[8:]
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        return arrival, Deviation("ts", "ts_unusable", _shown(sent))
    reason = None
    if parsed.tzinfo is None:
        parsed, reason = parsed.replace(tzinfo=zone), "ts_local_time"
    if not _EARLIEST <= parsed < _LATEST:
        return arrival, Deviation("ts", "ts_unusable", _shown(sent))
    return parsed.astimezone(UTC), None if reason is None else Deviation("ts", reason, _shown(sent))


# -- common fields --------------------------------------------------------------------------------------


def repair_msg_id(data: dict[str, Any]) -> Deviation | None:
    """A numeric `msg_id` becomes its decimal text; one that cannot be an id (an object, empty, over 128
    characters) is dropped, so the message is processed without duplicate detection rather than refused."""
    if "msg_id" not in data:
        return None
    value = data["msg_id"]
    if value is None or (isinstance(value, str) and 1 <= len(value) <= 128):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        data["msg_id"] = str(value)
        return Deviation("msg_id", "msg_id_number", _shown(value))
    if isinstance(value, float) and value.is_integer():
        data["msg_id"] = str(int(value))
        return Deviation("msg_id", "msg_id_number", _shown(value))
    del data["msg_id"]
    return Deviation("msg_id", "msg_id_unusable", _shown(value))


def resolve_type(sent: Any, known: Mapping[str, Any],
                 aliases: Mapping[str, str]) -> tuple[str | None, Deviation | None]:
    """The canonical type `sent` names: exact, then an alias (the device's, the site's, the driver's: all
    already merged in `aliases`, keys lower-case), then the same name in another case. None: not understood."""
    if not isinstance(sent, str):
        return None, None
    if sent in known:
        return sent, None
    folded = sent.strip().lower()
    target = aliases.get(folded)
    if target is not None and target in known:
        return target, Deviation("type", "type_alias", _shown(sent))
    for name in known:
        if name.lower() == folded:
            return name, Deviation("type", "type_case", _shown(sent))
    return None, None


# -- size and depth -------------------------------------------------------------------------------------


def oversized_fields(data: Mapping[str, Any]) -> dict[str, str]:
    """Top-level fields nested deeper than `MAX_DEPTH` or holding a string over `MAX_FIELD_CHARS`, with why.

    Walks iteratively (a hostile payload must not reach Python's recursion limit here either).
    """
    found: dict[str, str] = {}
    for name, value in data.items():
        if isinstance(value, str):
            if len(value) > MAX_FIELD_CHARS and name not in PICTURE_FIELDS:
                found[name] = f"a string of {len(value)} characters (limit {MAX_FIELD_CHARS})"
            continue
        if not isinstance(value, dict | list):
            continue
        stack: list[tuple[Any, int]] = [(value, 1)]
        while stack:
            item, depth = stack.pop()
            if depth > MAX_DEPTH:
                found[name] = f"nested deeper than {MAX_DEPTH} levels"
                break
            children = item.values() if isinstance(item, dict) else item
            for child in children:
                if isinstance(child, dict | list):
                    stack.append((child, depth + 1))
                elif isinstance(child, str) and len(child) > MAX_FIELD_CHARS:
                    found[name] = f"holds a string of {len(child)} characters (limit {MAX_FIELD_CHARS})"
                    stack.clear()
                    break
    return found


def may_be_deep(payload: bytes) -> bool:
    """A cheap bound: a payload with fewer brackets than `MAX_DEPTH` cannot nest deeper (no walk needed)."""
    return payload.count(b"[") + payload.count(b"{") > MAX_DEPTH


# -- characters a database cannot store ------------------------------------------------------------------


def may_hold_nul(payload: bytes) -> bool:
    """A cheap bound: JSON can carry U+0000 only escaped (a raw control character is not valid JSON)."""
    return b"\\u0000" in payload


def replace_nul(data: dict[str, Any]) -> list[Deviation]:
    """Replace U+0000 in keys and strings by U+FFFD, in place. PostgreSQL's JSON cannot hold it: one such key
    made every query reading that row's fields fail. Called only on payloads already bounded in depth."""
    found: list[str] = []

    def clean(value: Any, path: str) -> Any:
        if isinstance(value, str):
            if "\x00" in value:
                found.append(path)
                return value.replace("\x00", "\ufffd")
            return value
        if isinstance(value, list):
            return [clean(item, path) for item in value]
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                name = key
                if "\x00" in key:
                    found.append(f"{path}.{key}" if path else key)
                    name = key.replace("\x00", "\ufffd")
                out[name] = clean(item, f"{path}.{name}" if path else name)
            return out
        return value

    cleaned = clean(data, "")
    data.clear()
    data.update(cleaned)
    return [Deviation(path.replace("\x00", "\ufffd")[:200] or "(payload)", "nul_character", "U+0000")
            for path in dict.fromkeys(found)]


# -- schema validation with repairs ----------------------------------------------------------------------


def validate(schema: type[BaseModel], data: dict[str, Any], drop_optional: bool) -> tuple[BaseModel, list[Deviation]]:
    """Validate `data` (repaired in place) against the strict `schema`, repairing unmistakable deviations.

    Repaired: a number where text is expected (a zone sent as 3), text holding a number where a number is
    expected (a battery sent as "80"), "true"/"false" where a boolean is expected, and a fixed value in
    another case ("INTRUSION"). With `drop_optional` (an event of a safety kind) an optional field that
    is still invalid is removed, so an alarm is never refused for the format of a secondary field.
    Raises the last `ValidationError` when what remains cannot be repaired.
    """
    deviations: list[Deviation] = []
    for _ in range(4):
        try:
            return schema.model_validate(data), deviations
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            repaired = [d for d in (_repair(data, e) for e in errors) if d is not None]
            if not repaired and drop_optional:
                repaired = _drop_optional(schema, data, errors)
            if not repaired:
                raise
            deviations.extend(repaired)
    return schema.model_validate(data), deviations


def _locate(data: dict[str, Any], loc: tuple[Any, ...]) -> tuple[Any, Any, str] | None:
    """The container, key and dotted name of the value an error is about: the longest prefix of `loc`
    that exists in the data (pydantic adds union members such as `int` or `float` to the location)."""
    container: Any = None
    key: Any = None
    current: Any = data
    path: list[str] = []
    for part in loc:
        inside = part in current if isinstance(current, dict) else \
            isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if not inside:
            break
        container, key, current = current, part, current[part]
        path.append(str(part))
    return None if container is None else (container, key, ".".join(path))


def _repair(data: dict[str, Any], error: Mapping[str, Any]) -> Deviation | None:
    where = _locate(data, tuple(error["loc"]))
    if where is None:
        return None
    container, key, name = where
    value = container[key]
    kind = error["type"]
    fixed: Any = _NOT_FIXED
    reason = ""
    if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
        fixed, reason = (str(int(value)) if float(value).is_integer() else repr(value)), "number_as_text"
    elif kind in ("int_type", "float_type") and isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        number = float(value)
        fixed = int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
        reason = "text_as_number"
    elif kind == "bool_type" and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        fixed, reason = value.strip().lower() == "true", "text_as_bool"
    elif kind == "literal_error" and isinstance(value, str):
        expected = _QUOTED.findall(str((error.get("ctx") or {}).get("expected", "")))
        folded = value.strip().lower()
        fixed = next((choice for choice in expected if choice.lower() == folded), _NOT_FIXED)
        reason = "value_case"
    if fixed is _NOT_FIXED or (fixed == value and type(fixed) is type(value)):
        return None
    container[key] = fixed
    return Deviation(name, reason, _shown(value))


def _drop_optional(schema: type[BaseModel], data: dict[str, Any], errors: list[Any]) -> list[Deviation]:
    """Remove the optional top-level fields that are still invalid; [] if a required one is among them."""
    names = {str(e["loc"][0]) for e in errors if e["loc"]}
    fields = schema.model_fields
    if not names or any(n not in fields or fields[n].is_required() or n == "type" for n in names):
        return []
    return [Deviation(n, "invalid_field_dropped", _shown(data.pop(n))) for n in sorted(names) if n in data]


_NOT_FIXED = object()
