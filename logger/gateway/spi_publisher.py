"""Decoded signals as SPI batches beside the CANP ones (``gateway.spi = true``).

Every CANP batch a bus reader closes is also handed (as its payload, no copy) to one SPI thread.
That thread decodes the batches in bulk: :func:`canp.wire.decode_payloads` → a ``frames`` table
→ :meth:`dbc.codec.DatabaseCodec.decode_frames_with_stats` (vectorised, one pass per message), then
keeps, per catalog signal, its latest value (the last row where it is not null) and the time of
the frame it came from. Python runs per payload and per signal, never per frame.

``gateway.spi_mode``:

- ``change``: after each decoding round, one SPI batch per bus with the signals whose latest
  value differs from the value last published for them (update bit 1). Changes inside one
  decoding round (one CANP batch, or a few queued ones) are coalesced to the latest value.
- ``interval``: every ``gateway.spi_interval_ms``, one SPI batch per bus that read frames since
  its previous batch, with the latest value of every signal seen on that bus; the update bit is
  set for those that changed since the previous batch.

The batch time ``ts_ns`` is the time of the latest frame contributing a record. Batches go on
``gateway.spi_topic`` (``{vin}``, ``{source}`` = the bus name) through the gateway's publisher,
in order with the CANP batches; they hold no backlog frames.

Counters per bus (:class:`SpiStats`): SPI batches and records the broker confirmed, frames that
could not be decoded (id not in the DBC, or shorter than its message), frames dropped when the
SPI thread fell ``gateway.buffer_frames`` frames behind.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from canp.wire import decode_payloads
from dbc.codec import DatabaseCodec
from dbc.load import DbcError, load_database
from logger.core.config import Config
from logger.core.errors import ConfigError
from logger.gateway.bus_batch import Batch
from logger.gateway.bus_reader import BusReader
from logger.gateway.bus_stats import GatewayStats
from logger.mqtt.client import publish_topic
from spi.catalog import Catalog, CatalogSignal, load_catalog_source, signal_type
from spi.types import SpiType
from spi.wire import Record, Value, encode_batch

_log = logging.getLogger(__name__)

_JOIN_S = 15.0


@dataclass(frozen=True)
class SpiStats:
    """SPI counters of one bus (a snapshot)."""

    batches: int  # SPI batches the broker confirmed
    records: int  # records in them
    undecodable: int  # frames with an id not in the DBC, or shorter than their message
    dropped: int  # frames not decoded because the SPI thread was too far behind


@dataclass(frozen=True)
class SpiGatewayStats(GatewayStats):
    """:class:`GatewayStats` with the SPI counters per bus."""

    spi: dict[str, SpiStats] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        out = super().as_dict()
        out["spi"] = {k: asdict(v) for k, v in self.spi.items()}
        return out


@dataclass(frozen=True)
class SpiSetup:
    """What the SPI thread needs from the configuration, loaded and checked once."""

    catalog: Catalog
    codec: DatabaseCodec
    #: per DBC message: (column name in its decoded table, catalog signal)
    slots: dict[str, list[tuple[str, CatalogSignal]]]
    mode: str
    interval_s: float


def load_setup(cfg: Config) -> SpiSetup:
    """The catalog and the database of ``[gateway]``; ConfigError names the key at fault."""
    g = cfg.gateway
    cat_key = "gateway.spi_catalog" if g.spi_catalog is not None else "gateway.spi_dbc"
    cat_path = g.spi_catalog if g.spi_catalog is not None else g.spi_dbc
    if cat_path is None:
        raise ConfigError("gateway.spi_catalog", "required when gateway.spi = true")
    catalog = load_catalog_source(cat_path, cat_key)
    dbc_path: Path | None = g.spi_dbc
    dbc_key = "gateway.spi_dbc"
    if dbc_path is None:
        if cat_path.suffix.lower() == ".toml":
            guess = cat_path.parent / catalog.source if catalog.source else None
            if guess is None or not guess.is_file():
                raise ConfigError(
                    dbc_key,
                    f"required: {cat_path} is a catalog file and its source DBC "
                    f"{catalog.source!r} is not beside it",
                )
            dbc_path = guess
        else:
            dbc_path, dbc_key = cat_path, cat_key
    try:
        db = load_database(dbc_path)
    except DbcError as exc:
        raise ConfigError(dbc_key, str(exc)) from exc
    codec = DatabaseCodec(db)
    slots: dict[str, list[tuple[str, CatalogSignal]]] = {}
    for name, mcodec in codec.codecs.items():
        for sig in mcodec.message.signals:
            entry = catalog.by_name.get(f"{name}.{sig.name}")
            if entry is None:
                continue
            if entry.type is not signal_type(sig):
                raise ConfigError(
                    cat_key,
                    f"{entry.name}: type {entry.type.label} in the catalog, "
                    f"{signal_type(sig).label} from {dbc_path.name}: regenerate the catalog",
                )
            slots.setdefault(name, []).append((sig.name, entry))
    if not slots:
        raise ConfigError(cat_key, f"no signal of {dbc_path.name} is in the catalog")
    return SpiSetup(catalog, codec, slots, g.spi_mode, g.spi_interval_ms / 1000.0)


def _same(a: Value, b: Value) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a + b))


def _last_valid(column: pa.ChunkedArray | pa.Array) -> int | None:
    """Index of the last non-null row of ``column``, None when all are null."""
    if column.null_count == 0:
        return len(column) - 1 if len(column) else None
    valid = np.flatnonzero(column.is_valid().to_numpy(zero_copy_only=False))
    return int(valid[-1]) if valid.size else None


class _Bus:
    """One bus's SPI state: CANP payloads to decode, latest values, what was last published."""

    def __init__(self, reader: BusReader, topic: str) -> None:
        self.reader = reader
        self.topic = topic
        self.pending: list[Batch] = []  # CANP batches of this bus not decoded yet
        self.pending_frames = 0
        self.latest: dict[int, tuple[CatalogSignal, Value, int]] = {}  # id → (sig, value, ts)
        self.changed: set[int] = set()  # ids updated by the last decoding round (change mode)
        self.sent: dict[int, Value] = {}
        self.fresh = False  # frames decoded since the previous batch (interval mode)
        self.batches = self.records = self.undecodable = self.dropped = 0

    def confirmed(self, records: int) -> None:
        self.batches += 1
        self.records += records

    def stats(self) -> SpiStats:
        return SpiStats(self.batches, self.records, self.undecodable, self.dropped)


