"""The CANP plugin: encode (frames + quarantine), commands, decode filters, store round trips."""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from dataclasses import replace
from pathlib import Path

import can
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from canp.plugin import FRAMES_HINTS, CanpPlugin, CanpQuery
from canp.schema import (
    CAN_EFF_FLAG,
    CAN_ERR_FLAG,
    CAN_RTR_FLAG,
    FLAG_BRS,
    FLAG_ESI,
    FLAG_FD,
    FRAMES_SCHEMA,
    FrameColumns,
)
from canp.wire import encode_columns, encode_messages
from logger.core.config import EncryptionConfig, ExchangeConfig, ParquetConfig
from logger.core.errors import Code, CommandError, ConfigError, PluginError, StoreError
from logger.core.message import MessageBatch
from logger.query.answer import END_MARK, Answerer, StoreSource
from logger.store import ParquetStore
from logger.store.chunk import TableChunk, WriteHints
from logger.streams.plugin import FRAME_ROWS, QUARANTINE, QUARANTINE_SCHEMA
from logger.streams.raw import RawPlugin

T0 = 1_710_072_000_000_000_000  # 2024-03-10 12:00 UTC, ns
MS = 1_000_000
US = 1_000  # the CANP default time unit, in ns
LOGS = Path(__file__).resolve().parents[3] / "shared" / "data" / "logs"


def plugin() -> CanpPlugin:
    return CanpPlugin(ExchangeConfig(name="can", topic="vehicle/+/canp/#", stream="canp"))


def topic(bus: str, vin: str = "V1") -> str:
    return f"vehicle/{vin}/canp/{bus}"


def frames(
    ts: list[int], ids: list[int], data: list[bytes] | None = None, flags: list[int] | None = None
) -> FrameColumns:
    return FrameColumns(
        np.array(ts, np.int64),
        np.array(ids, np.uint32),
        np.array(flags or [0] * len(ts), np.uint8),
        pa.array(data if data is not None else [bytes([i % 256]) * 8 for i in ids], pa.binary()),
    )


def batch(*messages: tuple[str, bytes]) -> MessageBatch:
    keys = T0 + np.arange(len(messages), dtype=np.int64)
    return MessageBatch(keys, [t for t, _ in messages], [p for _, p in messages])


def frames_table(chunks: list[TableChunk]) -> pa.Table:
    [table] = [c.table for c in chunks if c.name == "frames"]
    return table


def ts_of(table: pa.Table) -> list[int]:
    values: list[int] = table.column("ts").to_pylist()
    return values


def make_store(
    directory: Path, row_group_rows: int = 65536, encryption: EncryptionConfig | None = None
) -> ParquetStore:
    cfg = ParquetConfig(dir=directory, row_group_rows=row_group_rows, encryption=encryption)
    store = ParquetStore(cfg, "can", {"sdvlog.plugin": "canp"})
    store.recover()
    return store


def store_chunks(store: ParquetStore, chunks: list[TableChunk]) -> None:
    store.publish(store.write(chunks))


# ---- encode -------------------------------------------------------------------------------


def test_encode_interleaves_buses_in_time_order_and_quarantines_a_bad_message() -> None:
    can0 = encode_columns(frames([T0 + 0, T0 + 20 * US, T0 + 40 * US], [0x100, 0x101, 0x100]))
    can1 = encode_columns(
        frames(
            [T0 + 10 * US, T0 + 30 * US],
            [0x18FEF100 | CAN_EFF_FLAG, 0x7FF],
            [bytes(64), b""],
            [FLAG_FD | FLAG_BRS | FLAG_ESI, 0],
        )
    )
    bad = b"CP\x01\x00\x05\x00\x00\x00truncated"
    b = batch((topic("can0"), can0), (topic("x"), bad), (topic("can1", "V2"), can1))
    chunks = plugin().encode(b)

    table = frames_table(chunks)
    assert table.schema == FRAMES_SCHEMA
    assert ts_of(table) == [T0 + i * 10 * US for i in range(5)]
    assert table.column("bus").to_pylist() == ["can0", "can1", "can0", "can1", "can0"]
    assert table.column("id").to_pylist() == [0x100, 0x18FEF100, 0x101, 0x7FF, 0x100]
    fd = table.slice(1, 1).to_pylist()[0]
    assert fd["extended"] and fd["fd"] and fd["brs"] and fd["esi"] and fd["dlc"] == 64
    assert [c.hints for c in chunks if c.name == "frames"] == [
        replace(FRAMES_HINTS, time_unit="us")
    ]

    [quarantine] = [c for c in chunks if c.name == QUARANTINE]
    assert quarantine.time_column == "key"
    assert quarantine.table.schema == QUARANTINE_SCHEMA
    [row] = quarantine.table.to_pylist()
    assert row["key"] == int(b.keys[1])
    assert row["topic"] == topic("x")
    assert row["payload"] == bad
    assert "truncated" in row["reason"]


