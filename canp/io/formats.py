"""The CAN log formats, one table keyed by extension: reader, writer, and what each cannot carry.

Every part that reads or writes a log file goes through :data:`FORMATS` (like python-can's
``MESSAGE_READERS`` / ``MESSAGE_WRITERS``): import (:mod:`canp.io.read`), export
(:mod:`canp.io.exporter`) and replay (:mod:`hw.replay`). This module knows python-can's readers and
writers and nothing of the ``frames`` table; turning frames into messages and back is theirs.

What each format cannot carry (python-can 4.6, writer and reader; :class:`Limits`):

===========  ========================================================================
BLF, MF4     nothing lost: extended, remote, error (with id and data), FD, BRS, ESI
ASC          error frames keep only their time and channel
candump      error frames keep only their time
CSV, SQLite  no FD / BRS / ESI, no channel (buses merge)
TRC          data frames only: python-can's writer skips remote, error and FD frames
===========  ========================================================================

No format keeps the direction, nor the DLC of a remote frame. Channels: candump names the bus
(the interface name); CSV and SQLite have none; the others number it, and python-can's numbers
differ from the file's by :attr:`LogFormat.channel_base` (reading) and :attr:`LogFormat.writer_base`
(writing). SQLite (``.db``) is offered for replay only, as python-can's ``LogReader`` does.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from logger.core.errors import SdvLoggerError

if TYPE_CHECKING:
    from can.io.generic import MessageReader, MessageWriter

Use = Literal["import", "export", "replay"]
Flag = Literal["fd", "brs", "esi"]
Kind = Literal["remote", "error", "fd"]
#: Suffix of a gzip-compressed log (``drive.asc.gz``): replay reads it.
GZIP_SUFFIX = ".gz"


class LogFormatError(SdvLoggerError):
    """A log file that cannot be read (wholly or from some point on), or whose format is unknown.

    ``line`` is the 1-based line where reading failed (text formats), ``frames`` how many frames
    before the failure were imported (stored) anyway.
    """

    def __init__(self, path: Path, problem: str, *, line: int | None = None) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem
        self.line = line
        self.frames = 0

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        kept = (
            f" ({self.frames:,} frame(s) before it were imported)"
            if self.frames
            else " (nothing imported)"
        )
        return f"{where}: {self.problem}{kept}"


@dataclass(frozen=True)
class Limits:
    """What a format cannot carry through python-can's writer and reader."""

    #: Frame flags the file has no room for.
    lost_flags: frozenset[Flag] = frozenset()
    #: Frames python-can's writer leaves out.
    left_out: frozenset[Kind] = frozenset()
    #: No channel at all: every bus becomes one.
    no_channel: bool = False
    #: Error frames keep only their time (ASC: and channel), not their id and data.
    error_time_only: bool = False


@dataclass(frozen=True)
class LogFormat:
    """One log format: python-can's reader and writer for it, and what it cannot carry.

    ``reader`` and ``writer`` name python-can's classes; python-can is imported when one is
    opened, so the table costs nothing to consult (the CLI's help lists its extensions).
    """

    suffix: str
    name: str
    title: str
    reader: str
    writer: str
    #: python-can's channel number + ``channel_base`` = the log's own channel number (reading).
    channel_base: int
    #: File channel = python-can channel + ``writer_base``; None: the file has no channel numbers.
    writer_base: int | None
    limits: Limits = Limits()
    #: Streams of it are binary (else text).
    binary: bool = False
    #: python-can's reader gets the file name, not a stream (asammdf opens the file itself).
    by_name: bool = False
    #: Times in the file are offsets from a date in its header: python-can's reader gives the
    #: offsets, or with ``absolute_times`` adds the date (and fails when it cannot parse it).
    dated: bool = False
    #: A package python-can needs for this format, beyond its own.
    needs: str = ""
    uses: frozenset[Use] = frozenset({"import", "export", "replay"})

    def missing_package(self) -> str:
        """The package this format needs that is not installed ("" when nothing is missing)."""
        if self.needs and importlib.util.find_spec(self.needs) is None:
            return self.needs
        return ""

    def open_reader(self, source: Any, *, absolute_times: bool = False) -> MessageReader:
        """python-can's reader on ``source``: a file name, or a stream as :attr:`binary` says.

        ``absolute_times``: a :attr:`dated` format gives Unix times instead of offsets.
        """
        reader = _python_can(self.reader)
        opened: MessageReader = (
            reader(source, relative_timestamp=not absolute_times) if self.dated else reader(source)
        )
        return opened

    def open_writer(self, path: Path) -> MessageWriter:
        """python-can's writer on a new file ``path``."""
        writer: MessageWriter = _python_can(self.writer)(path)
        return writer


