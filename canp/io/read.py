"""Recognising and reading CAN log files with python-can (for :mod:`canp.io.importer`).

* **Format**: recognised by content first (``LOGG`` → BLF, ``MDF``/``UnFinMF`` → MF4, the first
  text lines for ASC, TRC, candump ``-L`` and python-can CSV), by the extension otherwise. Known
  formats python-can cannot read (BUSMASTER logs, PEAK and SavvyCAN CSV exports, candump's default
  layout) are refused up front with what the file looks like (:func:`detect_format`).
* **Reading**: :class:`LogReader` hands out each message's fields as a tuple (:data:`Row`), in
  steps, and turns any reader failure into a :class:`LogFormatError` naming the file and, for text
  formats, the line (quoting it).
"""

from __future__ import annotations

import io
import logging
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TextIO, cast

from can.io.generic import MessageReader

from canp.io.formats import BY_NAME, LogFormat, LogFormatError, for_suffix, suffixes

log = logging.getLogger(__name__)

#: Messages read between two progress reports.
READ_STEP = 8192
_QUOTE = 80

Note = Callable[[str], None]
"""Receives what the user should be told (format guessed by content, time anchor, fixes)."""


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
        return Sniffed(BY_NAME["blf"], "a Vector BLF log (LOGG header)")
    if head[:8] in (b"MDF     ", b"UnFinMF "):
        return Sniffed(BY_NAME["mf4"], f"an ASAM MDF file ({head[:8].decode().strip()!r} header)")
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
                fmt = BY_NAME[name] if name else None
                return Sniffed(fmt, looks_like, number, text, hint)
    first = next((line.strip() for line in lines if line.strip()), "")
    return Sniffed(None, f"text starting {first[:_QUOTE]!r}")


def detect_format(path: Path, note: Note | None = None) -> LogFormat:
    """The format to read ``path`` with: by content when recognisable, else by extension.

    Raises :class:`LogFormatError` for content python-can cannot read, and for a file that is
    recognisable neither by content nor by extension.
    """
    by_suffix = for_suffix(path.suffix, "import")
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
        known = ", ".join(suffixes("import"))
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


class LogReader:
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
        fmt = self.fmt
        missing = fmt.missing_package()
        if missing:
            raise LogFormatError(
                self.path, f"reading {fmt.name.upper()} needs {missing} (pip install {missing})"
            )
        if fmt.by_name:
            return fmt.open_reader(self.path)
        if fmt.binary:
            self._binary = self.path.open("rb")
            return fmt.open_reader(self._binary)
        self._lines = _Lines(self.path)
        return fmt.open_reader(cast(TextIO, self._lines))

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

    def __enter__(self) -> LogReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
