"""Anju (安居): the smart-community gateway. This package is the application on top: the `anju` command,
`anju serve` and `anju demo`, wiring the parts below (docs/architecture.md#the-map)."""

from kernel import __version__

__all__ = ["__version__"]
