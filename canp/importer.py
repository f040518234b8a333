"""Importing CAN log files into a store: the same layout a live CANP exchange writes, no broker.

Every format python-can reads (Vector ASC and BLF, PEAK TRC, candump ``-L`` logs, python-can's CSV,
ASAM MDF4 with ``asammdf``) becomes rows of the ``frames`` table (:data:`canp.schema.FRAMES_SCHEMA`)
under ``<dir>/<exchange>/frames/...``, with the file metadata of a CANP exchange
(:func:`logger.service.file_metadata`, ``sdvlog.plugin = "canp"``) plus where the frames came from
(``sdvlog.source_file``, ``sdvlog.source_format``, ``sdvlog.time_anchor``).

Memory stays bounded: messages are read in steps of :data:`READ_STEP` and written as one durable
batch per :data:`CHUNK_FRAMES` frames. python-can hands out one ``Message`` object per frame, so
reading is a Python loop; it only collects each message's fields in a tuple, and everything after
that (flags, ids, payload buffers, bus names, time conversion) is done on whole chunks with numpy.

Rules:

* **Format**: recognised by content first (``LOGG`` → BLF, ``MDF``/``UnFinMF`` → MF4, the first
  text lines for ASC, TRC, candump ``-L`` and python-can CSV), by the extension otherwise. Known
  formats python-can cannot read (BUSMASTER logs, PEAK and SavvyCAN CSV exports, candump's default
  layout) are refused up front with what the file looks like.
* **Time**: timestamps are rounded to the microsecond (python-can gives float seconds, which at
  today's epoch times resolve about 0.24 µs). A log whose times are relative (every ASC, read as
  offsets from its start; any other log whose first time is before 2000) is anchored: time 0 is
  ``--start`` when given, else the ASC header's ``Begin Triggerblock <date>`` or ``date <date>``,
  else the file's mtime taken as the time of its last frame. Naive dates are local time.
* **Bus names**: ``--bus`` when given; else the log's channel: a name as it is (candump's
  ``can0``), a number ``n`` in the log's own numbering as ``can<n>`` (python-can subtracts 1 from
  ASC and BLF channels; that is undone, so ASC channel ``0`` is ``can0`` and BLF channel 1 is
  ``can1``); frames without a channel (python-can's CSV) go to ``can0``.
* **Signals**: with a DBC (``dbc``, ``sdvlog import --dbc``) every chunk is also decoded into the
  ``signals/message=<Name>`` tables exactly as a live CANP exchange with that DBC does
  (:meth:`canp.plugin.CanpPlugin.signal_chunks`), and the file metadata carries
  ``sdvlog.dbc_name`` and ``sdvlog.dbc_hash``. Frames the DBC cannot decode stay in ``frames``.
* **Errors**: a file python-can cannot read raises :class:`LogFormatError` naming the file and,
  for text formats, the line (and quoting it); the frames read before the error are stored first.
"""

from __future__ import annotations

import email.utils
import io
import logging
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TextIO, cast

import can
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from can.io.asc import ASC_MESSAGE_REGEX
from can.io.generic import MessageReader

from canp.plugin import CanpPlugin
from canp.schema import (
    CAN_EFF_FLAG,
    CAN_EFF_MASK,
    CAN_ERR_FLAG,
    CAN_RTR_FLAG,
    FLAG_BRS,
    FLAG_ESI,
    FLAG_FD,
    FRAMES,
    TIME_COLUMN,
    FrameColumns,
)
from logger.config import Config, ExchangeConfig, ParquetConfig
from logger.errors import ConfigError, SdvLoggerError
from logger.plugin import TableChunk
from logger.service import file_metadata
from logger.store.recovery import exchange_metadata
from logger.store.split import round_to_unit
from logger.store.store import ParquetStore

log = logging.getLogger(__name__)

PLUGIN = "canp"
#: Frames per durable batch (each its own write; an hour boundary splits it into two files).
CHUNK_FRAMES = 100_000
#: Messages read between two progress reports.
READ_STEP = 8192
#: A first timestamp before 2000-01-01 means the log's times are relative, not Unix time.
RELATIVE_BEFORE_S = 946_684_800.0
DEFAULT_BUS = "can0"
MAX_DATA = 64
_QUOTE = 80

