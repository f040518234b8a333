"""The service: every configured part in one process, checked before it starts; the demo."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from logger.service.demo import DemoResult, run_demo
    from logger.service.service import Service

__all__ = ["DemoResult", "Service", "run_demo"]

__getattr__ = lazy_exports(
    __name__,
    {
        "Service": "logger.service.service",
        "run_demo": "logger.service.demo",
        "DemoResult": "logger.service.demo",
    },
)
