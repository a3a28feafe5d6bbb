"""Applying the site file in bulk (`gateway.registry.apply_site_config`) keeps the one-device-at-a-time meaning.

Registered devices are read a chunk per query, new ones inserted a chunk per statement and only changed ones
updated: what the file says wins, health is left alone, and errors name the first device at fault.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.registry import DeviceRegistry, apply_site_config, device_info
from kernel.db.models import Device
from kernel.siteconfig import CommunityConfig


@pytest.fixture
def sessions(sqlite_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    return sqlite_sessions


def community(*sites: tuple[str, list[dict[str, Any]]]) -> CommunityConfig:
    return CommunityConfig.model_validate({"sites": [
        {"id": site, "name": site, "grids": [{"id": f"{site}-g1", "name": "一"}], "devices": devices}
        for site, devices in sites]})


def devices(sessions: sessionmaker[Session]) -> dict[str, Device]:
    with sessions() as session:
        return {d.id: d for d in session.scalars(select(Device))}


FLEET = [{"id": "eb1", "kind": "elder_button", "grid": "s1-g1", "name": "101", "location": {"room": 101}},
         {"id": "gate1", "kind": "access_gate", "zone": "y01"},
         {"id": "fence1", "kind": "fence", "attributes": {"zones": ["N1", "N2"], "segment": "sw-3"}}]


def test_reapplying_updates_what_changed_and_leaves_health_alone(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        assert apply_site_config(session, community(("s1", FLEET))) == 3
    first = devices(sessions)
    assert first["eb1"].location == {"room": 101} and first["fence1"].attributes["segment"] == "sw-3"
    with sessions.begin() as session:
        row = session.get(Device, "eb1")
        assert row is not None
        row.online, row.battery = True, 55.0
    changed = [{**FLEET[0], "name": "102", "location": {"room": 102}}, FLEET[1], {**FLEET[2], "zone": "N"}]
    with sessions.begin() as session:
        assert apply_site_config(session, community(("s1", changed))) == 3
    after = devices(sessions)
    assert (after["eb1"].name, after["eb1"].location, after["eb1"].online, after["eb1"].battery) == (
        "102", {"room": 102}, True, 55.0)
    assert after["fence1"].zone == "N" and after["gate1"].zone == "y01"
    assert all(after[d].registered_at == first[d].registered_at for d in first)


def test_a_device_listed_twice_takes_its_last_entry(sessions: sessionmaker[Session]) -> None:
    twice = [FLEET[1], {**FLEET[1], "zone": "y02"}]
    with sessions.begin() as session:
        apply_site_config(session, community(("s1", twice)))
    assert devices(sessions)["gate1"].zone == "y02"
    back = [{**FLEET[1], "zone": "y03"}, {**FLEET[1], "zone": "y02"}]  # the last entry equals what is stored
    with sessions.begin() as session:
        apply_site_config(session, community(("s1", back)))
    assert devices(sessions)["gate1"].zone == "y02"


@pytest.mark.parametrize("sites,reason", [
    ((("s1", FLEET), ("s2", [FLEET[1]])), "device gate1 is already registered at site 's1'"),
    ((("s1", [*FLEET, {"id": "x1", "kind": "toaster"}, {"id": "x2", "kind": "fence", "grid": "g9"}]),),
     "device x1: unknown kind 'toaster'"),
    ((("s1", [{"id": "x2", "kind": "fence", "grid": "g9"}, {"id": "x1", "kind": "toaster"}]),),
     "device x2: grid 'g9' is not a grid of site 's1'"),
])
def test_errors_name_the_first_device_at_fault(sessions: sessionmaker[Session], sites: tuple[Any, ...],
                                                reason: str) -> None:
    with sessions() as session, pytest.raises(ValueError, match=reason):
        apply_site_config(session, community(*sites))


def test_a_device_registered_at_another_site_is_refused(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        apply_site_config(session, community(("s1", FLEET)))
    with sessions() as session, pytest.raises(ValueError, match="already registered at site 's1'"):
        apply_site_config(session, community(("s2", [FLEET[0] | {"grid": "s2-g1"}])))


def test_the_registry_reads_what_a_whole_device_row_gives(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        apply_site_config(session, community(("s1", FLEET)))
        row = session.get(Device, "eb1")
        assert row is not None
        row.online, row.battery, row.fault = True, 12.0, "E2"
    with sessions() as session:
        loaded = {info.id: info for info in DeviceRegistry().load_all(session)}
        whole = {d.id: device_info(d) for d in session.scalars(select(Device))}
    assert loaded == whole and loaded["fence1"].segment == "sw-3" and loaded["eb1"].fault == "E2"
