"""CAN logs for the import and export tests: a log as python-can reads it, a store as an outside
reader gets it, frame-by-frame comparison, and small stores and logs to start from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import can
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from canp.schema import FRAMES, TIME_COLUMN
from logger.core.config import Config, ExchangeConfig, ParquetConfig
from logger.core.message import MessageBatch
from logger.store.layout import TIE_COLUMN
from logger.store.metadata import file_metadata
from logger.store.split import to_ns
from logger.store.store import ParquetStore
from logger.streams.raw import RawPlugin

ALL = "sync-0-9999999999999"
BASE_NS = 1_700_000_000_000_000_000
#: Import rounds to the µs; BLF and candump carry µs or better; python-can's floats ~0.24 µs.
TIME_TOLERANCE_S = 1e-6


@dataclass
class Read:
    """A log as python-can reads it, column by column."""

    ts: npt.NDArray[np.float64]
    ids: list[int]
    flags: list[tuple[bool, bool, bool, bool, bool, bool]]
    data: list[bytes]
    channel: list[object]

    def __len__(self) -> int:
        return len(self.ids)

    def in_time_order(self) -> Read:
        order = np.argsort(self.ts, kind="stable").tolist()
        return Read(
            self.ts[order],
            [self.ids[i] for i in order],
            [self.flags[i] for i in order],
            [self.data[i] for i in order],
            [self.channel[i] for i in order],
        )


def read_log(path: Path) -> Read:
    ts: list[float] = []
    ids: list[int] = []
    flags: list[tuple[bool, bool, bool, bool, bool, bool]] = []
    data: list[bytes] = []
    channel: list[object] = []
    with can.LogReader(path) as reader:
        for m in reader:
            ts.append(m.timestamp)
            ids.append(m.arbitration_id)
            flags.append(
                (
                    m.is_extended_id,
                    m.is_remote_frame,
                    m.is_error_frame,
                    m.is_fd,
                    m.bitrate_switch,
                    m.error_state_indicator,
                )
            )
            data.append(bytes(m.data))
            channel.append(m.channel)
    return Read(np.array(ts, np.float64), ids, flags, data, channel)


def stored(directory: Path, exchange: str = "can") -> pa.Table:
    """Every stored frame, in time order, as an outside reader gets it from the files."""
    files = sorted((directory / exchange / FRAMES).rglob("*.parquet"))
    if not files:
        return pa.table({})
    table = pa.concat_tables([pq.read_table(f, partitioning=None) for f in files])
    # Stored as timestamp[us, UTC] (the exchange's time unit): compare as int64 ns.
    assert table.schema.field(TIME_COLUMN).type == pa.timestamp("us", "UTC")
    table = table.set_column(
        table.schema.get_field_index(TIME_COLUMN), TIME_COLUMN, to_ns(table[TIME_COLUMN])
    )
    order = [(TIME_COLUMN, "ascending")] + (
        [(TIE_COLUMN, "ascending")] if TIE_COLUMN in table.column_names else []
    )
    return table.sort_by(order).drop_columns([c for c in (TIE_COLUMN,) if c in table.column_names])


def assert_same_frames(got: Read, want: Read, offset_s: float = 0.0) -> None:
    assert len(got) == len(want)
    assert got.ids == want.ids
    assert got.flags == want.flags
    assert got.data == want.data
    worst = float(np.abs(got.ts - (want.ts + offset_s)).max()) if len(want) else 0.0
    assert worst <= TIME_TOLERANCE_S, f"timestamps differ by up to {worst * 1e6:.3f} µs"


def write_raw_store(directory: Path, exchange: str) -> None:
    ex = ExchangeConfig(name=exchange)
    plugin = RawPlugin(ex)
    store = ParquetStore(
        ParquetConfig(dir=directory), exchange, file_metadata(Config(), ex, plugin)
    )
    store.recover()
    keys = BASE_NS + np.arange(3, dtype=np.int64)
    store.publish(store.write(plugin.encode(MessageBatch(keys, ["v/1"] * 3, [b"p"] * 3))))


ASC_NO_DATE = """\
base hex  timestamps absolute
internal events logged
Begin Triggerblock
   0.100000 1  123             Rx   d 2 01 02
   5.100000 2  456x            Rx   d 1 03
End TriggerBlock
"""
