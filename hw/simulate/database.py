"""Loading a DBC for the simulator, and the error the simulator raises."""

from __future__ import annotations

import logging
from pathlib import Path

import cantools
from cantools.database.can import Database
from cantools.database.errors import Error as CantoolsError

from logger.errors import SdvLoggerError

log = logging.getLogger("hw.simulate")  # the package's logger: records keep the name they had


class SimulationError(SdvLoggerError):
    """The simulator cannot start (no DBC, no messages, no bus) or cannot send at all."""


def load_dbc(path: Path) -> Database:
    """A CAN database from ``path``, strictly if cantools can, else leniently (with a warning).

    Real-world DBCs often have overlapping signals, which strict loading refuses; those are
    loaded with ``strict=False``. A file cantools cannot parse at all is a
    :class:`SimulationError` naming the file (cantools' message names the line).
    """
    try:
        db = cantools.database.load_file(path, strict=True)
    except OSError as exc:
        raise SimulationError(f"{path}: cannot read the DBC: {exc.strerror or exc}") from exc
    except (CantoolsError, ValueError) as strict_exc:
        try:
            db = cantools.database.load_file(path, strict=False)
        except (CantoolsError, ValueError) as exc:
            raise SimulationError(f"{path}: cannot load the DBC: {exc}") from exc
        log.warning("%s: loaded with strict=False: %s", path, strict_exc)
    if not isinstance(db, Database):
        raise SimulationError(f"{path}: not a CAN database")
    return db
