"""The CANP plugin and the store: round trips (encrypted too), row-group layout, queries over
overlapping files, write hints, and real logs through the store."""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from pathlib import Path

import can
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from canp.schema import FRAMES_SCHEMA
from canp.wire import encode_columns, encode_messages
from logger.core.config import EncryptionConfig
from logger.core.errors import StoreError
from logger.query.answer import END_MARK
from logger.store.chunk import TableChunk, WriteHints
from tests.support.canp_plugin import (
    MS,
    T0,
    US,
    answer,
    batch,
    frames,
    frames_table,
    make_store,
    mixed_table,
    plugin,
    sorted_rows,
    store_chunks,
    store_overlapping_batches,
    topic,
    ts_of,
    two_overlapping_batches,
)

LOGS = Path(__file__).resolve().parents[3] / "shared" / "data" / "logs"


# ---- the store ----------------------------------------------------------------------------


def test_store_round_trip_returns_the_same_frames_in_time_order(tmp_path: Path) -> None:
    p = plugin()
    store = make_store(tmp_path, row_group_rows=300)
    encoded = store_overlapping_batches(store)
    files = store.files("frames")
    assert len(files) == 2
    for f, original in zip(files, encoded, strict=True):
        table = store.read(f, "ts", 0, (1 << 63) - 1)
        out = pa.concat_tables(list(p.decode([table], p.parse_command("sync-0-1"))))
        assert out.schema == FRAMES_SCHEMA
        assert ts_of(out) == ts_of(original)
        assert sorted_rows(out) == sorted_rows(original)


def test_encrypted_store_round_trip(tmp_path: Path) -> None:
    key = tmp_path / "k1.key"
    key.write_text("00112233445566778899aabbccddeeff")
    store = make_store(tmp_path / "data", encryption=EncryptionConfig(key_id="k1", key_file=key))
    p = plugin()
    chunks = p.encode(two_overlapping_batches()[1])
    store_chunks(store, chunks)
    [f] = store.files("frames")
    with pytest.raises(OSError):
        pq.read_table(f.path)  # nothing without the key
    table = store.read(f, "ts", 0, (1 << 63) - 1)
    assert sorted_rows(table) == sorted_rows(frames_table(chunks))


def test_files_are_sorted_by_bus_id_ts_per_row_group_with_narrow_time_ranges(
    tmp_path: Path,
) -> None:
    p = plugin()
    store = make_store(tmp_path, row_group_rows=300)
    store_chunks(store, p.encode(two_overlapping_batches()[0]))
    [f] = store.files("frames")
    on_disk = pq.read_table(f.path)
    meta = pq.read_metadata(f.path)
    assert meta.num_row_groups == 3  # 800 frames
    lows = []
    for i in range(meta.num_row_groups):
        group = pq.ParquetFile(f.path).read_row_group(i)
        keys = list(
            zip(
                group.column("bus").to_pylist(),
                group.column("id").to_pylist(),
                group.column("ts").cast(pa.int64()).to_pylist(),
                strict=True,
            )
        )
        assert keys == sorted(keys)
        column = meta.row_group(i).column(0)
        assert column.path_in_schema == "ts"
        assert "DELTA_BINARY_PACKED" in column.encodings
        lows.append((column.statistics.min_raw * US, column.statistics.max_raw * US))
    assert all(hi <= next_lo for (_, hi), (next_lo, _) in itertools.pairwise(lows))
    # on disk: the frames plus the order of rows with equal times, which readers restore
    # on disk ts is a Parquet timestamp in the exchange's unit (readers get int64 ns back)
    want = FRAMES_SCHEMA.set(0, FRAMES_SCHEMA.field("ts").with_type(pa.timestamp("us", "UTC")))
    assert on_disk.schema.remove_metadata().equals(
        want.append(pa.field("_tie", pa.int32())).remove_metadata()
    )
    # a narrow window reads only the row groups that hold it
    mid = (lows[2][0] + lows[2][1]) // 2
    assert store.row_groups(f, "ts", mid, mid) == [2]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_queries_over_overlapping_files_answer_in_time_order(tmp_path: Path, mode: str) -> None:
    store = make_store(tmp_path, row_group_rows=256)
    all_frames = pa.concat_tables(store_overlapping_batches(store))
    start_ms, end_ms = T0 // MS + 100, T0 // MS + 500
    command = f"{mode}-{start_ms}-{end_ms};bus=can1;id=0x100-0x1FF"
    out, end = answer(store, command)
    assert end == END_MARK + b"0,1"
    got_ts = ts_of(out)
    assert got_ts == sorted(got_ts)
    expected = [
        r
        for r in all_frames.to_pylist()
        if r["bus"] == "can1"
        and 0x100 <= r["id"] <= 0x1FF
        and start_ms * MS <= r["ts"] < (end_ms + 1) * MS
    ]
    assert sorted_rows(out) == sorted(tuple(r.values()) for r in expected)
    assert out.num_rows > 50

    limited, _ = answer(store, command + ";limit=25")
    assert limited.num_rows == 25
    assert ts_of(limited) == got_ts[:25]


