"""Buses: python-can buses by configuration, log replay, SocketCAN read in bulk, the simulated vehicle."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from hw.bus import BusError, open_bus
    from hw.replay import ReplayBus, open_replay
    from hw.simulate import Simulator

__all__ = ["BusError", "ReplayBus", "Simulator", "open_bus", "open_replay"]

__getattr__ = lazy_exports(
    __name__,
    {
        "open_bus": "hw.bus",
        "BusError": "hw.bus",
        "open_replay": "hw.replay",
        "ReplayBus": "hw.replay",
        "Simulator": "hw.simulate",
    },
)