Progress = Callable[[int, int | None], None]
"""Called with (frames read so far, bytes of the file read so far or None when not known)."""
Note = Callable[[str], None]
"""Receives what the user should be told (format guessed by content, time anchor, fixes)."""


class LogFormatError(SdvLoggerError):
    """A log file that cannot be read (wholly or from some point on).

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
class LogFormat:
    """A log format python-can reads and writes."""

    name: str
    title: str
    suffix: str
    binary: bool
    #: python-can's channel number + ``channel_base`` = the log's own channel number (reading).
    channel_base: int


FORMATS: dict[str, LogFormat] = {
    f.name: f
    for f in (
        LogFormat("asc", "Vector ASC", ".asc", False, 1),
        LogFormat("blf", "Vector BLF", ".blf", True, 1),
        LogFormat("candump", "candump -L log", ".log", False, 0),
        LogFormat("csv", "python-can CSV", ".csv", False, 0),
        LogFormat("mf4", "ASAM MDF4", ".mf4", True, 0),
        LogFormat("trc", "PEAK TRC", ".trc", False, 0),
    )
}
BY_SUFFIX: dict[str, LogFormat] = {f.suffix: f for f in FORMATS.values()}


# --- what a file looks like ----------------------------------------------------------------------


@dataclass(frozen=True)
class Sniffed:
    """What the first bytes of a file look like: a readable format, an unreadable one, or neither."""

    format: LogFormat | None
    looks_like: str
    line: int | None = None
    text: str = ""
    hint: str = ""

    @property
    def unreadable(self) -> bool:
        return self.format is None and bool(self.hint)


_SNIFF_BYTES = 8192
_SNIFF_LINES = 40
#: (pattern on a stripped line, format name or "" for one python-can cannot read, looks like, hint)
_TEXT_SIGNATURES: tuple[tuple[re.Pattern[str], str, str, str], ...] = (
    (
        re.compile(r"^\*\*\*BUSMASTER"),
        "",
        "a BUSMASTER log",
        "python-can has no BUSMASTER reader; convert it with BUSMASTER to ASC or BLF",
    ),
    (
        re.compile(r"^\$STARTTIME="),
        "",
        "a PEAK CSV export (PCAN-View / PEAK-Converter)",
        "python-can reads only its own CSV layout; import the .trc file PCAN-View recorded instead",
    ),
    (
        re.compile(r"^Time Stamp,ID,Extended,(Dir,)?Bus,LEN,D1", re.IGNORECASE),
        "",
        "a SavvyCAN (GVRET) CSV",
        "python-can reads only its own CSV layout; save the log from SavvyCAN as ASC, BLF or candump",
    ),
    (
        re.compile(r"^\(\s*\d+(\.\d+)?\)\s+\S+\s+[0-9A-Fa-f]+\s+\[\d+\]"),
        "",
        "candump's default output layout",
        "python-can reads only candump's log layout: record with candump -L (or -l)",
    ),
    (
        re.compile(r"^\S+\s+[0-9A-Fa-f]{3,8}\s+\[\d+\](\s+[0-9A-Fa-f]{2})*\s*$"),
        "",
        "candump's output without timestamps",
        "python-can reads only candump's log layout: record with candump -L (or -l)",
    ),
    (
        re.compile(r"^timestamp,arbitration_id,extended,remote,error,dlc,data$"),
        "csv",
        "a python-can CSV",
        "",
    ),
    (re.compile(r"^;"), "trc", "a PEAK TRC trace (';' header)", ""),
    (
        re.compile(
            r"^(date\s|base\s+(hex|dec)|begin\s+triggerblock|(no\s+)?internal\s+events\s+logged)",
            re.IGNORECASE,
        ),
        "asc",
        "a Vector ASC log",
        "",
    ),
    (
        re.compile(r"^\d+\.\d+\s+(\d+\s+[0-9A-Fa-f]+x?\s+(Rx|Tx)|CANFD\s)", re.IGNORECASE),
        "asc",
        "a Vector ASC log (no header)",
        "",
    ),
    (
        re.compile(r"^\(\s*\d+(\.\d+)?\)\s+\S+\s+[0-9A-Fa-f]+#"),
        "candump",
        "a candump -L log",
        "",
    ),
)


def sniff(path: Path) -> Sniffed:
    """Guess a file's format from its first bytes (never raises for unreadable content)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise LogFormatError(path, f"cannot open: {exc.strerror or exc}") from exc
    if head.startswith(b"LOGG"):
        return Sniffed(FORMATS["blf"], "a Vector BLF log (LOGG header)")
    if head[:8] in (b"MDF     ", b"UnFinMF "):
        return Sniffed(FORMATS["mf4"], f"an ASAM MDF file ({head[:8].decode().strip()!r} header)")
    if not head:
        return Sniffed(None, "an empty file")
    if b"\0" in head:
        return Sniffed(None, "binary data that is neither BLF nor MDF")
    lines = head.decode("utf-8", "replace").splitlines()
    if len(head) == _SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # possibly cut
    for number, raw in enumerate(lines[:_SNIFF_LINES], 1):
        text = raw.strip()
        if not text:
            continue
        for pattern, name, looks_like, hint in _TEXT_SIGNATURES:
            if pattern.match(text):
                fmt = FORMATS[name] if name else None
                return Sniffed(fmt, looks_like, number, text, hint)
    first = next((line.strip() for line in lines if line.strip()), "")
    return Sniffed(None, f"text starting {first[:_QUOTE]!r}")


