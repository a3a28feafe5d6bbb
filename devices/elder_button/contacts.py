"""Who to call for an elder's button: the elder and the family, from the forms a site file allows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def contact(value: Any) -> dict[str, Any] | None:
    """One contact (an elder, a family member) as the API shows it, from either form the site file allows.

    docs/configuration.md writes `elder: 王秀英` (a name); the sample community writes objects
    (`{name, age, health}`, `{name, relation, phone}`). A name alone becomes `{"name": ...}`; an object is
    kept, with a name, relation or phone written as a YAML number (`phone: 13800000001`) turned into text.
    Anything else (a list, an empty name) is no contact.
    """
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        name = str(value).strip()
        return {"name": name} if name else None
    if not isinstance(value, Mapping):
        return None
    out = {str(k): v for k, v in value.items()}
    for key in ("name", "relation", "phone"):
        if isinstance(out.get(key), int | float) and not isinstance(out.get(key), bool):
            out[key] = str(out[key])
    return out


def family_contacts(value: Any) -> list[dict[str, Any]]:
    """`family` as a list of contacts: a list of names or objects, or a single one."""
    items = value if isinstance(value, list | tuple) else [] if value is None else [value]
    return [c for c in map(contact, items) if c is not None]
