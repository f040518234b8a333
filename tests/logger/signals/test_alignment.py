"""Signal names resolved against the catalog, and sample-and-hold alignment of messages sampled at
different rates, checked against an obviously correct reference."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logger.core.command import Condition
from logger.core.errors import Code, CommandError
from logger.signals.query import (
    SignalRef,
    align,
    catalog_of,
    filter_where,
    resolve,
    to_intervals,
)
from tests.support.signal_tables import MS, Value, drive, refs_for, rows, table

# --------------------------------------------------------------------------- resolve


def test_resolve_bare_and_qualified() -> None:
    cat = {"EngineData": ["EngineSpeed", "Speed"], "Chassis": ["VehicleSpeed", "Speed"]}
    assert resolve(["EngineSpeed", "Chassis.Speed", "EngineSpeed"], cat) == [
        SignalRef("EngineData", "EngineSpeed", "EngineSpeed"),
        SignalRef("Chassis", "Speed", "Chassis.Speed"),
    ]


def test_resolve_ambiguous_lists_candidates() -> None:
    cat = {"EngineData": ["EngineSpeed", "Speed"], "Chassis": ["VehicleSpeed", "Speed"]}
    with pytest.raises(CommandError) as exc:
        resolve(["Speed"], cat)
    assert exc.value.disk == Code.BAD_COMMAND == exc.value.memory
    assert "ambiguous" in str(exc.value)
    assert "EngineData.Speed" in str(exc.value) and "Chassis.Speed" in str(exc.value)


def test_resolve_unknown_names_all_and_suggests() -> None:
    cat = {"EngineData": ["EngineSpeed"], "Chassis": ["VehicleSpeed"]}
    with pytest.raises(CommandError) as exc:
        resolve(["EngineSped", "Chasis.VehicleSpeed", "Chassis.Nope", "Zzz"], cat)
    msg = str(exc.value)
    assert exc.value.disk == Code.BAD_COMMAND
    assert "'EngineSped'" in msg and "EngineSpeed" in msg
    assert "'Chasis'" in msg and "did you mean Chassis" in msg
    assert "'Chassis.Nope'" in msg
    assert "'Zzz'" in msg


# --------------------------------------------------------------------------- align


def test_sample_and_hold_two_rates() -> None:
    tables = drive()
    got = align(tables, refs_for(tables, "EngineSpeed", "VehicleSpeed"), 0, 70 * MS)
    assert got.column_names == ["ts", "EngineSpeed", "VehicleSpeed"]
    assert rows(got) == [
        (0, 1000.0, None),  # before VehicleSpeed's first sample: null
        (5 * MS, 1000.0, 10.0),
        (10 * MS, 2000.0, 10.0),
        (20 * MS, 4500.0, 10.0),
        (25 * MS, 4500.0, 3.0),
        (30 * MS, 5000.0, 3.0),
        (40 * MS, 4200.0, 3.0),
        (45 * MS, 4200.0, 2.0),
        (50 * MS, 3000.0, 2.0),
        (60 * MS, 4100.0, 2.0),
        (65 * MS, 4100.0, 1.0),
        (70 * MS, 4300.0, 1.0),
    ]


def test_column_named_as_user_named_it() -> None:
    tables = drive()
    got = align(tables, refs_for(tables, "Chassis.VehicleSpeed", "VehicleSpeed"), 0, 30 * MS)
    assert got.column_names == ["ts", "Chassis.VehicleSpeed", "VehicleSpeed"]
    # only Chassis is involved: its sample times only
    assert rows(got) == [(5 * MS, 10.0, 10.0), (25 * MS, 3.0, 3.0)]


def test_equal_timestamps_give_one_row() -> None:
    tables = {
        "A": table([0, 10, 10, 20], a=[1, 2, 3, 4]),  # two rows at 10 ms: the later one wins
        "B": table([0, 20], b=[7, 8]),
    }
    got = align(tables, refs_for(tables, "a", "b"), 0, 20 * MS)
    assert rows(got) == [(0, 1.0, 7.0), (10 * MS, 3.0, 7.0), (20 * MS, 4.0, 8.0)]


def test_multiplexed_null_holds_previous_value() -> None:
    tables = {
        "Mux": table(
            [0, 1, 2, 3, 4, 5],
            A=[1, None, 3, None, 5, None],
            B=[None, 10, None, 20, None, 30],
        )
    }
    got = align(tables, refs_for(tables, "A", "B"), 0, 5 * MS)
    assert got.column("A").to_pylist() == [1, 1, 3, 3, 5, 5]
    assert got.column("B").to_pylist() == [None, 10, 10, 20, 20, 30]


def test_lead_in_seeds_the_hold_and_is_dropped() -> None:
    tables = {
        "EngineData": table([50, 110, 120, 130], EngineSpeed=[1, 2, 3, 4]),
        # only lead-in rows; the multiplexed signal's last non-null is two rows back
        "Chassis": table([70, 90], VehicleSpeed=[5, 6], Mode=[9, None]),
    }
    got = align(tables, refs_for(tables, "EngineSpeed", "VehicleSpeed", "Mode"), 100 * MS, 120 * MS)
    assert rows(got) == [(110 * MS, 2.0, 6.0, 9.0), (120 * MS, 3.0, 6.0, 9.0)]


def test_range_is_inclusive_and_unsorted_input_is_sorted() -> None:
    tables = drive()
    order = list(range(tables["EngineData"].num_rows))
    random.Random(1).shuffle(order)
    shuffled = {**tables, "EngineData": tables["EngineData"].take(pa.array(order))}
    refs = refs_for(tables, "EngineSpeed", "VehicleSpeed")
    assert align(shuffled, refs, 10 * MS, 45 * MS).equals(align(tables, refs, 10 * MS, 45 * MS))
    assert align(tables, refs, 10 * MS, 45 * MS).column("ts").to_pylist()[::5] == [10 * MS, 45 * MS]


def test_empty_and_missing_tables() -> None:
    tables = drive()
    cat = {**catalog_of(tables), "Brakes": ["Pressure"]}
    refs = resolve(["EngineSpeed", "Pressure"], cat)
    got = align(tables, refs, 1 * MS, 9 * MS)  # no samples in range
    assert got.num_rows == 0 and got.column_names == ["ts", "EngineSpeed", "Pressure"]
    got = align(tables, refs, 0, 10 * MS)
    assert got.column("Pressure").to_pylist() == [None, None]
    empty = {"EngineData": tables["EngineData"].slice(0, 0)}
    assert align(empty, refs_for(empty, "EngineSpeed"), 0, 10).num_rows == 0


def test_preserves_value_types() -> None:
    tables = {
        "M": pa.table(
            {
                "ts": pa.array([0, 5], pa.int64()),
                "gear": pa.array([1, None], pa.int8()),
                "name": pa.array(["P", "D"]),
            }
        )
    }
    got = align(tables, refs_for(tables, "gear", "name"), 0, 5)
    assert got.schema.field("gear").type == pa.int8()
    assert rows(got) == [(0, 1, "P"), (5, 1, "D")]


# --------------------------------------------------------------------------- property test


def reference_align(
    tables: Mapping[str, list[tuple[int, dict[str, Value]]]],
    refs: Sequence[tuple[str, str]],
    start: int,
    end: int,
) -> list[tuple[object, ...]]:
    """Obviously correct: for every distinct sample time, scan each message's rows."""
    involved = {m for m, _ in refs}
    times = sorted({ts for m in involved for ts, _ in tables.get(m, []) if start <= ts <= end})
    out: list[tuple[object, ...]] = []
    for t in times:
        row: list[object] = [t]
        for msg, sig in refs:
            held: Value = None
            for ts, values in sorted(tables.get(msg, []), key=lambda r: r[0]):
                if ts <= t and values[sig] is not None:
                    held = values[sig]
            row.append(held)
        out.append(tuple(row))
    return out


