"""The exception tree of sdv-logger.

Every error the project raises derives from :class:`SdvLoggerError`; each phase has its own
subclass, and a lower-level cause is always chained (``raise ... from exc``). The classes of this
module, and where the others live::

    SdvLoggerError
    ├── ConfigError            a configuration value is missing or wrong (names the key and file)
    ├── BrokerError            the MQTT broker cannot be reached, refused us, or the embedded one failed
    ├── PluginError            a stream plugin is unknown, clashes, or failed to load
    │   └── PayloadError       one message could not be decoded (it goes to quarantine)
    ├── StoreError             the Parquet store
    │   ├── StoreWriteError    a batch could not be made durable (disk full, I/O error)
    │   ├── StoreReadError     a stored file cannot be read (truncated, foreign, corrupt)
    │   └── EncryptionError    a key is missing or wrong, or the file cannot be decrypted
    ├── QueryError             a query cannot be answered; carries the protocol codes
    │   ├── CommandError       the command text is malformed (code 5) or its range is bad (code 4)
    │   └── SqlError           logger.web.sql_views: SQL cannot be answered (bad SQL, a file unread)
    │       ├── SqlRefusedError    logger.web.sql: it writes, reads files, changes settings, ...
    │       ├── SqlTimeoutError    logger.web.sql: it ran past its time limit and was interrupted
    │       └── SqlMemoryError     logger.web.sql: it needs more than its memory limit
    ├── ServiceError           the service could not start or stop cleanly
    ├── LakeError              the fleet lake: a catalog, bucket, engine or file cannot be used
    ├── UploadError            logger.upload.client: an upload attempt failed (its kind: auth, ...)
    ├── RollupError            logger.rollup.state: a span of data is before the rolled-up horizon
    ├── WireError              canp.wire: a CANP payload breaks the format (also a ValueError)
    ├── WireError              spi.wire: an SPI payload or record breaks the format (also a ValueError)
    ├── WireError              logger.query.pair0: a peer broke the SP wire protocol
    │   └── MessageTooLong     a message longer than the receiver takes (skipped)
    ├── DbcError               dbc.load: a CAN database cannot be loaded or used
    ├── LogFormatError         canp.io.formats: a log file cannot be read (wholly or from some point)
    ├── ExportError            canp.io.exporter: frames cannot be exported
    ├── BusError               hw.bus: a CAN bus cannot be opened or read
    ├── SimulationError        hw.simulate.database: the simulated vehicle cannot start or send
    ├── CanInterfaceError      hw.testbed.vcan: a virtual CAN interface cannot be made or changed
    ├── CanUtilsError          hw.testbed.canutils: a can-utils program is missing or failed
    └── VmError                hw.testbed.vm_host: a command cannot be run in a VM
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class SdvLoggerError(Exception):
    """Root of every error raised by sdv-logger."""


class ConfigError(SdvLoggerError):
    """A configuration value is missing or wrong."""

    def __init__(self, key: str, problem: str, file: Path | str | None = None) -> None:
        where = f"{file}: " if file is not None else ""
        super().__init__(f"{where}{key}: {problem}")
        self.key = key
        self.problem = problem
        self.file = file


class LakeError(SdvLoggerError):
    """The fleet lake (``logger.lake``): its catalog, bucket, engine or a file cannot be used."""


class BrokerError(SdvLoggerError):
    """The MQTT broker cannot be reached or refused the connection."""


class PluginError(SdvLoggerError):
    """A stream plugin is unknown, clashes with another, or failed to load."""


class PayloadError(PluginError):
    """One message could not be decoded by its plugin; it belongs in quarantine."""


class StoreError(SdvLoggerError):
    """The Parquet store failed."""


class StoreWriteError(StoreError):
    """A batch could not be made durable; nothing of it counts as stored."""

    def __init__(self, message: str, *, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


class StoreReadError(StoreError):
    """A stored file cannot be read: truncated, foreign or corrupt."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class EncryptionError(StoreError):
    """An encryption key is missing or wrong, or a file cannot be decrypted."""


class Code(IntEnum):
    """Result codes of the query protocol (one for disk, one for memory, in the end frame)."""

    OK = 0
    NONE = 1
    TOO_FREQUENT = 2
    NOT_READY = 3
    BAD_KEY_RANGE = 4
    BAD_COMMAND = 5
    MEMORY_DECODE = 6
    FILE_DECODE = 7
    FILE_DATA_DECODE = 8
    FILE_SEARCH = 9


class QueryError(SdvLoggerError):
    """A query cannot be answered; ``disk`` and ``memory`` are the end-frame codes."""

    def __init__(self, message: str, disk: Code, memory: Code | None = None) -> None:
        super().__init__(message)
        self.disk = disk
        self.memory = disk if memory is None else memory


class CommandError(QueryError):
    """The command text is malformed (BAD_COMMAND) or names a bad range (BAD_KEY_RANGE)."""

    def __init__(self, message: str, code: Code = Code.BAD_COMMAND) -> None:
        super().__init__(message, code, code)


class ServiceError(SdvLoggerError):
    """The service could not start or stop cleanly."""
