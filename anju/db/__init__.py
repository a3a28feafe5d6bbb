"""Relational storage: the registry, events, readings, dead letters and dedup ids."""

from anju.db.engine import make_engine, migrate, session_factory
from anju.db.models import Base

__all__ = ["Base", "make_engine", "migrate", "session_factory"]
