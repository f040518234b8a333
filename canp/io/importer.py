"""Importing CAN log files into a store: the same layout a live CANP exchange writes, no broker.

Every format python-can reads (Vector ASC and BLF, PEAK TRC, candump ``-L`` logs, python-can's CSV,
ASAM MDF4 with ``asammdf``) becomes rows of the ``frames`` table (:data:`canp.schema.FRAMES_SCHEMA`)
under ``<dir>/<exchange>/frames/...``, with the file metadata of a CANP exchange
(:func:`logger.store.metadata.file_metadata`, ``sdvlog.plugin = "canp"``) plus where the frames came from
(``sdvlog.source_file``, ``sdvlog.source_format``, ``sdvlog.time_anchor``).

Memory stays bounded: messages are read in steps of :data:`canp.io.read.READ_STEP` and written as
one durable batch per :data:`CHUNK_FRAMES` frames. python-can hands out one ``Message`` object per
frame, so reading is a Python loop; it only collects each message's fields in a tuple, and
everything after that (flags, ids, payload buffers, bus names, time conversion) is done on whole
chunks with numpy.

Rules:

* **Format** (:mod:`canp.io.read`): recognised by content first (``LOGG`` → BLF, ``MDF``/``UnFinMF``
  → MF4, the first text lines for ASC, TRC, candump ``-L`` and python-can CSV), by the extension
  otherwise. Known formats python-can cannot read (BUSMASTER logs, PEAK and SavvyCAN CSV exports,
  candump's default layout) are refused up front with what the file looks like.
* **Time** (:mod:`canp.io.anchor`): timestamps are rounded to the exchange's ``time_unit`` (default
  the microsecond: python-can gives float seconds, which at today's epoch resolve about 0.24 µs). A
  log whose times are relative (every ASC, read as offsets from its start; any other log whose first
  time is before 2000) is anchored: time 0 is ``--start`` when given, else the ASC header's ``Begin
  Triggerblock <date>`` or ``date <date>``, else the file's mtime taken as the time of its last
  frame. Naive dates are local time.
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

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from canp.io.anchor import (
    RELATIVE_BEFORE_S,
    AscHeader,
    TimeAnchor,
    asc_header,
    format_ns,
    seconds_to_ns,
)
from canp.io.formats import LogFormat, LogFormatError
from canp.io.read import READ_STEP, LogReader, Note, Row, detect_format
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
from logger.core.config import Config, ExchangeConfig, ParquetConfig
from logger.core.errors import ConfigError
from logger.store.chunk import TableChunk
from logger.store.metadata import file_metadata
from logger.store.recovery import exchange_metadata, held_time_unit
from logger.store.split import round_to_unit
from logger.store.store import ParquetStore

log = logging.getLogger(__name__)

PLUGIN = "canp"
#: Frames per durable batch (each its own write; an hour boundary splits it into two files).
CHUNK_FRAMES = 100_000
DEFAULT_BUS = "can0"
MAX_DATA = 64

Progress = Callable[[int, int | None], None]
"""Called with (frames read so far, bytes of the file read so far or None when not known)."""

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
        held = held_time_unit(stored)
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
            with LogReader(path, fmt) as reader:
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
            anchor = TimeAnchor(seconds_to_ns(header.start), header.source)
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
        with LogReader(path, fmt) as reader:
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
            store.keep_databases(self.plugin.databases())
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