def detect_format(path: Path, note: Note | None = None) -> LogFormat:
    """The format to read ``path`` with: by content when recognisable, else by extension.

    Raises :class:`LogFormatError` for content python-can cannot read, and for a file that is
    recognisable neither by content nor by extension.
    """
    by_suffix = BY_SUFFIX.get(path.suffix.lower())
    found = sniff(path)
    if found.unreadable:
        raise LogFormatError(
            path,
            f"looks like {found.looks_like} ({found.text[:_QUOTE]!r}): {found.hint}",
            line=found.line,
        )
    if found.format is not None:
        if found.format is not by_suffix and note is not None:
            note(
                f"{path}: looks like {found.looks_like} by its content; "
                f"reading it as {found.format.title}"
            )
        return found.format
    if by_suffix is None:
        known = ", ".join(sorted(BY_SUFFIX))
        raise LogFormatError(
            path,
            f"unknown log format: the extension is none of {known} and the content "
            f"({found.looks_like}) is no format python-can reads",
        )
    return by_suffix


# --- reading with python-can ---------------------------------------------------------------------


class _Lines:
    """A text file as the line iterator python-can's text readers consume, counting lines."""

    def __init__(self, path: Path) -> None:
        self._raw = path.open("rb")
        self._fh = io.TextIOWrapper(self._raw, encoding="utf-8", errors="replace")
        self.number = 0
        self.last = ""

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._fh)
        self.number += 1
        self.last = line
        return line

    def position(self) -> int:
        return self._raw.tell()

    @property
    def closed(self) -> bool:
        return self._fh.closed

    def close(self) -> None:
        self._fh.close()


_FIELDS = operator.attrgetter(
    "timestamp",
    "arbitration_id",
    "is_extended_id",
    "is_remote_frame",
    "is_error_frame",
    "is_fd",
    "bitrate_switch",
    "error_state_indicator",
    "channel",
    "data",
)
Row = tuple[Any, ...]


