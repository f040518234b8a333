"""Partials are incremental and mergeable: spans merged equal the whole computed at once, finer
windows coarsened equal the coarse ones computed directly, and final windows never change."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logger.rollup import (
    RollupState,
    coarsen,
    final_before,
    merge,
    partials,
    signal_columns,
)
from tests.logger.rollup.reference import (
    assert_same_partials,
    before,
    spans,
    split_points,
    traffic,
)

S = 1_000_000_000


def in_spans(
    parts: list[pa.Table], signals: dict[str, str], window_ns: int, hold_ns: int
) -> tuple[list[pa.Table], RollupState | None]:
    state: RollupState | None = None
    out = []
    for part in parts:
        table, state = partials(part, signals, window_ns, hold_ns, state)
        out.append(table)
    return out, state


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_spans_merged_equal_the_whole_at_once(seed: int) -> None:
    rng = np.random.default_rng(seed)
    window_ns, hold_ns = S, 2 * S
    table = traffic(rng, 4000, window_ns, hold_ns, start_ns=1_700_000_000 * S)
    signals = signal_columns(table.schema, "Drive")
    parts = spans(table, split_points(rng, table.num_rows, 12), rng)
    pieces, state = in_spans(parts, signals, window_ns, hold_ns)
    whole, whole_state = partials(pa.concat_tables(parts), signals, window_ns, hold_ns)
    assert_same_partials(merge(pieces), whole)
    assert state == whole_state


@pytest.mark.parametrize("seed", [21, 22])
def test_windows_before_final_before_never_change(seed: int) -> None:
    rng = np.random.default_rng(seed)
    window_ns, hold_ns = S, 3 * S
    table = traffic(rng, 3000, window_ns, hold_ns, start_ns=1_700_000_000 * S)
    signals = signal_columns(table.schema, "Drive")
    parts = spans(table, split_points(rng, table.num_rows, 8), rng)
    whole = partials(pa.concat_tables(parts), signals, window_ns, hold_ns)[0]
    state: RollupState | None = None
    pieces: list[pa.Table] = []
    checked = 0
    for part in parts:
        table_, state = partials(part, signals, window_ns, hold_ns, state)
        pieces.append(table_)
        bound = state.final_before(window_ns, hold_ns)
        assert bound == final_before(state.horizon_ns, window_ns, hold_ns)
        done = before(merge(pieces), bound)
        assert_same_partials(done, before(whole, bound))
        checked += done.num_rows
    assert checked > 0


def test_one_second_coarsened_to_a_minute_and_an_hour_equals_computing_them() -> None:
    rng = np.random.default_rng(5)
    table = traffic(rng, 6000, 20 * S, 10 * S, start_ns=1_700_000_000 * S)
    signals = signal_columns(table.schema, "Drive")
    second, _ = partials(table, signals, S, 10 * S)
    minute, _ = partials(table, signals, 60 * S, 10 * S)
    hour, _ = partials(table, signals, 3600 * S, 10 * S)
    assert_same_partials(coarsen(second, 60 * S), minute)
    assert_same_partials(coarsen(coarsen(second, 60 * S), 3600 * S), hour)
    assert_same_partials(coarsen(second, 3600 * S), hour)
    assert hour.num_rows < minute.num_rows < second.num_rows


def test_sizes_must_agree() -> None:
    table = pa.table({"ts": pa.array([0, 5 * S], pa.int64()), "x": [1.0, 2.0]})
    second, _ = partials(table, {"x": "x"}, S, S)
    minute, _ = partials(table, {"x": "x"}, 60 * S, S)
    with pytest.raises(ValueError, match="different window sizes"):
        merge([second, minute])
    with pytest.raises(ValueError, match="not a multiple"):
        coarsen(minute, 90 * S)
    with pytest.raises(ValueError, match=r"no sdvlog\.window_ns"):
        merge([pa.table({"window": [0]})])
    assert merge([second.slice(0, 0)]).num_rows == 0


# --------------------------------------------------------------------------- properties

WINDOW = 10
COARSE = 60
sample = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.floats(-1000, 1000, allow_nan=False, allow_infinity=False, width=32),
)


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(0, 40))
    ts = sorted(draw(st.lists(st.integers(0, 400), min_size=n, max_size=n)))
    ts = [t // WINDOW * WINDOW if draw(st.booleans()) else t for t in ts]
    ts.sort()
    values = draw(st.lists(sample, min_size=n, max_size=n))
    flags = draw(st.lists(st.one_of(st.none(), st.booleans()), min_size=n, max_size=n))
    return pa.table(
        {
            "ts": pa.array(ts, pa.int64()),
            "x": pa.array(values, pa.float64()),
            "on": pa.array(flags, pa.bool_()),
        }
    )


SIGNALS = {"x": "M.x", "on": "M.on"}


@settings(max_examples=150, deadline=None)
@given(tables(), st.integers(1, 80))
def test_property_fine_windows_coarsened_equal_coarse_ones(table: pa.Table, hold: int) -> None:
    fine, fine_state = partials(table, SIGNALS, WINDOW, hold)
    coarse, coarse_state = partials(table, SIGNALS, COARSE, hold)
    assert_same_partials(coarsen(fine, COARSE), coarse)
    assert fine_state == coarse_state


@settings(max_examples=150, deadline=None)
@given(tables(), st.integers(1, 80), st.lists(st.integers(0, 40), max_size=5))
def test_property_spans_merged_equal_one_span(table: pa.Table, hold: int, cuts: list[int]) -> None:
    bounds = [0, *sorted(min(c, table.num_rows) for c in cuts), table.num_rows]
    parts = [table.slice(lo, hi - lo) for lo, hi in itertools.pairwise(bounds)]
    pieces, state = in_spans(parts, SIGNALS, WINDOW, hold)
    whole, whole_state = partials(table, SIGNALS, WINDOW, hold)
    assert_same_partials(merge(pieces), whole)
    assert_same_partials(coarsen(merge(pieces), COARSE), coarsen(whole, COARSE))
    assert state == whole_state
