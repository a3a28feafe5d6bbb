"""Anju (安居): the smart-community gateway. Shared plumbing: settings, database, CLI."""

__version__ = "0.1.0"
