"""Exporting frames to CAN log files with python-can's writers: BLF, ASC, candump, CSV, MF4, TRC.

The input is a ``frames`` table (:data:`canp.schema.FRAMES_SCHEMA`), e.g. a query's answer. Frames
are written in time order (a stable sort when the table is not in order already), converted to
python-can ``Message`` objects chunk by chunk (:mod:`canp.io.chunks`); MF4 is written in bulk
(numpy records straight into python-can's MF4 writer's groups, :mod:`canp.io.mf4`) because its
per-message path costs ~30 µs a frame. The file appears only when complete (written under a
temporary name beside it, then renamed).

The extension picks the format, and what the format cannot carry comes from the format table
(:mod:`canp.io.formats`): frames its writer leaves out, flags it loses, error frames reduced to
their time, buses merged; each such loss is told as a note.

**Channels.** candump writes the bus name as the interface name. ASC, BLF, TRC and MF4 number
their channels; every bus gets a number (:func:`channel_numbers`): ``channels`` overrides first,
then a name's trailing number (``can0`` → 0, ``can2`` → 2, the names import gives, so a log
exported again keeps its channel numbers), then the lowest free numbers from 1, in sorted name
order, for names without a number or whose number is taken. The number is the one in the file
(python-can's writers add 1 for ASC, BLF and TRC; that is undone).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from canp.io.chunks import FrameChunk, frame_chunks
from canp.io.formats import LogFormat, LogFormatError, log_format, suffixes
from canp.io.mf4 import write_mf4
from canp.schema import FRAMES_SCHEMA, TIME_COLUMN
from logger.core.errors import ConfigError, SdvLoggerError
from logger.core.topics import TOPIC_COLUMN
from logger.store.chunk import in_time_order

log = logging.getLogger(__name__)

#: Frames converted to messages at a time.
CHUNK_FRAMES = 100_000
MAX_CHANNEL = 255  # MF4 stores the bus channel in one byte
Note = Callable[[str], None]
#: Formats written in bulk (numpy records) rather than message by message through their writer.
_BULK_WRITERS: dict[str, Callable[[Path, Iterator[FrameChunk], int | None], None]] = {
    "mf4": write_mf4
}


class ExportError(SdvLoggerError):
    """Frames cannot be exported: not a frames table, or the file cannot be written."""


@dataclass
class ExportResult:
    path: Path
    format: LogFormat
    frames: int = 0
    #: Bus name → what the file calls it (channel number, or name for candump).
    channels: dict[str, int | str] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    first_ns: int | None = None
    last_ns: int | None = None


def export_format(path: Path) -> LogFormat:
    try:
        return log_format(path, "export")
    except LogFormatError as exc:
        known = ", ".join(suffixes("export"))
        raise ConfigError(
            "--to", f"{path.name}: the extension picks the format, one of {known}"
        ) from exc


def channel_numbers(
    buses: Iterable[str], overrides: Mapping[str, int] | None = None
) -> dict[str, int]:
    """A channel number per bus name (see the module doc); deterministic for a set of names."""
    names = sorted(set(buses))
    numbers: dict[str, int] = {}
    taken: dict[int, str] = {}
    for name, number in sorted((overrides or {}).items()):
        if not 0 <= number <= MAX_CHANNEL:
            raise ConfigError("--channel", f"{name}={number}: channel numbers are 0..{MAX_CHANNEL}")
        if number in taken:
            raise ConfigError("--channel", f"{taken[number]} and {name} both get channel {number}")
        numbers[name] = number
        taken[number] = name
    for name in names:
        m = re.search(r"(\d+)$", name)
        if name in numbers or m is None:
            continue
        number = int(m.group(1))
        if number <= MAX_CHANNEL and number not in taken:
            numbers[name] = number
            taken[number] = name
    free = 1
    for name in names:
        if name in numbers:
            continue
        while free in taken:
            free += 1
        numbers[name] = free
        taken[free] = name
    return {name: numbers[name] for name in names}


def _frames_table(table: pa.Table) -> pa.Table:
    if not table.num_columns:
        return FRAMES_SCHEMA.empty_table().drop_columns([TOPIC_COLUMN])
    needed = [name for name in FRAMES_SCHEMA.names if name != TOPIC_COLUMN]  # no log has topics
    missing = [name for name in needed if name not in table.column_names]
    if missing:
        raise ExportError(
            f"not CAN frames (no column {', '.join(missing)}; got {', '.join(table.column_names)}): "
            "export reads a CANP exchange"
        )
    return in_time_order(table.select(needed), TIME_COLUMN)


def export_table(
    table: pa.Table,
    path: Path,
    *,
    channels: Mapping[str, int] | None = None,
    note: Note | None = None,
    chunk_frames: int = CHUNK_FRAMES,
) -> ExportResult:
    """Write the frames of ``table`` to ``path`` (format by extension), in time order."""
    path = Path(path)
    fmt = export_format(path)
    table = _frames_table(table)
    say = note or (lambda text: log.info("%s", text))
    result = ExportResult(path, fmt)
    buses = sorted(pc.unique(table.column("bus")).to_pylist()) if table.num_rows else []
    channel_of: dict[str, Any]
    if fmt.writer_base is not None:
        numbers = channel_numbers(buses, channels)
        result.channels = dict(numbers)
        channel_of = {bus: n - fmt.writer_base for bus, n in numbers.items()}
    elif not fmt.limits.no_channel:
        channel_of = {bus: "_".join(bus.split()) or "can0" for bus in buses}
        result.channels = dict(channel_of)
    else:
        channel_of = dict.fromkeys(buses)
    table = _drop_skipped(table, fmt, result)
    _tell_losses(table, fmt, result, buses, say)
    if table.num_rows:
        ts = table.column(TIME_COLUMN)
        result.first_ns, result.last_ns = ts[0].as_py(), ts[-1].as_py()
    result.frames = table.num_rows
    missing = fmt.missing_package()
    if missing:
        raise ExportError(f"writing {fmt.name.upper()} needs {missing} (pip install {missing})")

    try:
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    tmp = tmp_dir / path.name
    try:
        chunks = frame_chunks(table, channel_of, chunk_frames)
        bulk = _BULK_WRITERS.get(fmt.name)
        if bulk is not None:
            bulk(tmp, chunks, result.first_ns)
        else:
            _write_messages(tmp, fmt, chunks)
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:  # python-can's writers raise ValueError on bad input
        what = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ExportError(f"cannot write {path}: {what}") from exc
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return result


def _drop_skipped(table: pa.Table, fmt: LogFormat, result: ExportResult) -> pa.Table:
    if not fmt.limits.left_out or not table.num_rows:
        return table
    drop = pa.array(np.zeros(table.num_rows, np.bool_))
    for flag in sorted(fmt.limits.left_out):
        col = table.column(flag)
        count = pc.sum(col).as_py() or 0
        if count:
            result.skipped[f"{flag} frames"] = count
            drop = pc.or_(drop, col)
    return table.filter(pc.invert(drop)) if result.skipped else table


def _tell_losses(
    table: pa.Table, fmt: LogFormat, result: ExportResult, buses: list[str], say: Note
) -> None:
    path = result.path
    for what, count in result.skipped.items():
        say(
            f"{path}: {count:,} {what} left out: python-can's {fmt.title} writer does not write them"
        )
    if not table.num_rows:
        return
    lost = [flag for flag in ("fd", "brs", "esi") if flag in fmt.limits.lost_flags]
    for flag in lost:
        count = pc.sum(table.column(flag)).as_py() or 0
        if count:
            say(f"{path}: {fmt.title} has no {flag.upper()} flag: {count:,} frame(s) lose it")
    if fmt.limits.error_time_only:
        count = pc.sum(table.column("error")).as_py() or 0
        if count:
            say(f"{path}: {fmt.title} keeps only the time of error frames ({count:,})")
    if fmt.limits.no_channel and len(buses) > 1:
        say(f"{path}: {fmt.title} has no channel column: buses {', '.join(buses)} are merged")
    if fmt.writer_base is not None and result.channels:
        mapping = ", ".join(f"{bus} → {n}" for bus, n in result.channels.items())
        say(f"{path}: {fmt.title} channels: {mapping} (--channel BUS=N to choose)")


def _write_messages(path: Path, fmt: LogFormat, chunks: Iterator[FrameChunk]) -> None:
    writer = fmt.open_writer(path)
    try:
        for chunk in chunks:
            for msg in chunk.messages():
                writer.on_message_received(msg)
    finally:
        writer.stop()
