"""``where=`` conditions and intervals, the rows and intervals :func:`answer_signals` gives, and its
fast path (conditions on each message's rows, values gathered only where answered) against the
general one (:func:`align` → :func:`filter_where` → :func:`to_intervals`), which test_alignment
checks against an obviously correct reference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logger.core.command import Command, Condition, parse_command
from logger.core.errors import Code, CommandError
from logger.signals.query import (
    align,
    answer_signals,
    catalog_of,
    filter_where,
    resolve,
    signal_columns,
    to_intervals,
)
from tests.support.signal_tables import MS, drive, refs_for, rows, table

# --------------------------------------------------------------------------- where / intervals


def test_where_and_intervals() -> None:
    tables = drive()
    aligned = align(tables, refs_for(tables, "EngineSpeed", "VehicleSpeed"), 0, 70 * MS)
    cond = (Condition("EngineSpeed", ">", 4000), Condition("VehicleSpeed", "<", 5))
    mask = filter_where(aligned, cond)
    assert [ts for ts, m in zip(aligned.column("ts").to_pylist(), mask, strict=True) if m] == [
        t * MS for t in (25, 30, 40, 45, 60, 65, 70)
    ]
    iv = to_intervals(aligned, mask)
    assert iv.column_names == ["start", "end", "rows", "duration_ns"]
    assert rows(iv) == [(25 * MS, 45 * MS, 4, 20 * MS), (60 * MS, 70 * MS, 3, 10 * MS)]


def test_nulls_never_match() -> None:
    tables = drive()
    aligned = align(tables, refs_for(tables, "VehicleSpeed", "EngineSpeed"), 0, 5 * MS)
    for op in (">", ">=", "<", "<=", "=", "!="):
        assert filter_where(aligned, [Condition("VehicleSpeed", op, 10)])[0] is np.False_
    assert list(filter_where(aligned, [Condition("VehicleSpeed", "=", 10)])) == [False, True]


def test_where_rejects_text_and_unaligned() -> None:
    t = pa.table({"ts": pa.array([0], pa.int64()), "name": ["P"], "on": [True]})
    aligned = align({"M": t}, resolve(["name", "on"], {"M": ["name", "on"]}), 0, 0)
    assert list(filter_where(aligned, [Condition("on", "=", 1)])) == [True]
    with pytest.raises(CommandError, match="not a number"):
        filter_where(aligned, [Condition("name", ">", 1)])
    with pytest.raises(CommandError, match="'x'"):
        filter_where(aligned, [Condition("x", ">", 1)])


def test_intervals_edges() -> None:
    t = pa.table({"ts": pa.array([1, 2, 3, 4, 5], pa.int64())})
    mk = np.array
    assert rows(to_intervals(t, mk([True] * 5))) == [(1, 5, 5, 4)]
    assert rows(to_intervals(t, mk([False] * 5))) == []
    assert rows(to_intervals(t, mk([True, False, True, False, True]))) == [
        (1, 1, 1, 0),
        (3, 3, 1, 0),
        (5, 5, 1, 0),
    ]
    assert to_intervals(t.slice(0, 0), mk([], dtype=bool)).num_rows == 0


# --------------------------------------------------------------------------- answer_signals


def test_answer_rows_and_intervals() -> None:
    tables = drive()
    base = "sync-0-70;sig=EngineSpeed,Chassis.VehicleSpeed;where=EngineSpeed>4000,VehicleSpeed<5"
    got = answer_signals(tables, parse_command(base))
    assert got.column_names == ["ts", "EngineSpeed", "Chassis.VehicleSpeed"]
    assert got.column("ts").to_pylist() == [t * MS for t in (25, 30, 40, 45, 60, 65, 70)]
    iv = answer_signals(tables, parse_command(base + ";out=intervals"))
    assert rows(iv) == [(25 * MS, 45 * MS, 4, 20 * MS), (60 * MS, 70 * MS, 3, 10 * MS)]
    iv = answer_signals(tables, parse_command(base + ";out=intervals;limit=1"))
    assert rows(iv) == [(25 * MS, 45 * MS, 4, 20 * MS)]
    got = answer_signals(tables, parse_command(base + ";limit=2"))
    assert rows(got) == [(25 * MS, 4500.0, 3.0), (30 * MS, 5000.0, 3.0)]
    assert answer_signals(tables, parse_command(base + ";limit=0")).num_rows == 0


def test_answer_without_sig_outputs_where_signals() -> None:
    tables = drive()
    got = answer_signals(tables, parse_command("sync-0-50;where=VehicleSpeed<5"))
    assert rows(got) == [(25 * MS, 3.0), (45 * MS, 2.0)]


def test_answer_sig_without_where_and_inclusive_end_ms() -> None:
    tables = drive()
    got = answer_signals(tables, parse_command("sync-10-20;sig=VehicleSpeed"))
    # the where-less query still samples only the messages of the requested signals
    assert rows(got) == []
    got = answer_signals(tables, parse_command("sync-5-25;sig=VehicleSpeed"))
    assert rows(got) == [(5 * MS, 10.0), (25 * MS, 3.0)]


def test_answer_bus_filter() -> None:
    tables = {
        "EngineData": pa.concat_tables(
            [table([0, 10], "can0", EngineSpeed=[1, 2]), table([5], "can1", EngineSpeed=[99])]
        )
    }
    got = answer_signals(tables, parse_command("sync-0-10;bus=can0;sig=EngineSpeed"))
    assert rows(got) == [(0, 1.0), (10 * MS, 2.0)]


def test_answer_errors() -> None:
    tables = {**drive(), "Other": table([0], EngineSpeed=[1])}
    with pytest.raises(CommandError, match=r"EngineData\.EngineSpeed, Other\.EngineSpeed") as e:
        answer_signals(tables, parse_command("sync-0-70;where=EngineSpeed>1"))
    assert e.value.disk == Code.BAD_COMMAND
    with pytest.raises(CommandError, match="needs sig= or where="):
        answer_signals(tables, parse_command("sync-0-70;bus=can0"))
    with pytest.raises(CommandError, match="VehicleSpd"):
        answer_signals(tables, parse_command("sync-0-70;sig=VehicleSpd"))


MESSAGES = ("M1", "M2", "M3")
SIGNALS = ("x", "n", "b", "s")


def general(
    tables: Mapping[str, pa.Table],
    command: Command,
    catalog: Mapping[str, Sequence[str]] | None = None,
) -> pa.Table:
    """The answer built from the aligned table, step by step (the engine's definition)."""
    where_names = [c.signal for c in command.where]
    if not command.sigs and not where_names:
        raise CommandError("a signal query needs sig= or where=")
    out_names = list(dict.fromkeys(command.sigs or where_names))
    refs = resolve([*out_names, *where_names], catalog_of(tables) if catalog is None else catalog)
    if command.buses:
        wanted = pa.array(command.buses, pa.string())
        involved = {r.message for r in refs}
        tables = {
            m: t.filter(pc.is_in(t.column("bus"), value_set=wanted)) if m in involved else t
            for m, t in tables.items()
        }
    aligned = align(tables, refs, command.start_ns, command.end_ns)
    if command.where:
        mask = filter_where(aligned, command.where)
    else:
        mask = np.ones(aligned.num_rows, dtype=np.bool_)
    if command.out == "intervals":
        result = to_intervals(aligned, mask)
    else:
        result = aligned.select(["ts", *out_names]).filter(pa.array(mask))
    if command.limit is not None:
        result = result.slice(0, command.limit)
    return result


def outcome(fn: object, *args: object) -> pa.Table | str:
    try:
        result = fn(*args)  # type: ignore[operator]
    except CommandError as exc:
        return f"error: {exc}"
    assert isinstance(result, pa.Table)
    return result


_float = st.one_of(st.none(), st.just(float("nan")), st.integers(-3, 3).map(float))
_int = st.one_of(st.none(), st.integers(-3, 3))
_row = st.tuples(
    st.integers(0, 12),
    st.sampled_from(["can0", "can1"]),
    _float,
    _int,
    st.one_of(st.none(), st.booleans()),
    st.sampled_from(["a", "b"]),
)
_cond = st.tuples(
    st.sampled_from(MESSAGES),
    st.sampled_from(["x", "n", "b", "x", "n", "s"]),
    st.sampled_from([">", ">=", "<", "<=", "=", "!="]),
    st.integers(-3, 3),
)


def build(
    data: Mapping[str, list[tuple[int, str, float | None, int | None, bool | None, str]]],
) -> dict[str, pa.Table]:
    tables: dict[str, pa.Table] = {}
    for msg, message_rows in data.items():
        ts, bus, x, n, b, s = (
            (list(c) for c in zip(*message_rows, strict=True)) if message_rows else ([],) * 6
        )
        tables[msg] = pa.table(
            {
                "ts": pa.array([t * MS for t in ts], pa.int64()),
                "bus": pa.array(bus, pa.string()),
                "x": pa.array(x, pa.float64()),
                "n": pa.array(n, pa.int64()),
                "b": pa.array(b, pa.bool_()),
                "s": pa.array(s, pa.string()),
            }
        )
    return tables


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(st.sampled_from(MESSAGES), st.lists(_row, max_size=10), max_size=3),
    st.integers(0, 12),
    st.integers(0, 12),
    st.lists(st.tuples(st.sampled_from(MESSAGES), st.sampled_from(SIGNALS)), max_size=3),
    st.lists(_cond, max_size=3),
    st.sampled_from(["", ";out=intervals"]),
    st.sampled_from(["", ";bus=can1", ";bus=can0,can1"]),
    st.sampled_from(["", ";limit=1", ";limit=3"]),
)
def test_fast_path_matches_general_path(
    data: dict[str, list[tuple[int, str, float | None, int | None, bool | None, str]]],
    start: int,
    length: int,
    sigs: list[tuple[str, str]],
    conds: list[tuple[str, str, str, int]],
    out: str,
    bus: str,
    limit: str,
) -> None:
    if not sigs and not conds:
        return
    tables = build(data)
    catalog = {m: list(SIGNALS) for m in MESSAGES}  # messages without data resolve to nulls
    text = f"sync-{start}-{start + length}{bus}{limit}{out}"
    if sigs:
        text += ";sig=" + ",".join(dict.fromkeys(f"{m}.{s}" for m, s in sigs))
    if conds:
        text += ";where=" + ",".join(f"{m}.{s}{op}{v}" for m, s, op, v in conds)
    command = parse_command(text)
    fast = outcome(answer_signals, tables, command, catalog)
    slow = outcome(general, tables, command, catalog)
    if isinstance(fast, str) or isinstance(slow, str):
        assert fast == slow
        return
    assert fast.schema == slow.schema
    assert fast.to_pylist() == slow.to_pylist() or _same_with_nan(fast, slow)


