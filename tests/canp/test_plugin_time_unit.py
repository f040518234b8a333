"""CANP frame times: rounded to the exchange's time unit (us by default, ns or ms on request),
stored in it and answered back; streams refuse a unit they cannot keep."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from canp.plugin import CanpPlugin
from canp.wire import encode_columns
from logger.core.config import ExchangeConfig
from logger.core.errors import ConfigError
from logger.streams.raw import RawPlugin
from tests.support.canp_plugin import (
    MS,
    T0,
    US,
    answer,
    batch,
    frames,
    frames_table,
    make_store,
    plugin,
    store_chunks,
    topic,
    ts_of,
)


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
