"""``sdvlog``, the command line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from logger.cli.app import main

__all__ = ["main"]

__getattr__ = lazy_exports(
    __name__,
    {
        "main": "logger.cli.app",
    },
)
