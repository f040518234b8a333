"""Condition durations against the signal engine's ``where=`` + ``out=intervals``: in total and per
window, at once and in spans cut anywhere (equal times across a cut included)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logger.core.command import parse_command
from logger.core.errors import ConfigError
from logger.rollup import (
    ConditionSpec,
    ConditionState,
    coarsen_conditions,
    compile_condition,
    condition_partials,
    merge_conditions,
)
from logger.signals.query import answer_signals, catalog_of
from tests.logger.rollup.reference import condition_ns_from_intervals, traffic

S = 1_000_000_000
WHERE = "Drive.Speed>45,Body.Level<2,Body.Temp>18"


def generated(seed: int) -> dict[str, pa.Table]:
    rng = np.random.default_rng(seed)
    start = 1_700_000_000 * S
    return {
        "Drive": traffic(rng, 2500, S, 2 * S, start),
        "Body": traffic(rng, 1500, S, 2 * S, start + S // 3),
    }


def engine_intervals(
    tables: Mapping[str, pa.Table], where: str, catalog: Mapping[str, list[str]] | None = None
) -> pa.Table:
    end_ms = max(int(pa.compute.max(t.column("ts")).as_py()) for t in tables.values()) // 10**6
    command = parse_command(f"sync-0-{end_ms + 1};where={where};out=intervals")
    return answer_signals(tables, command, catalog_of(tables) if catalog is None else catalog)


def per_window(table: pa.Table) -> dict[int, int]:
    merged = merge_conditions([table])
    return dict(
        zip(
            merged.column("window").to_pylist(),
            merged.column("condition_ns").to_pylist(),
            strict=True,
        )
    )


def run(
    spans: list[dict[str, pa.Table]], spec: ConditionSpec, window_ns: int, close: bool = True
) -> tuple[pa.Table, ConditionState]:
    state: ConditionState | None = None
    out = []
    for span in spans:
        table, state = condition_partials(span, spec, window_ns, state)
        out.append(table)
    assert state is not None
    if close:
        table, state = condition_partials({}, spec, window_ns, state, state.horizon_ns + 1)
        out.append(table)
    return merge_conditions(out), state


def cut(
    tables: Mapping[str, pa.Table], pieces: int, rng: np.random.Generator
) -> list[dict[str, pa.Table]]:
    """Consecutive spans: all messages' rows in one time order, cut at random positions (rows of
    one time may fall on both sides), each span's rows of a message shuffled."""
    names = list(tables)
    ordered = {
        m: t.take(pa.array(np.argsort(t.column("ts").to_numpy(), kind="stable")))
        for m, t in tables.items()
    }
    ts = np.concatenate([ordered[m].column("ts").to_numpy() for m in names])
    owner = np.concatenate([np.full(ordered[m].num_rows, i) for i, m in enumerate(names)])
    order = np.argsort(ts, kind="stable")
    cuts = sorted(int(c) for c in rng.integers(0, ts.size + 1, pieces - 1))
    out = []
    for lo, hi in zip([0, *cuts], [*cuts, ts.size], strict=True):
        span = {}
        for i, m in enumerate(names):
            before = int(np.sum(owner[order[:lo]] == i))
            upto = int(np.sum(owner[order[:hi]] == i))
            if upto > before:
                part = ordered[m].slice(before, upto - before)
                span[m] = part.take(pa.array(rng.permutation(part.num_rows)))
        out.append(span)
    return out