class _LogReader:
    """One pass over a log with python-can; knows where it is for progress and error messages."""

    def __init__(self, path: Path, fmt: LogFormat) -> None:
        self.path = path
        self.fmt = fmt
        self.frames = 0
        self._lines: _Lines | None = None
        self._binary: IO[bytes] | None = None
        try:
            self.reader = self._open()
        except LogFormatError:
            self.close()
            raise
        except Exception as exc:  # any reader may fail on a malformed header
            self.close()
            raise self.error(exc) from exc

    def _open(self) -> MessageReader:
        name = self.fmt.name
        if name == "mf4":
            try:
                import asammdf  # noqa: F401, PLC0415 - only to name the missing dependency
            except ImportError as exc:
                raise LogFormatError(
                    self.path, "reading MF4 needs asammdf (pip install asammdf)"
                ) from exc
            return can.MF4Reader(self.path)
        if name == "blf":
            self._binary = self.path.open("rb")
            return can.BLFReader(self._binary)
        self._lines = _Lines(self.path)
        text = cast(TextIO, self._lines)
        if name == "asc":
            return can.ASCReader(text, relative_timestamp=True)
        if name == "trc":
            return can.TRCReader(text)
        if name == "csv":
            return can.CSVReader(text)
        return can.CanutilsLogReader(text)

    def position(self) -> int | None:
        if self._lines is not None and not self._lines.closed:
            return self._lines.position()
        if self._binary is not None and not self._binary.closed:
            return self._binary.tell()
        return None

    def batches(self, step: int = READ_STEP) -> Iterator[list[Row]]:
        """Fields of up to ``step`` messages at a time; a read error ends it with LogFormatError
        after the rows read before it were handed out."""
        it = iter(self.reader)
        while True:
            rows: list[Row] = []
            failure: Exception | None = None
            try:
                rows.extend(map(_FIELDS, islice(it, step)))
            except Exception as exc:  # python-can's readers raise anything on malformed input
                failure = exc
            self.frames += len(rows)
            if rows:
                yield rows
            if failure is not None:
                raise self.error(failure) from failure
            if not rows:
                self._check_complete()
                return

    def _check_complete(self) -> None:
        """python-can's BLF reader stops quietly at a cut; the header says how long the file was."""
        if self.fmt.name != "blf":
            return
        expected = int(getattr(self.reader, "file_size", 0) or 0)
        actual = self.path.stat().st_size
        if actual < expected:
            raise LogFormatError(
                self.path,
                f"the file has {actual:,} bytes but its BLF header says {expected:,}: it looks "
                "truncated (python-can's reader stops quietly at the cut)",
            )

    def error(self, exc: BaseException) -> LogFormatError:
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        title = self.fmt.title
        lines = self._lines
        if isinstance(exc, OSError):
            return LogFormatError(self.path, f"cannot read: {exc.strerror or exc}")
        if lines is not None and lines.number:
            text = lines.last.rstrip("\r\n")
            problem = (
                f"python-can's {title} reader cannot parse this line: {text[:_QUOTE]!r} ({what})"
            )
            if not lines.last.endswith("\n"):
                problem += "; the file ends in the middle of this line: it looks truncated"
            return LogFormatError(self.path, problem, line=lines.number)
        where = f"after {self.frames:,} frame(s)"
        pos = self.position()
        if pos is not None:
            where += f", near byte {pos:,}"
        return LogFormatError(self.path, f"python-can's {title} reader failed {where} ({what})")

    def close(self) -> None:
        reader = getattr(self, "reader", None)
        try:
            if reader is not None:
                reader.stop()
        except Exception as exc:  # closing a half-read file: nothing left to save
            log.debug("%s: closing the reader failed: %s", self.path, exc)
        for fh in (self._lines, self._binary):
            if fh is not None and not fh.closed:
                fh.close()

    def __enter__(self) -> _LogReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --- time ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeAnchor:
    """The Unix time of a relative log's time 0, and where it came from."""

    ns: int
    source: str


_ASC_DATE = re.compile(r"^date\s+(?P<text>.+)$", re.IGNORECASE)
_ASC_TRIGGER = re.compile(r"^begin\s+triggerblock\s+(?P<text>.+)$", re.IGNORECASE)
_WEEKDAY = re.compile(r"^[^\W\d]+,?\s+(?P<rest>.+)$")


def parse_log_date(text: str) -> float | None:
    """Unix seconds of an ASC header date; naive dates are local time (as python-can reads them).

    Vector's ``Thu Nov 09 08:36:33.153 pm 2023`` layouts (also German month names) through
    python-can's own parser, then RFC 2822 (``Thu, 09 Nov 2023 20:36:33 GMT``), then ISO 8601.
    """
    text = text.strip()
    weekday = _WEEKDAY.match(text)
    if weekday:
        try:
            return can.ASCReader._datetime_to_timestamp(weekday.group("rest"))
        except ValueError:
            pass
    try:
        return email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class AscHeader:
    """What an ASC header says about time: its start (Unix seconds) and whether times are deltas."""

    start: float | None = None
    source: str = ""
    deltas: bool = False


_ASC_DELTAS = re.compile(r"^base\s+\w+\s+timestamps\s+relative", re.IGNORECASE)


