"""A plate one look-alike character from a blacklisted one is a lower-severity "possible match" (docs/vision.md).

Plate readers confuse 0/D, 8/B, 1/I at night or through dirt: a blacklisted car read
with one such slip should not pass unseen, nor raise the same alert as a certain match.
"""

from __future__ import annotations

import pytest

from alerting.engine import RuleEngine
from kernel.timeutil import utcnow
from rules.matchers import FieldMatcher, near_miss
from rules.watchlists import add_entry
from testkit.rules import RuleHarness
from tests.helpers import make_site

LISTED = {"辽E99D01", "京A8B123"}


@pytest.mark.parametrize(("value", "near"), [
    ("辽E99001", True),  # D read as 0
    ("辽E99DI1", False),  # I is no plate character, but 0/I are not look-alikes: two steps from anything listed
    ("辽E99D0I", True),  # 1 read as I
    ("京A88123", True),  # B read as 8
    ("京AB8123", False),  # two characters differ
    ("辽E99D01", False),  # on the list: an exact match, not a possible one
    ("辽E99X01", False),  # X is no look-alike of D
    ("", False),
])
def test_near_miss(value: str, near: bool) -> None:
    assert near_miss(value, LISTED) is near


def test_operator_needs_a_string_and_the_list() -> None:
    matcher = FieldMatcher.model_validate({"near_watchlist": "blacklist"})
    assert matcher.matches("辽E99001", {"blacklist": LISTED})
    assert not matcher.matches("辽E99001", {})
    assert not matcher.matches(None, {"blacklist": LISTED})
    assert not matcher.matches(12345, {"blacklist": LISTED})


def test_possible_match_raises_the_minor_rule_only(sqlite_url: str, site_id: str) -> None:
    engine = RuleEngine.from_files(None)
    with RuleHarness.open(sqlite_url, engine, make_site(site_id)) as rules:
        with rules.sessions.begin() as session:
            add_entry(session, "blacklist", "辽E99D01", utcnow(), added_by="test")
        with rules.sessions() as session:
            engine.refresh(session, rules.now)
        rules.event("cam1", "plate", plate="辽E99001", direction="in")
        alerts = rules.alerts()
        assert "plate-blacklist" not in alerts
        possible = alerts["plate-blacklist-possible"]
        assert possible.severity == "minor"
        rules.event("cam1", "plate", plate="辽E99D01", direction="in")
        alerts = rules.alerts()
        assert alerts["plate-blacklist"].severity == "major"
        assert alerts["plate-blacklist-possible"].count == 1  # the exact read is not also a possible one
