"""Loading a DBC for the simulator, and the error the simulator raises."""

from __future__ import annotations

import logging
from pathlib import Path

from cantools.database.can import Database

from dbc.load import DbcError, load_database
from logger.core.errors import SdvLoggerError

log = logging.getLogger("hw.simulate")  # the package's logger: records keep the name they had


class SimulationError(SdvLoggerError):
    """The simulator cannot start (no DBC, no messages, no bus) or cannot send at all."""


def load_dbc(path: Path) -> Database:
    """The CAN database at ``path`` (:func:`dbc.load.load_database`: strict, else lenient with a
    warning); a file cantools cannot load is a :class:`SimulationError` naming file and line."""
    try:
        return load_database(path)
    except DbcError as exc:
        raise SimulationError(str(exc)) from exc