_value = st.one_of(st.none(), st.integers(-3, 3).map(float))
_rows = st.lists(
    st.tuples(st.integers(0, 12), st.fixed_dictionaries({"x": _value, "y": _value})),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["M1", "M2", "M3"]), _rows, max_size=3),
    st.integers(0, 12),
    st.integers(0, 12),
    st.lists(
        st.tuples(st.sampled_from(["M1", "M2", "M3"]), st.sampled_from(["x", "y"])), max_size=4
    ),
)
def test_align_matches_reference(
    data: dict[str, list[tuple[int, dict[str, Value]]]],
    start: int,
    length: int,
    wanted: list[tuple[str, str]],
) -> None:
    end = start + length
    refs = [SignalRef(m, s, f"{m}.{s}") for m, s in dict.fromkeys(wanted)]
    tables = {
        m: pa.table(
            {
                "ts": pa.array([ts for ts, _ in rs], pa.int64()),
                "x": pa.array([v["x"] for _, v in rs], pa.float64()),
                "y": pa.array([v["y"] for _, v in rs], pa.float64()),
            }
        )
        for m, rs in data.items()
    }
    got = align(tables, refs, start, end)
    assert rows(got) == reference_align(data, [(r.message, r.signal) for r in refs], start, end)

    # where + intervals against the same reference rows
    conds = [Condition(r.name, ">=", 0) for r in refs[:2]]
    mask = filter_where(got, conds)
    ref_rows = reference_align(data, [(r.message, r.signal) for r in refs], start, end)
    ref_mask = [
        all(isinstance(v, float) and v >= 0 for v in row[1 : 1 + len(conds)]) for row in ref_rows
    ]
    assert list(mask) == ref_mask
    times: list[int] = got.column("ts").to_pylist()  # equal to the reference's, checked above
    runs: list[list[int]] = []
    for i, hit in enumerate(ref_mask):
        if hit and i and ref_mask[i - 1]:
            runs[-1].append(i)
        elif hit:
            runs.append([i])
    expect = [(times[r[0]], times[r[-1]], len(r), times[r[-1]] - times[r[0]]) for r in runs]
    assert rows(to_intervals(got, mask)) == expect
