"""Response and request models shared by several routers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    """Every error answer: a human-readable `detail` (a string, or a structure such as rule-file errors)."""

    detail: Any
