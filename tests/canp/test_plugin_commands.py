"""The CANP plugin's commands (frame selectors, bad commands) and its decode filters."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from canp.plugin import CanpQuery
from canp.schema import FRAMES_SCHEMA
from logger.core.errors import Code, CommandError, PluginError
from logger.streams.plugin import FRAME_ROWS
from tests.support.canp_plugin import MS, T0, frames, mixed_table, plugin

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