class SpiPublisher:
    """The SPI thread of a gateway: CANP batches in (:meth:`feed`), SPI batches out (``enqueue``)."""

    def __init__(
        self,
        cfg: Config,
        readers: Sequence[BusReader],
        enqueue: Callable[[Batch], None],
        setup: SpiSetup | None = None,
    ) -> None:
        self.setup = setup if setup is not None else load_setup(cfg)
        self.bound = cfg.gateway.buffer_frames
        self._enqueue = enqueue
        self._buses = {
            r.name: _Bus(
                r,
                publish_topic(
                    "gateway.spi_topic", cfg.gateway.spi_topic, vin=cfg.vin, source=r.name
                ),
            )
            for r in readers
        }
        self._cond = threading.Condition()
        self._stopping = False
        self.thread = threading.Thread(target=self._run, name="gateway-spi", daemon=True)

    # ---- the readers' side --------------------------------------------------------------
    def feed(self, batch: Batch) -> None:
        """Queue a CANP batch of ``batch.reader`` for decoding (called by its reader thread)."""
        bus = self._buses[batch.reader.name]
        with self._cond:
            bus.pending.append(batch)
            bus.pending_frames += batch.frames
            while bus.pending_frames > self.bound and len(bus.pending) > 1:
                old = bus.pending.pop(0)
                bus.pending_frames -= old.frames
                bus.dropped += old.frames
            if self.setup.mode == "change":
                self._cond.notify()

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if not self.thread.is_alive() and not self._stopping:
            self.thread.start()

    def stop(self) -> None:
        """Decode and publish what is left, then end the thread (the readers have ended)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self.thread.is_alive():
            self.thread.join(_JOIN_S)

    def stats(self) -> dict[str, SpiStats]:
        return {name: bus.stats() for name, bus in self._buses.items()}

    # ---- the SPI thread -------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        except Exception:  # never expected: say so loudly; CANP publishing goes on
            _log.exception("gateway: the SPI thread crashed")

    def _loop(self) -> None:
        interval = self.setup.mode == "interval"
        step = self.setup.interval_s
        deadline = time.monotonic() + step
        while True:
            with self._cond:
                if interval:
                    while not self._stopping and time.monotonic() < deadline:
                        self._cond.wait(max(0.0, deadline - time.monotonic()))
                else:
                    while not self._stopping and not any(b.pending for b in self._buses.values()):
                        self._cond.wait()
                stopping = self._stopping
                taken = [(b, b.pending) for b in self._buses.values() if b.pending]
                for bus, _ in taken:
                    bus.pending, bus.pending_frames = [], 0
            for bus, batches in taken:
                self._decode(bus, [b.payload for b in batches])
            for bus in self._buses.values():
                if interval:
                    self._publish_all(bus)
                else:
                    self._publish_changes(bus)
            if stopping:
                return
            if interval:
                now = time.monotonic()
                deadline += step
                if deadline <= now:  # fell behind: skip ahead, no burst of batches
                    deadline = now + step

    def _decode(self, bus: _Bus, payloads: list[bytes]) -> None:
        frames = decode_payloads(payloads).frames
        if not len(frames):
            return
        tables, stats = self.setup.codec.decode_frames_with_stats(frames.to_table(bus.reader.name))
        bus.undecodable += stats.unknown + stats.short
        latest = bus.latest
        for message, table in tables.items():
            slots = self.setup.slots.get(message)
            if not slots:
                continue
            ts = table.column("ts")
            last_ts = int(ts[-1].as_py())
            for column_name, sig in slots:
                column = table.column(column_name)
                row = _last_valid(column)
                if row is None:
                    continue
                value: Value = column[row].as_py()
                if sig.type is SpiType.F32:
                    value = float(np.float32(value))
                at = last_ts if row == len(column) - 1 else int(ts[row].as_py())
                latest[sig.id] = (sig, value, at)
                bus.changed.add(sig.id)
        bus.fresh = True

    def _publish_changes(self, bus: _Bus) -> None:
        records: list[Record] = []
        ts = 0
        for sid in sorted(bus.changed):
            sig, value, at = bus.latest[sid]
            old = bus.sent.get(sid)
            if old is not None and _same(old, value):
                continue
            records.append(Record(sid, sig.type, value, True))
            bus.sent[sid] = value
            ts = max(ts, at)
        bus.changed.clear()
        self._send(bus, ts, records)

    def _publish_all(self, bus: _Bus) -> None:
        if not bus.fresh:
            return
        bus.fresh = False
        bus.changed.clear()
        records: list[Record] = []
        ts = 0
        for sid in sorted(bus.latest):
            sig, value, at = bus.latest[sid]
            old = bus.sent.get(sid)
            records.append(Record(sid, sig.type, value, old is None or not _same(old, value)))
            bus.sent[sid] = value
            ts = max(ts, at)
        self._send(bus, ts, records)

    def _send(self, bus: _Bus, ts: int, records: list[Record]) -> None:
        if not records:  # a catalog has at most 4096 ids: one batch always holds them
            return
        done = functools.partial(bus.confirmed, len(records))
        self._enqueue(Batch(bus.reader, encode_batch(ts, records), 0, topic=bus.topic, done=done))
