"""``partials`` against the DuckDB reference on generated traffic, and the semantics case by case."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from logger.rollup import RollupError, RollupState, compute, merge, partials, signal_columns
from logger.rollup.state import Held
from tests.logger.rollup.reference import assert_same_partials, reference_partials, traffic

S = 1_000_000_000
MS = 1_000_000


def rows(table: pa.Table) -> list[dict[str, object]]:
    out: list[dict[str, object]] = table.to_pylist()
    return out


@pytest.mark.parametrize(
    ("seed", "window_ns", "hold_ns"),
    [(1, S, 10 * S), (2, S, 300 * MS), (3, 60 * S, 10 * S), (4, 100 * MS, 2 * S)],
)
def test_partials_equal_the_reference_on_generated_traffic(
    seed: int, window_ns: int, hold_ns: int
) -> None:
    rng = np.random.default_rng(seed)
    table = traffic(rng, 3000, window_ns, hold_ns, start_ns=1_700_000_000 * S)
    signals = signal_columns(table.schema, "Drive")
    assert set(signals) == {"Speed", "Gear", "Level", "Temp", "Brake"}
    got, state = partials(table, signals, window_ns, hold_ns)
    assert_same_partials(got, reference_partials(table, signals, window_ns, hold_ns))
    assert state.horizon_ns == max(table.column("ts").to_pylist())
    assert got.schema.metadata == {b"sdvlog.window_ns": str(window_ns).encode()}


def test_a_worked_example() -> None:
    """Samples on window edges, a null and a NaN that are not samples, a gap longer than the
    hold, a window covered only by a value held from before."""
    table = pa.table(
        {
            "ts": pa.array([2 * S, 0, S // 2, 5 * S, 5 * S, S], pa.int64()),
            "x": pa.array([None, 1.0, 4.0, float("nan"), 7.0, 3.0]),
        }
    )
    got, state = partials(table, {"x": "M.x"}, S, 3 * S)
    assert rows(got) == [
        {"window": 0, "signal": "M.x", "count": 2, "min": 1.0, "max": 4.0, "first": 1.0,
         "last": 4.0, "mean": 2.5, "twa": 2.5, "ts_min": 0, "ts_max": S // 2,
         "coverage_ns": S},
        {"window": S, "signal": "M.x", "count": 1, "min": 3.0, "max": 3.0, "first": 3.0,
         "last": 3.0, "mean": 3.0, "twa": 3.0, "ts_min": S, "ts_max": S, "coverage_ns": S},
        {"window": 2 * S, "signal": "M.x", "count": 0, "min": None, "max": None, "first": None,
         "last": None, "mean": None, "twa": 3.0, "ts_min": None, "ts_max": None,
         "coverage_ns": S},
        {"window": 3 * S, "signal": "M.x", "count": 0, "min": None, "max": None, "first": None,
         "last": None, "mean": None, "twa": 3.0, "ts_min": None, "ts_max": None,
         "coverage_ns": S},
        # the hold of 3.0 ended at 4 s; 7.0 at 5 s is still held at the horizon (5 s)
        {"window": 5 * S, "signal": "M.x", "count": 1, "min": 7.0, "max": 7.0, "first": 7.0,
         "last": 7.0, "mean": 7.0, "twa": None, "ts_min": 5 * S, "ts_max": 5 * S,
         "coverage_ns": 0},
    ]  # fmt: skip
    assert state == RollupState(5 * S, {"M.x": Held(5 * S, 7.0)})
    # data seen up to 9 s closes the hold of 7.0 (5 s + 3 s): three windows of coverage
    tail, after = partials(table.slice(0, 0), {"x": "M.x"}, S, 3 * S, state, horizon_ns=9 * S)
    assert [(r["window"], r["count"], r["twa"], r["coverage_ns"]) for r in rows(tail)] == [
        (5 * S, 0, 7.0, S),
        (6 * S, 0, 7.0, S),
        (7 * S, 0, 7.0, S),
    ]
    assert after == RollupState(9 * S, {})


def test_booleans_are_0_and_1_and_extremes_keep_their_first_time() -> None:
    table = pa.table(
        {
            "ts": pa.array([0, 100, 200, 300, 400], pa.int64()),
            "on": pa.array([True, False, True, False, True]),
            "n": pa.array([5, 2, 5, 2, 9], pa.uint16()),
        }
    )
    got, _ = partials(table, signal_columns(table.schema, "M"), 1000, 100)
    on, n = rows(got)[1], rows(got)[0]
    assert on["signal"] == "M.on" and n["signal"] == "M.n"
    assert (on["min"], on["max"], on["mean"], on["twa"]) == (0.0, 1.0, 0.6, 0.5)
    assert (on["ts_min"], on["ts_max"]) == (100, 0)
    assert (n["min"], n["max"], n["ts_min"], n["ts_max"]) == (2.0, 9.0, 100, 400)
    assert n["coverage_ns"] == 400  # the last hold (400 + 100) ends after the horizon (400)


def test_equal_times_hold_the_last_value() -> None:
    table = pa.table({"ts": pa.array([0, 0, 0], pa.int64()), "x": pa.array([1.0, 9.0, 4.0])})
    got, state = partials(table, {"x": "x"}, 10, 5, horizon_ns=20)
    (row,) = rows(got)
    assert (row["count"], row["first"], row["last"], row["twa"], row["coverage_ns"]) == (
        3,
        1.0,
        4.0,
        4.0,
        5,
    )
    assert (row["ts_max"], state.held) == (0, {})


def test_an_infinite_value_held_for_no_time_does_not_spoil_the_time_weighted_mean() -> None:
    table = pa.table({"ts": pa.array([0, 5, 5, 10], pa.int64()), "x": [1.0, math.inf, 2.0, 3.0]})
    got, _ = partials(table, {"x": "x"}, 100, 50, horizon_ns=100)
    (row,) = rows(got)
    assert (row["max"], row["mean"], row["ts_max"]) == (math.inf, math.inf, 5)
    assert (row["twa"], row["coverage_ns"]) == ((5 * 1.0 + 5 * 2.0 + 50 * 3.0) / 60, 60)
    (merged,) = rows(merge([got, got.slice(0, 0)]))
    assert (merged["mean"], merged["twa"]) == (math.inf, row["twa"])


def test_text_and_missing_columns_have_no_samples() -> None:
    table = pa.table({"ts": pa.array([0, 5], pa.int64()), "name": ["a", "b"], "x": [1, 2]})
    assert signal_columns(table.schema) == {"x": "x"}
    got, state = partials(table, {"name": "M.name", "gone": "M.gone"}, 10, 5)
    assert got.num_rows == 0 and state.held == {}


def test_a_timestamp_time_column_counts_in_nanoseconds() -> None:
    ts = pa.array([0, 1_500_000], pa.timestamp("us", "UTC"))
    got, _ = partials(pa.table({"ts": ts, "x": [1.0, 2.0]}), {"x": "x"}, S, S)
    assert [r["window"] for r in rows(got)] == [0, S]


def test_rows_before_the_horizon_are_late_data() -> None:
    table = pa.table({"ts": pa.array([10, 20], pa.int64()), "x": [1.0, 2.0]})
    _, state = partials(table, {"x": "x"}, 10, 5)
    with pytest.raises(RollupError, match="ts=19 is before the horizon 20"):
        partials(pa.table({"ts": pa.array([19], pa.int64()), "x": [3.0]}), {"x": "x"}, 10, 5, state)
    with pytest.raises(ValueError, match="horizon_ns=15"):
        partials(table, {"x": "x"}, 10, 5, horizon_ns=15)
    with pytest.raises(ValueError, match="positive"):
        partials(table, {"x": "x"}, 0, 5)
    with pytest.raises(ValueError, match="one signal name"):
        partials(table, {"x": "x", "y": "x"}, 10, 5)


def test_long_tables_are_computed_in_spans_with_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(9)
    table = traffic(rng, 2000, S, 2 * S, start_ns=1_700_000_000 * S)
    signals = signal_columns(table.schema, "Drive")
    whole, state = partials(table, signals, S, 2 * S)
    monkeypatch.setattr(compute, "SPAN_VALUES", 64 * len(signals))  # spans of 64 rows
    spans, span_state = partials(table, signals, S, 2 * S)
    assert_same_partials(spans, whole)
    assert_same_partials(spans, reference_partials(table, signals, S, 2 * S))
    assert span_state == state