def _same_with_nan(a: pa.Table, b: pa.Table) -> bool:
    """Equal, NaN matching NaN (to_pylist compares NaN unequal)."""
    return a.num_rows == b.num_rows and all(
        pc.all(pc.or_kleene(pc.equal(x, y), pc.and_(pc.is_nan(x), pc.is_nan(y)))).as_py()
        is not False
        if pa.types.is_floating(x.type)
        else x.to_pylist() == y.to_pylist()
        for x, y in zip(a.columns, b.columns, strict=True)
    )


def test_fast_path_on_a_long_irregular_drive() -> None:
    """Two messages at different rates with shared times, nulls and a lead-in, ~200k rows."""
    rng = np.random.default_rng(7)
    fast_ts = np.sort(rng.integers(0, 10_000, 150_000)) * MS
    slow_ts = np.sort(rng.integers(0, 10_000, 50_000)) * MS
    speed = rng.normal(50, 20, slow_ts.size)
    tables = {
        "Engine": pa.table(
            {
                "ts": fast_ts,
                "bus": pa.array(["can0"] * fast_ts.size),
                "rpm": pa.array(
                    rng.uniform(0, 6000, fast_ts.size), mask=rng.random(fast_ts.size) < 0.1
                ),
            }
        ),
        "Brake": pa.table(
            {"ts": slow_ts, "bus": pa.array(["can0"] * slow_ts.size), "speed": speed}
        ),
    }
    for text in (
        "sync-1000-9000;where=rpm>4000,speed<40",
        "sync-1000-9000;where=rpm>4000,speed<40;out=intervals",
        "sync-0-10000;sig=speed,rpm;where=rpm<=100",
        "sync-2000-2500;sig=rpm",
    ):
        command = parse_command(text)
        assert answer_signals(tables, command).equals(general(tables, command)), text


def test_signal_columns_name_what_the_answer_reads() -> None:
    catalog = {"Engine": ["rpm", "torque"], "Brake": ["speed", "rpm2"]}
    command = parse_command("sync-0-1;sig=rpm,Brake.speed;where=rpm2>1")
    assert signal_columns(command, catalog) == {
        "Engine": ["ts", "rpm"],
        "Brake": ["ts", "speed", "rpm2"],
    }
    with_bus = parse_command("sync-0-1;bus=can1;sig=torque")
    assert signal_columns(with_bus, catalog) == {"Engine": ["ts", "bus", "torque"]}
    with pytest.raises(CommandError, match="unknown signal"):
        signal_columns(parse_command("sync-0-1;sig=nope"), catalog)
