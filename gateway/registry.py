"""The device registry: who is allowed to talk, where it is, and a cache in front of it.

Every message needs its device's site, kind and grid; asking the database for
each would cost more than processing the message, so registered devices are
cached. Unknown ids are remembered briefly too, so a flood from an
unregistered device cannot turn into a flood of queries.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Row, insert, select
from sqlalchemy.orm import Session

from devices import DRIVERS
from gateway.health import OfflineTimeouts
from kernel.db.models import Building, Device, EscalationLevel, Grid, PatrolPoint, PatrolRoute, PatrolTeam, Person, Site
from kernel.deviceinfo import DeviceInfo, normal_aliases
from kernel.siteconfig import CommunityConfig, DeviceConfig, EscalationLevelConfig, PersonConfig, SiteConfig
from kernel.timeutil import utcnow

NEGATIVE_CACHE_SECONDS = 5.0
INSERT_CHUNK = 5000
"""New devices per INSERT statement: bounds the rows held in memory at once."""
DEFAULT_TIMEOUTS = OfflineTimeouts()
DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")
"""A site's time zone when it names none (the sites table's default)."""


def device_info(row: Device | Row[Any], timeouts: OfflineTimeouts | None = None) -> DeviceInfo:
    """A `DeviceInfo` from a `Device` or a row of `INFO_COLUMNS`, with its offline deadline from `timeouts`
    (the settings' per-kind and per-device rules, else the driver's)."""
    return DeviceInfo.from_row(row, (timeouts or DEFAULT_TIMEOUTS).for_device(row.kind, row.attributes))


@dataclass(frozen=True, slots=True)
class SiteContext:
    """What decoding needs of a site: its time zone (for local date-times) and its firmware's type names."""

    timezone: tzinfo
    type_aliases: dict[str, dict[str, str]]
    """kind → {lower-case vendor name → canonical type}."""


SITE_CONTEXT_SECONDS = 30.0
"""How long a site's context is cached: an API change of a site's time zone or aliases applies within this."""


INFO_COLUMNS = (Device.id, Device.site_id, Device.kind, Device.grid_id, Device.zone, Device.name, Device.online,
                Device.last_seen, Device.battery, Device.tamper, Device.fault, Device.attributes)
"""What `DeviceInfo.from_row` reads of a device."""


CONFIG_COLUMNS = (Device.id, Device.site_id, Device.kind, Device.grid_id, Device.zone, Device.name, Device.location,
                  Device.attributes)
"""What a site file sets of a device (and its site, which a file may not change)."""


