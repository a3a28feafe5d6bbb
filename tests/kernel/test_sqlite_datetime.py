"""On SQLite, `UtcDateTime` binds in one step what SQLAlchemy's DATETIME would store (kernel/db/models.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import DateTime

from kernel.db.models import UtcDateTime

_DIALECT = sqlite.dialect()
_OURS = UtcDateTime()._cached_bind_processor(_DIALECT)
_REFERENCE = DateTime(timezone=True).dialect_impl(_DIALECT).bind_processor(_DIALECT)
_ZONES = st.sampled_from([UTC, ZoneInfo("UTC"), ZoneInfo("Asia/Shanghai"), timezone(timedelta(hours=-9, minutes=-30))])


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=_ZONES))
def test_the_text_is_sqlalchemys_own(value: datetime) -> None:
    assert _OURS is not None and _REFERENCE is not None
    assert _OURS(value) == _REFERENCE(value.astimezone(UTC))


def test_naive_and_none() -> None:
    assert _OURS is not None
    assert _OURS(None) is None
    with pytest.raises(ValueError, match="naive"):
        _OURS(datetime(2026, 12, 6, 9, 0))
