"""The HTTP API and dashboard over the store; ``logger.web.series`` decimates signals for plots."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from logger.web.series import m4

# The function series() stays in its module: a package attribute named like the module clashes.
__all__ = ["m4"]

__getattr__ = lazy_exports(__name__, {"m4": "logger.web.series"})