def together(spans: list[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    names = {m for span in spans for m in span}
    return {m: pa.concat_tables([s[m] for s in spans if m in s]) for m in names}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_condition_time_equals_the_engine_intervals_per_window(seed: int) -> None:
    rng = np.random.default_rng(seed + 100)
    spans = cut(generated(seed), 15, rng)
    tables = together(spans)
    spec = compile_condition("hot_and_fast", WHERE, catalog_of(tables))
    intervals = engine_intervals(tables, WHERE)
    assert intervals.num_rows > 20
    whole, _ = run([tables], spec, S)
    want = condition_ns_from_intervals(intervals, S)
    assert per_window(whole) == want
    assert sum(want.values()) == sum(intervals.column("duration_ns").to_pylist()) > 0
    assert set(whole.column("condition").to_pylist()) == {"hot_and_fast"}
    split, _ = run(spans, spec, S)
    assert split.equals(whole)
    minute = coarsen_conditions(split, 60 * S)
    assert per_window(minute) == condition_ns_from_intervals(intervals, 60 * S)


def test_windows_before_the_settled_time_never_change() -> None:
    rng = np.random.default_rng(7)
    spans = cut(generated(4), 10, rng)
    spec = compile_condition("c", WHERE, catalog_of(together(spans)))
    whole = per_window(run([together(spans)], spec, S)[0])
    state: ConditionState | None = None
    pieces = []
    for span in spans:
        table, state = condition_partials(span, spec, S, state)
        pieces.append(table)
        bound = state.final_before(S)
        so_far = {w: n for w, n in per_window(merge_conditions(pieces)).items() if w < bound}
        assert so_far == {w: n for w, n in whole.items() if w < bound}


def ms_table(ts: list[int], **columns: list[float | None]) -> pa.Table:
    return pa.table(
        {"ts": pa.array(ts, pa.int64()), **{k: pa.array(v) for k, v in columns.items()}}
    )


def test_equal_times_across_a_cut_make_one_aligned_row() -> None:
    """At t=30 A says 'match' in the first span and 'no match' in the second: one aligned row at
    30 that does not match, so the run is 10..20 only."""
    spec = compile_condition("a", "x>0", {"A": ["x"], "B": ["y"]})
    first = {"A": ms_table([10, 20, 30], x=[1.0, 1.0, 1.0])}
    second = {"A": ms_table([30, 40], x=[-1.0, 1.0]), "B": ms_table([30], y=[5.0])}
    together_ = {"A": ms_table([10, 20, 30, 30, 40], x=[1.0, 1.0, 1.0, -1.0, 1.0])}
    together_["B"] = second["B"]
    intervals = engine_intervals(together_, "x>0")
    assert intervals.column("duration_ns").to_pylist() == [10, 0]
    split, state = run([first, second], spec, 100)
    assert per_window(split) == {0: 10}
    assert (state.tail_ts, state.tail_match) == ((40,), (True,))


def test_a_message_without_rows_in_a_span_holds_its_value() -> None:
    spec = compile_condition("a", "A.x>0,B.y>0", {"A": ["x"], "B": ["y"]})
    spans = [
        {"A": ms_table([0], x=[1.0]), "B": ms_table([5], y=[1.0])},
        {"A": ms_table([20, 30], x=[2.0, None])},
        {"A": ms_table([40], x=[-1.0])},
    ]
    split, state = run(spans, spec, 1000)
    assert per_window(split) == {0: 25}  # from 5 (both known) to 30 (the null holds x = 2)
    assert state.held["B"].column("y").to_pylist() == [1.0]
    assert state.held["A"].column("x").to_pylist() == [-1.0]


def test_the_last_pair_waits_until_its_time_is_past() -> None:
    spec = compile_condition("a", "x>0", {"A": ["x"]})
    table, state = condition_partials({"A": ms_table([0, 10], x=[1.0, 1.0])}, spec, 100)
    assert table.num_rows == 0 and state.settled_ns == 0 and state.final_before(5) == 0
    table, state = condition_partials({}, spec, 100, state, horizon_ns=11)
    assert per_window(table) == {0: 10} and state.settled_ns == 10
    assert state.final_before(5) == 10


def test_bad_conditions_name_the_key() -> None:
    catalog = {"A": ["x"], "B": ["x", "y"]}
    with pytest.raises(
        ConfigError, match=r"cfg.toml: exchange\.condition\[0\]\.where: .*'a'.*ambiguous signal 'x'"
    ):
        compile_condition("a", "x>1", catalog, "exchange.condition[0].where", "cfg.toml")
    with pytest.raises(ConfigError, match="not 'signal op number'"):
        compile_condition("a", "y~1", catalog)
    with pytest.raises(ConfigError, match="unknown signal 'z'"):
        compile_condition("a", "z<1", catalog)
    assert compile_condition("a", "A.x>1,y<=2", catalog).columns() == {"A": ["x"], "B": ["y"]}


# --------------------------------------------------------------------------- properties

value = st.one_of(st.none(), st.sampled_from([-1.0, 0.5, 1.0, 3.0, float("nan")]))


@st.composite
def message(draw: st.DrawFn, column: str) -> pa.Table:
    n = draw(st.integers(0, 25))
    ts = sorted(draw(st.lists(st.integers(0, 60), min_size=n, max_size=n)))
    values = draw(st.lists(value, min_size=n, max_size=n))
    return pa.table({"ts": pa.array(ts, pa.int64()), column: pa.array(values, pa.float64())})


@settings(max_examples=200, deadline=None)
@given(message("x"), message("y"), st.integers(0, 2**32), st.integers(1, 6))
def test_property_any_cut_gives_the_engine_intervals_per_window(
    a: pa.Table, b: pa.Table, seed: int, pieces: int
) -> None:
    tables = {m: t for m, t in (("A", a), ("B", b)) if t.num_rows}
    catalog = {"A": ["x"], "B": ["y"]}
    spec = compile_condition("c", "x>0,y<2", catalog)
    spans = cut(tables, pieces, np.random.default_rng(seed)) if tables else [{}]
    split, _ = run(spans, spec, 7)
    if not tables:
        assert split.num_rows == 0
        return
    whole, _ = run([together(spans)], spec, 7)
    assert split.equals(whole)
    assert per_window(whole) == condition_ns_from_intervals(
        engine_intervals(together(spans), "x>0,y<2", catalog), 7
    )
