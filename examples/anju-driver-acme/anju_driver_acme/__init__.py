"""Anju driver for the ACME VC-200 licence-plate camera (the worked example of docs/integrators.md)."""

from anju_driver_acme.driver import AcmeVC200

__all__ = ["AcmeVC200"]