def test_equal_times_keep_their_batch_order() -> None:
    a = encode_columns(frames([T0, T0], [1, 2]))
    b = encode_columns(frames([T0, T0 - 5 * US], [3, 4]))
    table = frames_table(plugin().encode(batch((topic("a"), a), (topic("b"), b))))
    assert table.column("id").to_pylist() == [4, 1, 2, 3]


def test_many_messages_map_to_buses_per_frame() -> None:
    rng = np.random.default_rng(7)
    messages = []
    expected: list[tuple[int, str]] = []
    for i in range(300):
        bus = f"can{i % 3}"
        ts = sorted((T0 + rng.integers(0, 10**6, 5) * US).tolist())
        messages.append((topic(bus, f"V{i % 2}"), encode_columns(frames(ts, [i] * 5))))
        expected.extend((t, bus) for t in ts)
    table = frames_table(plugin().encode(batch(*messages)))
    got = list(zip(ts_of(table), table.column("bus").to_pylist(), strict=True))
    assert got == sorted(expected, key=lambda e: e[0])
    assert table.num_rows == 1500


def test_only_bad_messages_give_only_quarantine_and_empty_gives_nothing() -> None:
    p = plugin()
    chunks = p.encode(batch((topic("can0"), b"nonsense"), (topic("can0"), b"")))
    assert [c.name for c in chunks] == [QUARANTINE]
    assert chunks[0].table.num_rows == 2
    assert p.quarantined == 2
    assert p.encode(MessageBatch.empty()) == []
    empty = encode_columns(frames([], []))
    assert p.encode(batch((topic("can0"), empty))) == []


def test_a_topic_without_a_bus_level_is_quarantined() -> None:
    good = encode_columns(frames([T0], [1]))
    chunks = plugin().encode(batch((topic(""), good), (topic("can0"), good)))
    assert frames_table(chunks).column("bus").to_pylist() == ["can0"]
    [row] = next(c for c in chunks if c.name == QUARANTINE).table.to_pylist()
    assert row["topic"] == "vehicle/V1/canp/"
    assert "no bus level" in row["reason"]


def test_a_frame_time_beyond_int64_is_quarantined_with_its_message() -> None:
    late = encode_columns(frames([T0, -1], [1, 2]))  # -1 is 2**64 - 1 on the wire
    good = encode_columns(frames([T0 + 1], [3]))
    chunks = plugin().encode(batch((topic("can0"), late), (topic("can0"), good)))
    assert frames_table(chunks).column("id").to_pylist() == [3]
    [row] = next(c for c in chunks if c.name == QUARANTINE).table.to_pylist()
    assert row["payload"] == late
    assert "int64" in row["reason"]


def test_remote_and_error_frames_keep_their_flags() -> None:
    wire = encode_columns(
        frames([T0, T0 + 1], [0x7DF | CAN_RTR_FLAG, 0x004 | CAN_ERR_FLAG], [b"", bytes(8)])
    )
    rows = frames_table(plugin().encode(batch((topic("can0"), wire)))).to_pylist()
    assert [(r["id"], r["remote"], r["error"], r["dlc"]) for r in rows] == [
        (0x7DF, True, False, 0),
        (0x004, False, True, 8),
    ]


# ---- commands -----------------------------------------------------------------------------


def test_parse_frame_selectors() -> None:
    q = plugin().parse_command("async-5-10;bus=can0,can1;id=0x100,0x200-0x2FF;limit=7")
    assert isinstance(q, CanpQuery)
    assert (q.table, q.time_column, q.limit, q.is_async) == ("frames", "ts", 7, True)
    assert q.buses == ("can0", "can1")
    assert q.ids == ((0x100, 0x100), (0x200, 0x2FF))
    assert (q.start_ns, q.end_ns) == (5 * MS, 11 * MS - 1)
    plain = plugin().parse_command("sync-0-1")
    assert isinstance(plain, CanpQuery)
    assert (plain.buses, plain.ids, plain.limit) == ((), (), None)


