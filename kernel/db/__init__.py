"""Relational storage: the registry, events, readings, dead letters and dedup ids."""

from kernel.db.engine import make_engine, migrate, session_factory
from kernel.db.models import Base

__all__ = ["Base", "make_engine", "migrate", "session_factory"]