def asc_header(path: Path, max_lines: int = 200) -> AscHeader:
    """The start of an ASC measurement from its header: ``Begin Triggerblock <date>`` (where
    python-can's writer puts the first frame's time) before ``date <date>``."""
    date: tuple[float, str] | None = None
    deltas = False
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for raw in islice(fh, max_lines):
            line = raw.strip()
            if ASC_MESSAGE_REGEX.match(line):
                break
            deltas = deltas or bool(_ASC_DELTAS.match(line))
            trigger = _ASC_TRIGGER.match(line)
            found = trigger or _ASC_DATE.match(line)
            if found is None:
                continue
            when = parse_log_date(found.group("text"))
            if when is None:
                log.info("%s: cannot parse the ASC header date %r", path, line)
            elif trigger is not None:
                return AscHeader(when, f"the ASC header {line!r}", deltas)
            elif date is None:
                date = when, f"the ASC header {line!r}"
    return AscHeader(date[0], date[1], deltas) if date else AscHeader(deltas=deltas)


def format_ns(ns: int) -> str:
    """ns since the epoch as ISO 8601 UTC with microseconds."""
    stamp = datetime.fromtimestamp(ns // 1_000_000_000, UTC).isoformat().replace("+00:00", "")
    return f"{stamp}.{ns // 1000 % 1_000_000:06d}Z"


def _seconds_to_ns(seconds: float) -> int:
    return round(seconds * 1e6) * 1000


# --- the import ----------------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What one log file became."""

    path: Path
    format: LogFormat
    frames: int = 0
    buses: dict[str, int] = field(default_factory=dict)
    first_ns: int | None = None
    last_ns: int | None = None
    files: int = 0
    anchor: TimeAnchor | None = None
    fixes: dict[str, int] = field(default_factory=dict)
    #: With a DBC: rows written per message's signal table.
    signals: dict[str, int] = field(default_factory=dict)


class LogImporter:
    """Imports log files into ``<directory>/<exchange>`` as the CANP plugin would store them.

    ``bus`` names every frame's bus (default: from the log's channels); ``start_ns`` is time 0 of
    logs with relative timestamps (default: see the module doc); ``vin`` goes into the metadata;
    ``dbc`` (a CAN database file) adds the signal tables.
    """

    def __init__(
        self,
        directory: Path,
        exchange: str = "can",
        *,
        bus: str | None = None,
        vin: str = "",
        start_ns: int | None = None,
        parquet: ParquetConfig | None = None,
        chunk_frames: int = CHUNK_FRAMES,
        note: Note | None = None,
        dbc: Path | None = None,
        time_unit: str | None = None,
    ) -> None:
        if bus is not None and (not bus.strip() or any(c.isspace() for c in bus)):
            raise ConfigError("--bus", f"{bus!r} is not a bus name (no spaces, not empty)")
        if chunk_frames < 1:
            raise ConfigError("chunk_frames", f"must be at least 1, got {chunk_frames}")
        self.parquet = parquet or ParquetConfig(dir=directory)
        stored = exchange_metadata(self.parquet.dir / exchange)
        if stored.get("sdvlog.plugin", PLUGIN) != PLUGIN:
            raise ConfigError(
                "--exchange",
                f"exchange {exchange!r} under {self.parquet.dir} holds "
                f"{stored['sdvlog.plugin']!r} data, not {PLUGIN!r}: import into another exchange",
            )
        held = stored.get("sdvlog.time_unit", "ns" if stored else None)
        if time_unit is not None and held is not None and held != time_unit:
            raise ConfigError(
                "--time-unit",
                f"exchange {exchange!r} under {self.parquet.dir} stores times in {held}, not "
                f"{time_unit}: every file of an exchange has the same time type",
            )
        self.exchange = ExchangeConfig(
            name=exchange, topic="", stream=PLUGIN, dbc=dbc, time_unit=time_unit or held
        )
        self.plugin = CanpPlugin(self.exchange)
        cfg = Config(vin=vin, exchanges=(self.exchange,), parquet=self.parquet)
        self._metadata = file_metadata(cfg, self.exchange, self.plugin)
        self.bus = bus
        self.start_ns = start_ns
        self.chunk_frames = chunk_frames
        self._note = note or (lambda text: log.info("%s", text))

    def import_file(self, path: Path, progress: Progress | None = None) -> ImportResult:
        """Import one log; raises :class:`LogFormatError` (after storing what came before) when
        python-can cannot read it to the end, or when it holds no frames at all."""
        path = Path(path)
        fmt = detect_format(path, self._note)
        result = ImportResult(path, fmt)
        failure: LogFormatError | None = None
        store: ParquetStore | None = None
        pending: list[list[Row]] = []
        count = 0
        try:
            with _LogReader(path, fmt) as reader:
                batches = reader.batches(min(READ_STEP, self.chunk_frames))
                while True:
                    try:
                        rows = next(batches, None)
                    except LogFormatError as exc:
                        failure = exc  # store what came before, then report it
                        break
                    if rows is None:
                        break
                    if result.anchor is None and not result.frames and not pending:
                        result.anchor = self._anchor(path, fmt, rows[0][0])
                    pending.append(rows)
                    count += len(rows)
                    if count >= self.chunk_frames:
                        store = self._flush(store, result, pending)
                        pending, count = [], 0
                    if progress is not None:
                        progress(result.frames + count, reader.position())
            self._flush(store, result, pending)
        except LogFormatError as exc:
            exc.frames = result.frames
            raise
        if failure is not None:
            failure.frames = result.frames
            raise failure
        if not result.frames:
            raise LogFormatError(path, f"no CAN frames in it (read as {fmt.title})")
        for what, n in result.fixes.items():
            self._note(f"{path}: {n:,} frame(s) {what}")
        return result

    # -- time anchor

    def _anchor(self, path: Path, fmt: LogFormat, first: float) -> TimeAnchor | None:
        relative = fmt.name == "asc" or first < RELATIVE_BEFORE_S
        if not relative:
            if self.start_ns is not None:
                self._note(f"{path}: timestamps are Unix times already; --start is not used")
            return None
        header = asc_header(path) if fmt.name == "asc" else AscHeader()
        if header.deltas:
            self._note(
                f"{path}: its header says 'timestamps relative' (times since the previous "
                "event); python-can reads every time as time since the start, and so does "
                "this import: check the times"
            )
        if self.start_ns is not None:
            anchor = TimeAnchor(self.start_ns, "--start")
        elif header.start is not None:
            anchor = TimeAnchor(_seconds_to_ns(header.start), header.source)
        else:
            last = self._last_time(path, fmt)
            mtime_ns = path.stat().st_mtime_ns
            anchor = TimeAnchor(
                mtime_ns - round(last * 1e9), "the file's mtime, taken as its last frame's time"
            )
        self._note(
            f"{path}: timestamps are relative (the first is {first:.6f} s); time 0 is "
            f"{format_ns(anchor.ns)} from {anchor.source}"
        )
        return anchor

    def _last_time(self, path: Path, fmt: LogFormat) -> float:
        """The last relative timestamp of a log (an extra pass; only for logs with no header time)."""
        last = 0.0
        with _LogReader(path, fmt) as reader:
            try:
                for rows in reader.batches():
                    last = max(last, float(np.fromiter((row[0] for row in rows), np.float64).max()))
            except LogFormatError:
                pass  # the import pass reports it
        return last

    # -- writing

    def _flush(
        self, store: ParquetStore | None, result: ImportResult, pending: list[list[Row]]
    ) -> ParquetStore | None:
        rows = [row for part in pending for row in part]
        if not rows:
            return store
        table = self._table(result, rows)
        if store is None:
            meta = dict(self._metadata)
            meta["sdvlog.source_file"] = result.path.name
            meta["sdvlog.source_format"] = result.format.name
            if result.anchor is not None:
                meta["sdvlog.time_anchor"] = (
                    f"{format_ns(result.anchor.ns)} ({result.anchor.source})"
                )
            store = ParquetStore(self.parquet, self.exchange.name, meta)
            store.recover()
        signals = self.plugin.signal_chunks(table)
        frames = TableChunk(FRAMES, table, TIME_COLUMN, self.plugin.frames_hints)
        files = store.write([frames, *signals])
        store.publish(files)
        result.files += len(files)
        result.frames += table.num_rows
        for chunk in signals:
            _count(result.signals, chunk.name.rpartition("=")[2], chunk.table.num_rows)
        ts = table.column(TIME_COLUMN)
        first, last = pc.min(ts).as_py(), pc.max(ts).as_py()
        result.first_ns = first if result.first_ns is None else min(result.first_ns, first)
        result.last_ns = last if result.last_ns is None else max(result.last_ns, last)
        return store

    def _table(self, result: ImportResult, rows: list[Row]) -> pa.Table:
        n = len(rows)
        ts, ids, ext, rtr, err, fd, brs, esi, channels, datas = zip(*rows, strict=True)
        seconds = np.array(ts, np.float64)
        if not np.isfinite(seconds).all():
            raise LogFormatError(result.path, "a frame has no valid timestamp (NaN or infinite)")
        anchor = 0 if result.anchor is None else result.anchor.ns
        ts_ns = round_to_unit(
            np.rint(seconds * 1e9).astype(np.int64) + anchor, self.plugin.time_unit
        )
        can_id = np.array(ids, np.int64)
        extended = np.array(ext, np.bool_)
        wide = can_id > CAN_EFF_MASK
        if wide.any():
            _count(result.fixes, "had ids wider than 29 bits: cut to 29 bits", int(wide.sum()))
            can_id &= CAN_EFF_MASK
        long_std = ~extended & (can_id > 0x7FF)
        if long_std.any():
            _count(
                result.fixes,
                "had standard ids above 0x7FF: stored as extended",
                int(long_std.sum()),
            )
            extended |= long_std
        cid = (
            can_id.astype(np.uint32)
            | np.where(extended, CAN_EFF_FLAG, 0).astype(np.uint32)
            | np.where(np.array(rtr, np.bool_), CAN_RTR_FLAG, 0).astype(np.uint32)
            | np.where(np.array(err, np.bool_), CAN_ERR_FLAG, 0).astype(np.uint32)
        )
        flags = (
            np.where(np.array(fd, np.bool_), FLAG_FD, 0)
            | np.where(np.array(brs, np.bool_), FLAG_BRS, 0)
            | np.where(np.array(esi, np.bool_), FLAG_ESI, 0)
        ).astype(np.uint8)
        lengths = np.fromiter(map(len, datas), np.int32, n)
        if int(lengths.max(initial=0)) > MAX_DATA:
            raise LogFormatError(
                result.path, f"a frame has {int(lengths.max())} data bytes (CAN FD has at most 64)"
            )
        offsets = np.zeros(n + 1, np.int32)
        np.cumsum(lengths, out=offsets[1:])
        data = pa.Array.from_buffers(
            pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(datas))]
        )
        bus = self._buses(result, channels)
        table = FrameColumns(ts_ns, cid, flags, data).to_table(bus)
        if n > 1 and bool((np.diff(ts_ns) < 0).any()):
            table = table.take(pc.sort_indices(table.column(TIME_COLUMN)))
        return table

    def _buses(self, result: ImportResult, channels: tuple[object, ...]) -> pa.Array | str:
        n = len(channels)
        if self.bus is not None:
            _count(result.buses, self.bus, n)
            return self.bus
        distinct = list(dict.fromkeys(channels))
        names = [bus_name(ch, result.format) for ch in distinct]
        if None in distinct and DEFAULT_BUS not in result.buses:
            self._note(
                f"{result.path}: frames without a channel go to bus {DEFAULT_BUS!r} "
                "(--bus names the bus)"
            )
        if len(distinct) == 1:
            _count(result.buses, names[0], n)
            return names[0]
        lookup = {ch: i for i, ch in enumerate(distinct)}
        codes: npt.NDArray[np.int32] = np.fromiter(map(lookup.__getitem__, channels), np.int32, n)
        for name, count in zip(
            names, np.bincount(codes, minlength=len(names)).tolist(), strict=True
        ):
            _count(result.buses, name, count)
        return pa.array(names, pa.string()).take(pa.array(codes))


def _count(counts: dict[str, int], key: str, n: int) -> None:
    counts[key] = counts.get(key, 0) + n


def bus_name(channel: object, fmt: LogFormat) -> str:
    """A bus name for python-can's ``msg.channel`` as read from a log of format ``fmt``."""
    if channel is None:
        return DEFAULT_BUS
    if isinstance(channel, int) and not isinstance(channel, bool):
        return f"can{channel + fmt.channel_base}"
    text = "_".join(str(channel).split())
    return text or DEFAULT_BUS


def parse_start(text: str) -> int:
    """``--start``: ISO 8601 (naive = local time) or Unix seconds → ns since the epoch."""
    try:
        return _seconds_to_ns(float(text))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            "--start", f"expected ISO 8601 (2023-11-09T20:36:33Z) or Unix seconds, got {text!r}"
        ) from exc
    return _seconds_to_ns(when.timestamp())