def _python_can(name: str) -> Any:
    import can  # noqa: PLC0415 - loaded only when a log is opened (about 0.7 s)

    return getattr(can, name)


_ALL_FLAGS: frozenset[Flag] = frozenset({"fd", "brs", "esi"})
_NO_FD_NO_CHANNEL = Limits(lost_flags=_ALL_FLAGS, no_channel=True)
_ERROR_TIME_ONLY = Limits(error_time_only=True)

FORMATS: dict[str, LogFormat] = {
    f.suffix: f
    for f in (
        LogFormat(".asc", "asc", "Vector ASC", "ASCReader", "ASCWriter", 1, 1, _ERROR_TIME_ONLY,
                  dated=True),
        LogFormat(".blf", "blf", "Vector BLF", "BLFReader", "BLFWriter", 1, 1, binary=True),
        LogFormat(".log", "candump", "candump -L log", "CanutilsLogReader", "CanutilsLogWriter",
                  0, None, _ERROR_TIME_ONLY),
        LogFormat(".csv", "csv", "python-can CSV", "CSVReader", "CSVWriter", 0, None,
                  _NO_FD_NO_CHANNEL),
        LogFormat(".mf4", "mf4", "ASAM MDF4", "MF4Reader", "MF4Writer", 0, 0, binary=True,
                  by_name=True, needs="asammdf"),
        LogFormat(".trc", "trc", "PEAK TRC", "TRCReader", "TRCWriter", 0, 1,
                  Limits(lost_flags=_ALL_FLAGS, left_out=frozenset({"remote", "error", "fd"}))),
        LogFormat(".db", "sqlite", "python-can SQLite", "SqliteReader", "SqliteWriter", 0, None,
                  _NO_FD_NO_CHANNEL, binary=True, by_name=True, uses=frozenset({"replay"})),
    )
}  # fmt: skip
BY_NAME: dict[str, LogFormat] = {f.name: f for f in FORMATS.values()}


def suffixes(use: Use) -> list[str]:
    """The extensions ``use`` offers, sorted."""
    return sorted(suffix for suffix, fmt in FORMATS.items() if use in fmt.uses)


def for_suffix(suffix: str, use: Use) -> LogFormat | None:
    """The format an extension (any case) picks for ``use``, or None."""
    fmt = FORMATS.get(suffix.lower())
    return fmt if fmt is not None and use in fmt.uses else None


def log_format(path: Path, use: Use) -> LogFormat:
    """The format ``path``'s extension picks for ``use``.

    Raises :class:`LogFormatError` naming the file and the extension when it picks none.
    """
    return _known(path, path.suffix, use)


def replay_format(path: Path) -> tuple[LogFormat, bool]:
    """The format of a log to replay and whether it is gzip-compressed (``drive.asc.gz``)."""
    compressed = path.suffix.lower() == GZIP_SUFFIX
    suffix = Path(path.stem).suffix if compressed else path.suffix
    return _known(path, suffix, "replay"), compressed


def _known(path: Path, suffix: str, use: Use) -> LogFormat:
    fmt = for_suffix(suffix, use)
    if fmt is None:
        raise LogFormatError(
            path,
            f"unknown log format {suffix or '(no extension)'!r}: the extension is none of "
            f"{', '.join(suffixes(use))}",
        )
    return fmt