class DeviceRegistry:
    """Read-through cache of registered devices, safe to use from several threads."""

    def __init__(self, timeouts: OfflineTimeouts | None = None) -> None:
        self.timeouts = timeouts or DEFAULT_TIMEOUTS
        self._devices: dict[str, DeviceInfo] = {}
        self._unknown: dict[str, float] = {}
        self._sites: dict[str, tuple[float, SiteContext]] = {}
        self._lock = threading.Lock()

    def site_context(self, session: Session, site_id: str) -> SiteContext:
        """The site's time zone and type aliases, cached for `SITE_CONTEXT_SECONDS` (UTC+8 for an unknown site)."""
        cached = self._sites.get(site_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < SITE_CONTEXT_SECONDS:
            return cached[1]
        row = session.execute(select(Site.timezone, Site.type_aliases).where(Site.id == site_id)).first()
        zone: tzinfo = DEFAULT_ZONE
        aliases: dict[str, dict[str, str]] = {}
        if row is not None:
            with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
                zone = ZoneInfo(row.timezone or DEFAULT_ZONE.key)
            aliases = {k: a for k, v in (row.type_aliases or {}).items() if (a := normal_aliases(v))}
        context = SiteContext(zone, aliases)
        self._sites[site_id] = (now, context)
        return context

    def load_all(self, session: Session) -> list[DeviceInfo]:
        """Every registered device, cached.

        Only the columns a `DeviceInfo` holds are read, as plain rows: loading whole ORM objects (JSON
        location, readings, identity map) took half of a district's start-up (docs/architecture.md#measured-decisions).
        """
        rows = session.execute(select(*INFO_COLUMNS))
        infos = [device_info(row, self.timeouts) for row in rows]
        with self._lock:
            self._devices = {info.id: info for info in infos}
            self._unknown.clear()
        return infos

    def lookup(self, session: Session, device_id: str) -> DeviceInfo | None:
        info = self._devices.get(device_id)
        if info is not None:
            return info
        if time.monotonic() - self._unknown.get(device_id, -1e9) < NEGATIVE_CACHE_SECONDS:
            return None
        row = session.get(Device, device_id)
        with self._lock:
            if row is None:
                self._unknown[device_id] = time.monotonic()
                return None
            info = device_info(row, self.timeouts)
            self._devices[device_id] = info
            return info

    def cached(self, device_id: str) -> DeviceInfo | None:
        """The cached entry only, without asking the database (safe on any thread)."""
        return self._devices.get(device_id)

    def forget(self, device_id: str) -> None:
        """Drop a cached entry after the device was changed elsewhere (API, import)."""
        with self._lock:
            self._devices.pop(device_id, None)
            self._unknown.pop(device_id, None)

    def clear(self) -> None:
        with self._lock:
            self._devices.clear()
            self._unknown.clear()
            self._sites.clear()


def register_device(session: Session, site: str, config: DeviceConfig) -> Device:
    """Insert or update one device from its configuration; health fields are left alone."""
    _check_kind(config)
    row = session.get(Device, config.id)
    if row is None:
        row = Device(id=config.id, registered_at=utcnow(), tamper=False)
        session.add(row)
    elif row.site_id != site:
        raise ValueError(f"device {config.id} is already registered at site {row.site_id!r}")
    row.site_id = site
    row.kind = config.kind
    row.grid_id = config.grid
    row.zone = config.zone
    row.name = config.name
    row.location = dict(config.location)
    row.attributes = dict(config.attributes)
    return row


def _check_kind(config: DeviceConfig) -> None:
    if config.kind not in DRIVERS:
        raise ValueError(f"device {config.id}: unknown kind {config.kind!r} (known: {sorted(DRIVERS)})")
    if "type_aliases" in config.attributes:
        _check_aliases(config.kind, config.attributes["type_aliases"], f"device {config.id}: attributes.type_aliases")


def check_site_aliases(site: SiteConfig) -> None:
    """A site's `type_aliases` against the drivers: known kinds, known target types, no canonical type re-mapped
    (`press: cancel` would silence every SOS: the safety floor). Raises ValueError with the reason."""
    for kind, mapping in site.type_aliases.items():
        _check_aliases(kind, mapping, f"site {site.id}: type_aliases.{kind}")


def _check_aliases(kind: str, mapping: Any, where: str) -> None:
    """`DeviceDriver.check_aliases`, its reason prefixed with where in the site file the aliases stand."""
    driver = DRIVERS.get(kind)
    if driver is None:
        raise ValueError(f"{where}: unknown kind {kind!r} (known: {sorted(DRIVERS)})")
    try:
        driver.check_aliases(mapping)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def apply_site_config(session: Session, community: CommunityConfig) -> int:
    """Load a site configuration file into the database (idempotent); returns the devices applied.

    What the file names is set as the file says (the file wins at every start);
    what was added through the API and is not in the file is left alone.
    """
    count = 0
    # Every registered device's site: a file may not move a device from one site to another.
    site_of: dict[str, str] = {d: s for d, s in session.execute(select(Device.id, Device.site_id))}
    for site in community.sites:
        check_site_aliases(site)
        site_row = session.get(Site, site.id) or Site(id=site.id)
        site_row.name, site_row.timezone, site_row.address = site.name, site.timezone, site.address
        site_row.type_aliases = site.type_aliases or None
        site_row.notifications = site.notifications.model_dump(by_alias=True)
        if "targets" in site.model_fields_set:  # else the targets an admin set in the console stay
            site_row.targets = site.targets.model_dump()
        session.add(site_row)
        session.flush()
        _apply_teams_and_chain(session, site)
        grid_ids = {grid.id for grid in site.grids}
        units = _apply_buildings(session, site, grid_ids)
        for device in site.devices:
            check_serves(device.id, device.attributes, units, site.id)
        _apply_devices(session, site.id, grid_ids, site.devices, site_of)
        count += len(site.devices)
        session.flush()
        for person in site.persons:
            _check_person_links(session, site.id, grid_ids, person)
            _check_home(person, units, site.id)
            apply_person(session, site.id, person)
        _apply_patrol(session, site)
    return count


def _apply_devices(session: Session, site: str, grid_ids: set[str], devices: list[DeviceConfig],
                   site_of: dict[str, str]) -> None:
    """`register_device` for each of a site's devices, in bulk: the site's registered devices are read in one
    query, the new ones inserted a chunk per statement, and only those whose configuration changed are updated.

    One `session.get` per device cost a query each, and each query first flushed the device added before it;
    re-applying an unchanged file still loaded and compared every device as an ORM object: a district's file
    took ten times longer to apply (docs/architecture.md#measured-decisions).
    The site's devices are read by `site_id`, not by lists of ids: PostgreSQL, whose statistics do not know yet
    about the rows just inserted, scanned the table for each `id IN (...)` with 500 parameters (15 s for 20k
    devices). Errors are raised for the first device at fault, in file order, as before; a device listed twice
    takes its last entry. `site_of` (device → site) is kept up to date with the devices inserted here.
    """
    current = {row.id: row for row in session.execute(select(*CONFIG_COLUMNS).where(Device.site_id == site))}
    new: dict[str, DeviceConfig] = {}
    updated: set[str] = set()
    for device in devices:
        if device.grid is not None and device.grid not in grid_ids:
            raise ValueError(f"device {device.id}: grid {device.grid!r} is not a grid of site {site!r}")
        _check_kind(device)
        elsewhere = site_of.get(device.id, site)
        if elsewhere != site:
            raise ValueError(f"device {device.id} is already registered at site {elsewhere!r}")
        row = current.get(device.id)
        if row is None:
            new[device.id] = device
        elif device.id in updated or _changed(row, device):
            register_device(session, site, device)
            updated.add(device.id)
    now = utcnow()
    rows = [{"id": d.id, "site_id": site, "kind": d.kind, "grid_id": d.grid, "zone": d.zone, "name": d.name,
             "location": dict(d.location), "attributes": dict(d.attributes), "registered_at": now, "tamper": False}
            for d in new.values()]
    for start in range(0, len(rows), INSERT_CHUNK):
        session.execute(insert(Device), rows[start:start + INSERT_CHUNK])
    site_of.update(dict.fromkeys(new, site))


def _changed(row: Row[Any], config: DeviceConfig) -> bool:
    return (row.kind != config.kind or row.grid_id != config.grid or row.zone != config.zone
            or row.name != config.name or row.location != config.location or row.attributes != config.attributes)


def _apply_buildings(session: Session, site: SiteConfig, grid_ids: set[str]) -> dict[str, set[str]]:
    """The site's buildings as the file lists them (the file is their only source: a building left out of it is
    removed); returns each building's unit names, for the checks of devices and persons (docs/buildings.md)."""
    units: dict[str, set[str]] = {}
    for building in site.buildings:
        if building.id in units:
            raise ValueError(f"site {site.id}: building {building.id!r} is listed twice")
        if building.grid is not None and building.grid not in grid_ids:
            raise ValueError(f"building {building.id}: grid {building.grid!r} is not a grid of site {site.id!r}")
        units[building.id] = {unit.name for unit in building.units}
    stored = {row.id: row for row in session.scalars(select(Building).where(Building.id.in_(list(units))))} \
        if units else {}
    for building in site.buildings:
        row = stored.get(building.id)
        if row is not None and row.site_id != site.id:
            raise ValueError(f"building {building.id} belongs to site {row.site_id!r}")
        row = row or Building(id=building.id)
        values = (site.id, building.name, building.courtyard, building.grid,
                  [u.model_dump() for u in building.units], building.households)
        if (row.site_id, row.name, row.courtyard, row.grid_id, row.units, row.households) != values:
            row.site_id, row.name, row.courtyard, row.grid_id, row.units, row.households = values
            session.add(row)
    for stale in session.scalars(select(Building).where(Building.site_id == site.id)):
        if stale.id not in units:
            session.delete(stale)
    session.flush()
    return units


def check_serves(device_id: str, attributes: dict[str, Any], units: dict[str, set[str]], site: str) -> None:
    """An equipment device's `attributes.serves` names buildings of its site: a mistyped one would silently leave
    its households out of every outage alert."""
    serves = attributes.get("serves")
    if serves is None:
        return
    if not isinstance(serves, list) or not all(isinstance(b, str) for b in serves):
        raise ValueError(f"device {device_id}: attributes.serves must be a list of building ids")
    for building in serves:
        if building not in units:
            raise ValueError(f"device {device_id}: attributes.serves names {building!r}, not a building of site "
                             f"{site!r}")


def _check_home(person: PersonConfig, units: dict[str, set[str]], site: str) -> None:
    """A person's building is one of the site's, and their unit one of its units."""
    if person.building is None:
        if person.unit is not None:
            raise ValueError(f"person {person.id}: unit {person.unit!r} without a building")
        return
    if person.building not in units:
        raise ValueError(f"person {person.id}: building {person.building!r} is not a building of site {site!r}")
    if person.unit is not None and units[person.building] and person.unit not in units[person.building]:
        raise ValueError(f"person {person.id}: unit {person.unit!r} is not a unit of building {person.building!r}")


def _check_person_links(session: Session, site: str, grid_ids: set[str], person: PersonConfig) -> None:
    """A person's grid and buttons must exist: a mistyped button would silently never show the elder.

    Which kinds a person can hold is the driver's to say (`personal_device`: the elder button)."""
    if person.grid is not None and person.grid not in grid_ids:
        raise ValueError(f"person {person.id}: grid {person.grid!r} is not a grid of site {site!r}")
    for device_id in person.devices:
        row = session.get(Device, device_id)
        driver = DRIVERS.get(row.kind) if row is not None else None
        if row is None or row.site_id != site or driver is None or not driver.personal_device:
            raise ValueError(f"person {person.id}: {device_id!r} is not an elder button of site {site!r}")


def _apply_teams_and_chain(session: Session, site: SiteConfig) -> None:
    teams = {team.id: team for team in site.teams}
    for team in site.teams:
        row = session.get(PatrolTeam, team.id) or PatrolTeam(id=team.id)
        row.site_id, row.name = site.id, team.name
        row.members = [m.model_dump(exclude_none=True) for m in team.members]
        row.roster = [s.model_dump(by_alias=True, exclude_none=True) for s in team.roster]
        session.add(row)
    for grid in site.grids:
        if grid.team is not None and grid.team not in teams:
            raise ValueError(f"grid {grid.id}: team {grid.team!r} is not a team of site {site.id!r}")
        if grid.team is None:  # the grid's own team, from `patrol_team` and `roster`
            row = session.get(PatrolTeam, grid.team_id) or PatrolTeam(id=grid.team_id)
            row.site_id, row.name = site.id, grid.patrol_team or grid.name
            row.members = row.members or []
            row.roster = [s.model_dump(by_alias=True, exclude_none=True) for s in grid.roster]
            session.add(row)
        session.flush()
        grid_row = session.get(Grid, grid.id) or Grid(id=grid.id)
        grid_row.site_id, grid_row.name, grid_row.patrol_team = site.id, grid.name, grid.patrol_team
        grid_row.team_id, grid_row.wait = grid.team_id, grid.wait
        session.add(grid_row)
    for chain, levels in (("patrol", site.escalation), ("maintenance", site.maintenance)):
        if levels:
            _apply_chain(session, site.id, chain, levels)
    session.flush()


def _apply_chain(session: Session, site: str, chain: str, levels: list[EscalationLevelConfig]) -> None:
    existing = {lv.position: lv for lv in session.scalars(select(EscalationLevel).where(
        EscalationLevel.site_id == site, EscalationLevel.chain == chain))}
    for position, level in enumerate(levels, start=1):
        row = existing.pop(position, None) or EscalationLevel(site_id=site, chain=chain, position=position)
        row.name, row.wait, row.notify = level.name, level.wait, list(level.notify)
        row.roster = [s.model_dump(by_alias=True, exclude_none=True) for s in level.roster]
        session.add(row)
    for stale in existing.values():
        session.delete(stale)


def apply_person(session: Session, site: str, config: PersonConfig) -> Person:
    """Insert or update one person (site file or API)."""
    row = session.get(Person, config.id) or Person(id=config.id)
    row.site_id, row.grid_id, row.name, row.role = site, config.grid, config.name, config.role
    row.welfare_check = config.welfare_check
    row.devices, row.credentials, row.plates = list(config.devices), list(config.credentials), list(config.plates)
    row.attributes = dict(config.attributes)
    row.building_id, row.unit = config.building, config.unit
    row.updated_at = utcnow()
    session.add(row)
    return row


def new_point_code() -> str:
    """The secret of a patrol point's QR code: 96 random bits, short enough for a small, easily scanned code."""
    return secrets.token_urlsafe(12)


def _apply_patrol(session: Session, site: SiteConfig) -> None:
    """The site's patrol points and routes (docs/patrol.md). A point's code is made once and kept: the file never
    holds it, and printed codes stay valid at every start."""
    now = utcnow()
    for point in site.patrol_points:
        row = session.get(PatrolPoint, point.id)
        if row is None:
            row = PatrolPoint(id=point.id, code=new_point_code())
        elif row.site_id != site.id:
            raise ValueError(f"patrol point {point.id} belongs to site {row.site_id!r}")
        changed = (row.site_id, row.grid_id, row.name, row.location, row.nfc_tag) != (
            site.id, point.grid, point.name, point.location, point.nfc_tag)
        if changed:
            row.site_id, row.grid_id, row.name = site.id, point.grid, point.name
            row.location, row.nfc_tag, row.updated_at = dict(point.location), point.nfc_tag, now
            session.add(row)
    session.flush()
    for route in site.patrol_routes:
        stored = session.get(PatrolRoute, route.id)
        if stored is not None and stored.site_id != site.id:
            raise ValueError(f"patrol route {route.id} belongs to site {stored.site_id!r}")
        target = stored or PatrolRoute(id=route.id)
        values = (site.id, route.team, route.name, [p.model_dump() for p in route.points],
                  route.schedule.model_dump(), route.duration, route.enabled)
        if stored is None or (target.site_id, target.team_id, target.name, target.points, target.schedule,
                              target.duration, target.enabled) != values:
            (target.site_id, target.team_id, target.name, target.points, target.schedule, target.duration,
             target.enabled) = values
            target.updated_at = now
            session.add(target)
    session.flush()