def test_id_ranges_are_29_bit_arbitration_ids() -> None:
    q = plugin().parse_command("sync-0-1;id=0x1FFFFFFF,0x100-0xFFFFFFFF")
    assert isinstance(q, CanpQuery)
    assert q.ids == ((0x1FFFFFFF, 0x1FFFFFFF), (0x100, 0x1FFFFFFF))
    with pytest.raises(CommandError, match="without flag bits") as info:
        plugin().parse_command("sync-0-1;id=0x98FEF100")
    assert info.value.disk is Code.BAD_COMMAND


@pytest.mark.parametrize(
    "selector", ["msg=EngineData", "sig=Speed", "where=Speed>10", "out=intervals"]
)
def test_signal_selectors_need_a_dbc(selector: str) -> None:
    with pytest.raises(CommandError, match=r"needs a DBC.*signal support") as info:
        plugin().parse_command(f"sync-0-1;bus=can0;{selector}")
    assert info.value.disk is Code.BAD_COMMAND
    assert info.value.memory is Code.BAD_COMMAND
    assert selector.partition("=")[0] + "=" in str(info.value)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("sync-0-1;color=red", Code.BAD_COMMAND),
        ("sync-0-1;id=0x200-0x100", Code.BAD_COMMAND),
        ("sync-0-1;id=12", Code.BAD_COMMAND),
        ("sync-0-1;bus=", Code.BAD_COMMAND),
        ("sync-0-1;limit=-1", Code.BAD_COMMAND),
        ("sync-5-1", Code.BAD_KEY_RANGE),
    ],
)
def test_bad_commands(text: str, code: Code) -> None:
    with pytest.raises(CommandError) as info:
        plugin().parse_command(text)
    assert info.value.disk is code


# ---- decode -------------------------------------------------------------------------------

IDS = [0x100, 0x101, 0x1FF, 0x200, 0x7FF, 0x100 | CAN_EFF_FLAG, 0x18FEF100 | CAN_EFF_FLAG]


def mixed_table(n: int = 700) -> pa.Table:
    """``n`` frames on can0/can1/can2 cycling through IDS, in time order."""
    ts = [T0 + i * MS for i in range(n)]
    ids = [IDS[i % len(IDS)] for i in range(n)]
    buses = [f"can{i % 3}" for i in range(n)]
    return frames(ts, ids).to_table(pa.array(buses, pa.string()))


def decode_all(table: pa.Table, command: str) -> pa.Table:
    p = plugin()
    parts = list(p.decode([table], p.parse_command(command)))
    assert all(0 < t.num_rows <= FRAME_ROWS for t in parts)
    return pa.concat_tables(parts) if parts else FRAMES_SCHEMA.empty_table()


def test_decode_filters_by_bus() -> None:
    out = decode_all(mixed_table(), "sync-0-1;bus=can0,can2")
    assert set(out.column("bus").to_pylist()) == {"can0", "can2"}
    assert out.num_rows == 700 - 233


@pytest.mark.parametrize(
    ("selector", "wanted"),
    [
        ("0x100", {0x100}),  # standard and extended 0x100 alike: ids carry no flag bits
        ("0x100-0x1FF", {0x100, 0x101, 0x1FF}),
        ("0x101,0x7FF", {0x101, 0x7FF}),
        ("0x0-0x100,0x200-0x7FF", {0x100, 0x200, 0x7FF}),
        ("0x18FEF100", {0x18FEF100}),
        ("0x18000000-0x1FFFFFFF", {0x18FEF100}),
        ("0x123", set()),
    ],
)
def test_decode_filters_by_id_values_and_ranges(selector: str, wanted: set[int]) -> None:
    table = mixed_table()
    out = decode_all(table, f"sync-0-1;id={selector}")
    assert set(out.column("id").to_pylist()) == wanted
    expected = sum(1 for i in table.column("id").to_pylist() if i in wanted)
    assert out.num_rows == expected


def test_decode_combines_bus_and_id_and_keeps_time_order() -> None:
    table = mixed_table()
    shuffled = table.take(pa.array(np.random.default_rng(3).permutation(table.num_rows)))
    out = decode_all(shuffled, "sync-0-1;bus=can1;id=0x100-0x200")
    expected = [
        r
        for r in table.to_pylist()
        if r["bus"] == "can1" and 0x100 <= r["id"] <= 0x200  # already in time order
    ]
    assert out.to_pylist() == expected


def test_decode_yields_at_most_65536_rows_per_frame() -> None:
    n = FRAME_ROWS + 10
    table = frames(list(range(T0, T0 + n)), [1] * n, [b""] * n).to_table("can0")
    p = plugin()
    parts = list(p.decode([table, table.slice(0, 0)], p.parse_command("sync-0-1")))
    assert [t.num_rows for t in parts] == [FRAME_ROWS, 10]


