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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import can
from can.io.generic import MessageReader, MessageWriter

from logger.core.errors import SdvLoggerError

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


class OpenReader(Protocol):
    """Opens python-can's reader on a file name or on a stream of the format's kind."""

    def __call__(self, source: Any, *, absolute_times: bool) -> MessageReader: ...


@dataclass(frozen=True)
class Limits:
    """What a format cannot carry through python-can's writer and reader."""

    #: Frame flags the file has no room for.
    lost_flags: frozenset[Flag] = frozenset()
    #: Frames python-can's writer leaves out.
    left_out: frozenset[Kind] = frozenset()
    #: No channel at all: every bus becomes one.
    no_channel: bool = False
    #: Error frames keep only their time (and channel), not their id and data.
    error_time_only: bool = False


@dataclass(frozen=True)
class LogFormat:
    """One log format: how python-can reads and writes it, and what it cannot carry."""

    name: str
    title: str
    suffix: str
    #: Streams of it are binary (else text).
    binary: bool
    reader: OpenReader
    writer: Callable[[Path], MessageWriter]
    #: python-can's channel number + ``channel_base`` = the log's own channel number (reading).
    channel_base: int
    #: File channel = python-can channel + ``writer_base``; None: the file has no channel numbers.
    writer_base: int | None
    limits: Limits = Limits()
    #: Times in the file are offsets from a date in its header; python-can's reader adds the date
    #: only with ``absolute_times`` (and fails when it cannot parse it).
    dated: bool = False
    #: python-can's reader gets the file name, not a stream (asammdf opens the file itself).
    by_name: bool = False
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

        ``absolute_times``: formats that record a start date and offsets from it (ASC) give Unix
        times instead of the offsets.
        """
        return self.reader(source, absolute_times=absolute_times)


def _plain(reader: Callable[[Any], MessageReader]) -> OpenReader:
    def open_reader(source: Any, *, absolute_times: bool) -> MessageReader:
        return reader(source)

    return open_reader


def _asc(source: Any, *, absolute_times: bool) -> MessageReader:
    return can.ASCReader(source, relative_timestamp=not absolute_times)


_ALL_FLAGS: frozenset[Flag] = frozenset({"fd", "brs", "esi"})
_NO_FD_NO_CHANNEL = Limits(lost_flags=_ALL_FLAGS, no_channel=True)

FORMATS: dict[str, LogFormat] = {
    f.suffix: f
    for f in (
        LogFormat("asc", "Vector ASC", ".asc", False, _asc, can.ASCWriter, 1, 1,
                  Limits(error_time_only=True), dated=True),
        LogFormat("blf", "Vector BLF", ".blf", True, _plain(can.BLFReader), can.BLFWriter, 1, 1),
        LogFormat("candump", "candump -L log", ".log", False, _plain(can.CanutilsLogReader),
                  can.CanutilsLogWriter, 0, None, Limits(error_time_only=True)),
        LogFormat("csv", "python-can CSV", ".csv", False, _plain(can.CSVReader), can.CSVWriter,
                  0, None, _NO_FD_NO_CHANNEL),
        LogFormat("mf4", "ASAM MDF4", ".mf4", True, _plain(can.MF4Reader), can.MF4Writer, 0, 0,
                  by_name=True, needs="asammdf"),
        LogFormat("trc", "PEAK TRC", ".trc", False, _plain(can.TRCReader), can.TRCWriter, 0, 1,
                  Limits(lost_flags=_ALL_FLAGS, left_out=frozenset({"remote", "error", "fd"}))),
        LogFormat("sqlite", "python-can SQLite", ".db", True, _plain(can.SqliteReader),
                  can.SqliteWriter, 0, None, _NO_FD_NO_CHANNEL, by_name=True,
                  uses=frozenset({"replay"})),
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
    """The format ``path``'s extension picks for ``use``; LogFormatError names file and extension."""
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
