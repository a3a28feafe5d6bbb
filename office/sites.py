"""What a report needs to know of the sites: whose clock its days and months follow, and what the bulletin is
titled with."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.db.models import Site

DEFAULT_TIMEZONE = "Asia/Shanghai"


def site_timezone(session: Session, site: str | None) -> str:
    """The site's time zone; without a site, the first site's (a street's sites share one), else Shanghai's."""
    stmt = select(Site.timezone).order_by(Site.id).limit(1)
    if site is not None:
        stmt = stmt.where(Site.id == site)
    return session.scalars(stmt).first() or DEFAULT_TIMEZONE


def community_name(session: Session, site: str | None) -> str | None:
    """The name the bulletin is titled with: the site asked for, or the only site there is."""
    stmt = select(Site.name).where(Site.id == site) if site else select(Site.name).order_by(Site.id).limit(2)
    names = list(session.scalars(stmt))
    return names[0] if len(names) == 1 else None