# ---- write hints --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hints", "match"),
    [
        (WriteHints(sort_by=("nope",)), "column 'nope'"),
        (WriteHints(column_encoding={"bus": "DELTA_BINARY_PACKED"}), "does not fit column 'bus'"),
        (WriteHints(column_encoding={"ts": "FANCY"}), "'FANCY'"),
        (WriteHints(use_dictionary=("ts", "missing")), "column 'missing'"),
    ],
)
def test_bad_write_hints_are_store_errors_and_leave_nothing(
    tmp_path: Path, hints: WriteHints, match: str
) -> None:
    store = make_store(tmp_path)
    [chunk] = plugin().encode(batch((topic("can0"), encode_columns(frames([T0], [1])))))
    with pytest.raises(StoreError, match=match):
        store.write([dataclasses.replace(chunk, hints=hints)])
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_chunks_without_hints_are_written_as_given(tmp_path: Path) -> None:
    store = make_store(tmp_path, row_group_rows=100)
    table = mixed_table(250).take(pa.array(np.arange(250)[::-1].copy()))
    store_chunks(store, [TableChunk("frames", table, "ts")])
    [f] = store.files("frames")
    assert pq.read_table(f.path).to_pylist() == table.to_pylist()
    column = pq.read_metadata(f.path).row_group(0).column(0)
    assert "DELTA_BINARY_PACKED" not in column.encodings


# ---- real logs ----------------------------------------------------------------------------

REAL_LOGS = sorted(LOGS.iterdir()) if LOGS.is_dir() else []


def read_log(path: Path, limit: int) -> list[can.Message]:
    if path.suffix.lower() == ".mf4":
        pytest.importorskip("asammdf", reason="reading MF4 needs asammdf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(itertools.islice(can.LogReader(path), limit))


def us_ns(seconds: float) -> int:
    """A python-can timestamp as the CANP exchange stores it: ns rounded to the nearest µs."""
    return (round(seconds * 1e9) + US // 2) // US * US


def expected_row(m: can.Message, bus: str) -> tuple[object, ...]:
    return (
        us_ns(m.timestamp),
        bus,
        m.arbitration_id,
        m.is_extended_id,
        m.is_remote_frame,
        m.is_error_frame,
        m.is_fd,
        m.bitrate_switch,
        m.error_state_indicator,
        len(m.data),
        bytes(m.data),
        topic(bus),
    )


@pytest.mark.parametrize("path", REAL_LOGS or [None], ids=lambda p: p.name if p else "none")
def test_real_log_round_trips_through_the_store(tmp_path: Path, path: Path | None) -> None:
    if path is None:
        pytest.skip(f"no logs in {LOGS}")
    msgs = read_log(path, 20_000)
    if not msgs:
        pytest.skip(f"{path.name}: no frames")
    channels = {ch: f"can{i}" for i, ch in enumerate(sorted({str(m.channel) for m in msgs}))}
    messages = []
    for ch, bus in channels.items():
        mine = [m for m in msgs if str(m.channel) == ch]
        messages += [
            (topic(bus), encode_messages(mine[i : i + 256])) for i in range(0, len(mine), 256)
        ]
    p = plugin()
    store = make_store(tmp_path, row_group_rows=4096)
    store_chunks(store, p.encode(batch(*messages)))
    out, end = answer(store, "sync-0-9223372036854775807")
    assert end == END_MARK + b"0,1"
    assert ts_of(out) == sorted(ts_of(out))
    want = sorted(expected_row(m, channels[str(m.channel)]) for m in msgs)
    assert sorted_rows(out) == want
