"""M4 decimation (``logger.web.series``) gives exactly what a plain-Python M4 gives.

The reference below puts each sample in its bucket with Python integers and picks each bucket's
first, min, max and last samples with loops; random series (duplicate times, NaN, spikes, windows
partly outside the data) must decimate to the same samples, never more than ``points``, and the
window's global min and max always survive.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logger.core.errors import Code, CommandError
from logger.query.answer import end_frame, to_ipc
from logger.web.plots import series_answer
from logger.web.series import m4, series

Times = npt.NDArray[np.int64]
Values = npt.NDArray[np.float64]


def reference(
    ts: list[int], vals: list[float], start: int, end: int, points: int
) -> tuple[list[int], list[float]]:
    """M4 with loops: per bucket, first/min/max/last (earliest on ties), in time order."""
    if end < start:
        return [], []
    buckets = max(1, points // 4)
    span = end - start + 1
    groups: dict[int, list[int]] = {}
    for i, (t, v) in enumerate(zip(ts, vals, strict=True)):
        if start <= t <= end and not math.isnan(v):
            groups.setdefault((t - start) * buckets // span, []).append(i)
    kept: list[int] = []
    for b in sorted(groups):
        idx = groups[b]
        lowest = min(idx, key=lambda i: (vals[i], i))
        highest = min(idx, key=lambda i: (-vals[i], i))
        distinct = list(dict.fromkeys([lowest, highest, idx[-1], idx[0]]))
        kept.extend(sorted(distinct[:points] if points < 4 else distinct))
    return [ts[i] for i in kept], [vals[i] for i in kept]


def arrays(ts: list[int], vals: list[float]) -> tuple[Times, Values]:
    return np.array(ts, dtype=np.int64), np.array(vals, dtype=np.float64)


def check(ts: list[int], vals: list[float], start: int, end: int, points: int) -> None:
    got_t, got_v = m4(*arrays(ts, vals), start, end, points)
    want_t, want_v = reference(ts, vals, start, end, points)
    assert got_t.dtype == np.int64 and got_v.dtype == np.float64
    assert got_t.tolist() == want_t
    assert (
        got_v.view(np.int64).tolist() == np.array(want_v, dtype=np.float64).view(np.int64).tolist()
    )
    assert len(got_t) <= points
    assert bool(np.all(got_t[1:] >= got_t[:-1]))
    window = [v for t, v in zip(ts, vals, strict=True) if start <= t <= end and not math.isnan(v)]
    if window and points >= 2:
        assert min(window) in got_v.tolist() and max(window) in got_v.tolist()
    elif window:
        assert min(window) in got_v.tolist()


VALUE = st.one_of(
    st.floats(-10, 10, allow_nan=False),
    st.sampled_from([math.nan, 1e9, -1e9, 0.0, -0.0, 1.0]),
    st.floats(allow_nan=True, allow_infinity=True),
)


@st.composite
def samples(draw: st.DrawFn) -> tuple[list[int], list[float], int, int, int]:
    n = draw(st.integers(0, 120))
    base = draw(st.sampled_from([0, -5_000, 1_733_500_000_000_000_000]))
    spread = draw(st.sampled_from([5, 100, 10_000, 10**12]))
    ts = sorted(draw(st.lists(st.integers(base, base + spread), min_size=n, max_size=n)))
    vals = draw(st.lists(VALUE, min_size=n, max_size=n))
    start = draw(st.integers(base - spread // 4, base + spread))
    end = draw(st.one_of(st.just(start), st.integers(start - 2, base + spread + spread // 4)))
    return ts, vals, start, end, draw(st.integers(1, 64))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(samples())
def test_matches_the_plain_python_m4(case: tuple[list[int], list[float], int, int, int]) -> None:
    check(*case)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.lists(st.integers(0, 3), max_size=150),
    st.lists(st.sampled_from([math.nan, math.nan, math.nan, 1.0, -1.0, 2.0, 0.0]), max_size=150),
    st.integers(-3, 40),
    st.integers(0, 400),
    st.integers(1, 64),
)
def test_runs_of_nan_and_ties(
    steps: list[int], pool: list[float], start: int, width: int, points: int
) -> None:
    ts = np.cumsum(steps).tolist()
    vals = (pool * (len(ts) // max(1, len(pool)) + 1))[: len(ts)] if pool else [math.nan] * len(ts)
    check(ts, vals, start, start + width, points)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    st.lists(st.integers(0, 50), min_size=1, max_size=300),
    st.integers(0, 299),
    st.one_of(st.floats(1.5, 1e12), st.floats(-1e12, -1.5)),  # beyond the sine's range
    st.integers(2, 64),
)
def test_a_spike_anywhere_survives(steps: list[int], at: int, spike: float, points: int) -> None:
    ts = list(np.cumsum(steps).tolist())
    vals = [math.sin(i / 7) for i in range(len(ts))]
    vals[at % len(ts)] = spike
    check(ts, vals, ts[0], ts[-1], points)
    _, got = m4(*arrays(ts, vals), ts[0], ts[-1], points)
    assert spike in got.tolist()


def test_empty_input_and_empty_window() -> None:
    for ts, vals, start, end in [([], [], 0, 100), ([5], [1.0], 10, 9), ([5], [1.0], 6, 100)]:
        got_t, got_v = m4(*arrays(ts, vals), start, end, 8)
        assert got_t.size == 0 and got_v.size == 0
        assert got_t.dtype == np.int64 and got_v.dtype == np.float64


def test_one_sample() -> None:
    for points in (1, 3, 4, 2000):
        got_t, got_v = m4(*arrays([7], [2.5]), 0, 10, points)
        assert got_t.tolist() == [7] and got_v.tolist() == [2.5]


def test_all_in_one_bucket_keeps_first_min_max_last() -> None:
    ts = [100, 101, 102, 103, 104, 105]
    vals = [3.0, 9.0, -4.0, 9.0, -4.0, 5.0]
    got_t, got_v = m4(*arrays(ts, vals), 0, 10_000, 400)  # 100 buckets, all samples in the first
    assert got_t.tolist() == [100, 101, 102, 105]  # ties go to the earliest sample
    assert got_v.tolist() == [3.0, 9.0, -4.0, 5.0]
    check(ts, vals, 0, 10_000, 400)


def test_fewer_than_four_points() -> None:
    ts, vals = [1, 2, 3, 4], [5.0, -1.0, 8.0, 2.0]
    assert m4(*arrays(ts, vals), 0, 10, 1)[1].tolist() == [-1.0]
    assert m4(*arrays(ts, vals), 0, 10, 2)[1].tolist() == [-1.0, 8.0]
    assert m4(*arrays(ts, vals), 0, 10, 3)[1].tolist() == [-1.0, 8.0, 2.0]
    assert m4(*arrays(ts, vals), 0, 10, 4)[1].tolist() == [5.0, -1.0, 8.0, 2.0]


def test_window_partly_outside_the_data() -> None:
    ts = list(range(0, 1000, 10))
    vals = [float(i % 13) for i in range(len(ts))]
    vals[3] = 500.0  # before the window: must not appear
    for start, end in [(-500, 300), (700, 5000), (-(10**9), 10**9), (45, 55)]:
        check(ts, vals, start, end, 16)
    _, got = m4(*arrays(ts, vals), 100, 5000, 16)
    assert 500.0 not in got.tolist()


def test_end_equal_to_start() -> None:
    ts, vals = [5, 10, 10, 10, 15], [1.0, 4.0, -2.0, 7.0, 3.0]
    got_t, got_v = m4(*arrays(ts, vals), 10, 10, 2000)
    assert got_t.tolist() == [10, 10, 10] and got_v.tolist() == [4.0, -2.0, 7.0]
    check(ts, vals, 10, 10, 2000)


def test_nan_only_window_is_empty() -> None:
    got_t, _ = m4(*arrays([1, 2, 3], [math.nan] * 3), 0, 5, 8)
    assert got_t.size == 0


def test_more_buckets_than_nanoseconds() -> None:
    ts = [0, 0, 1, 1, 2, 3, 3]
    vals = [1.0, 2.0, 3.0, 0.0, 5.0, 6.0, 6.5]
    check(ts, vals, 0, 3, 100_000)
    assert m4(*arrays(ts, vals), 0, 3, 100_000)[0].size == 7


def test_epoch_timestamps_over_a_wide_window() -> None:
    rng = np.random.default_rng(7)
    ts = np.sort(rng.integers(1_700_000_000 * 10**9, 1_800_000_000 * 10**9, 3000)).tolist()
    vals = rng.normal(size=3000).tolist()
    check(ts, vals, 0, 2 * 10**18, 4000)
    check(ts, vals, -(2**62), 2**62 - 2, 400)  # the widest window int64 holds


def test_inputs_it_refuses() -> None:
    with pytest.raises(ValueError, match="time order"):
        m4(*arrays([3, 2], [1.0, 2.0]), 0, 10, 8)
    with pytest.raises(ValueError, match="shape"):
        m4(np.array([1, 2], dtype=np.int64), np.array([1.0]), 0, 10, 8)
    with pytest.raises(ValueError, match="points"):
        m4(*arrays([1], [1.0]), 0, 10, 0)
    with pytest.raises(ValueError, match="wider"):
        m4(*arrays([1], [1.0]), -(2**63), 2**63 - 1, 8)
    with pytest.raises(TypeError, match="integers"):
        m4(np.array([1.5]), np.array([1.0]), 0, 10, 8)


# --------------------------------------------------------------------------- series over a table


def table() -> pa.Table:
    return pa.table(
        {
            "ts": pa.array([10, 20, 30, 40, 50], pa.int64()),
            "bus": pa.array([0] * 5, pa.uint8()),
            "EngineSpeed": pa.array([1.0, None, 900.0, 2.0, float("nan")], pa.float64()),
            "Gear": pa.array([1, 2, None, 3, 3], pa.int8()),
            "Label": pa.array(["a", "b", "c", "d", "e"]),
        }
    )


def test_series_decimates_each_signal_and_skips_nulls() -> None:
    got = series(table(), ["EngineSpeed", "Gear", "EngineSpeed"], 0, 100, 4)
    assert list(got) == ["EngineSpeed", "Gear"]
    assert got["EngineSpeed"][0].tolist() == [10, 30, 40]
    assert got["EngineSpeed"][1].tolist() == [1.0, 900.0, 2.0]
    assert got["Gear"][0].tolist() == [10, 40, 50]  # first = min, max (earliest), last
    assert got["Gear"][1].tolist() == [1.0, 3.0, 3.0]
    assert got["Gear"][0].dtype == np.int64 and got["Gear"][1].dtype == np.float64


def test_series_matches_m4_on_a_chunked_window() -> None:
    rng = np.random.default_rng(3)
    ts = np.sort(rng.integers(0, 10**9, 5000))
    vals = rng.normal(size=5000)
    vals[rng.integers(0, 5000, 50)] = np.nan
    whole = pa.table({"ts": ts, "S": vals})
    chunked = pa.concat_tables([whole.slice(0, 1234), whole.slice(1234)])
    start, end = 2 * 10**8, 7 * 10**8
    got_t, got_v = series(chunked, ["S"], start, end, 200)["S"]
    want_t, want_v = m4(ts, vals, start, end, 200)
    assert got_t.tolist() == want_t.tolist() and got_v.tolist() == want_v.tolist()


def test_series_takes_a_timestamp_ts_column() -> None:
    t = pa.table({"ts": pa.array([1, 2, 3], pa.timestamp("ns")), "S": [1.0, 5.0, 2.0]})
    assert series(t, ["S"], 0, 10, 8)["S"][0].tolist() == [1, 2, 3]


@pytest.mark.parametrize("points", [0, -1, 100_001, 10**9, True])
def test_series_refuses_bad_points(points: int) -> None:
    with pytest.raises(CommandError, match="points") as err:
        series(table(), ["EngineSpeed"], 0, 100, points)
    assert err.value.disk == Code.BAD_COMMAND


def test_series_takes_the_whole_points_range() -> None:
    assert series(table(), ["Gear"], 0, 100, 1)["Gear"][0].size == 1
    assert series(table(), ["Gear"], 0, 100, 100_000)["Gear"][0].size == 4  # all non-null


def test_series_names_an_unknown_signal_and_close_names() -> None:
    with pytest.raises(CommandError, match=r"'EngineSped'.*EngineSpeed") as err:
        series(table(), ["EngineSped"], 0, 100, 8)
    assert err.value.disk == Code.BAD_COMMAND
    for name in ("ts", "bus", "Nope"):
        with pytest.raises(CommandError, match=repr(name)):
            series(table(), [name], 0, 100, 8)
    with pytest.raises(CommandError, match="not numeric"):
        series(table(), ["Label"], 0, 100, 8)


def test_series_refuses_a_bad_window() -> None:
    with pytest.raises(CommandError, match="before it starts") as err:
        series(table(), ["Gear"], 100, 0, 8)
    assert err.value.disk == Code.BAD_KEY_RANGE
    with pytest.raises(CommandError, match="int64") as err:
        series(table(), ["Gear"], 0, 2**64, 8)
    assert err.value.disk == Code.BAD_KEY_RANGE


def test_series_takes_boolean_and_wide_integer_signals() -> None:
    t = pa.table(
        {
            "ts": pa.array([1, 2, 3], pa.int64()),
            "Flag": pa.array([True, None, False]),
            "Count": pa.array([2**60, 3, 2**62 + 1], pa.uint64()),
        }
    )
    got = series(t, ["Flag", "Count"], 0, 10, 8)
    assert got["Flag"][1].tolist() == [1.0, 0.0]
    assert got["Count"][1].tolist() == [2.0**60, 3.0, 2.0**62]


def test_series_answer_says_when_a_signal_was_cut_at_max_rows() -> None:
    table = pa.table({"ts": pa.array(range(0, 10_000, 10), pa.int64()), "Speed": [1.0] * 1000})

    def reply(command: bytes) -> Iterator[bytes]:
        limit = int(command.decode().rpartition("limit=")[2])
        return iter([to_ipc(table.slice(0, limit)), end_frame(Code.OK, Code.OK)])

    params = {"sig": "Speed", "start": "0", "end": "1", "points": "8"}
    assert series_answer(params, reply, 1000)["signals"]["Speed"]["truncated"] is False
    cut = series_answer(params, reply, 400)["signals"]["Speed"]
    assert cut["truncated"] is True and max(cut["ts"]) == 3990