def test_decode_of_a_foreign_table_is_a_plugin_error() -> None:
    p = plugin()
    with pytest.raises(PluginError, match="not a frames table"):
        list(p.decode([pa.table({"key": [1]})], p.parse_command("sync-0-1;bus=can0")))


# ---- the store ----------------------------------------------------------------------------


def two_overlapping_batches() -> list[MessageBatch]:
    """Two ring batches whose frames overlap in time (can1 lags), with every frame kind."""
    rng = np.random.default_rng(11)
    out = []
    for b in range(2):
        messages = []
        for bus in ("can0", "can1"):
            n = 400
            start = T0 + b * 300 * MS + (150 * MS if bus == "can1" else 0)
            ts = np.sort(start + rng.integers(0, 400 * MS, n))
            ids = rng.choice(np.array(IDS, np.uint32), n)
            lens = rng.choice(np.array([0, 3, 8, 64]), n)
            data = [rng.integers(0, 4, k).astype(np.uint8).tobytes() for k in lens]
            flags = np.where(lens == 64, FLAG_FD | FLAG_BRS, 0).tolist()
            for lo in range(0, n, 128):
                part = frames(
                    ts[lo : lo + 128].tolist(),
                    ids[lo : lo + 128].tolist(),
                    data[lo : lo + 128],
                    flags[lo : lo + 128],
                )
                messages.append((topic(bus), encode_columns(part)))
        out.append(batch(*messages))
    return out


def sorted_rows(table: pa.Table) -> list[tuple[object, ...]]:
    return sorted(tuple(r.values()) for r in table.to_pylist())


def store_overlapping_batches(store: ParquetStore) -> list[pa.Table]:
    """Encode and store :func:`two_overlapping_batches`; their ``frames`` tables, in order."""
    p = plugin()
    encoded = []
    for b in two_overlapping_batches():
        chunks = p.encode(b)
        encoded.append(frames_table(chunks))
        store_chunks(store, chunks)
    return encoded


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


def answer(store: ParquetStore, command: str) -> tuple[pa.Table, bytes]:
    p = plugin()
    replies = list(Answerer(StoreSource("can", p, store)).answer(p.parse_command(command)))
    *data, end = replies
    assert end.startswith(END_MARK)
    tables = [pa.ipc.open_stream(frame).read_all() for frame in data]
    return (pa.concat_tables(tables) if tables else FRAMES_SCHEMA.empty_table()), end


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


# ---- time unit ----------------------------------------------------------------------------


def test_frame_times_round_to_the_nearest_microsecond_by_default() -> None:
    payload = encode_columns(frames([T0 + 499, T0 + 500, T0 + 1_499, T0 + 2_501], [1, 2, 3, 4]))
    p = plugin()
    assert p.time_unit == "us"
    table = frames_table(p.encode(batch((topic("can0"), payload))))
    assert ts_of(table) == [T0, T0 + US, T0 + US, T0 + 3 * US]
    assert table.column("id").to_pylist() == [1, 2, 3, 4]  # equal times keep their order


@pytest.mark.parametrize(
    ("unit", "stored"), [("ns", pa.int64()), ("ms", pa.timestamp("ms", "UTC"))]
)
def test_time_unit_ns_keeps_every_nanosecond_and_ms_rounds_to_ms(
    tmp_path: Path, unit: str, stored: pa.DataType
) -> None:
    times = [T0 + 1, T0 + 499_999, T0 + 500_000, T0 + 3 * MS + 7]
    p = CanpPlugin(ExchangeConfig(name="can", stream="canp", time_unit=unit))
    chunks = p.encode(batch((topic("can0"), encode_columns(frames(times, [1, 2, 3, 4])))))
    want = times if unit == "ns" else [T0, T0, T0 + MS, T0 + 3 * MS]
    assert ts_of(frames_table(chunks)) == want
    store = make_store(tmp_path)
    store_chunks(store, chunks)
    [f] = store.files("frames")
    assert pq.read_schema(f.path).field("ts").type == stored
    out, _ = answer(store, "sync-0-9223372036854775807")
    assert ts_of(out) == want


def test_streams_refuse_a_time_unit_they_cannot_keep() -> None:
    with pytest.raises(ConfigError, match=r"raw stream stores times in ns, not 'us'") as err:
        RawPlugin(ExchangeConfig(name="r", stream="raw", time_unit="us"))
    assert err.value.key == "exchange[r].time_unit"
    with pytest.raises(ConfigError) as bad:
        ExchangeConfig(name="c", stream="canp", time_unit="ps")
    assert bad.value.key == "exchange[c].time_unit"
