"""The independent reference for the rollup tests: DuckDB SQL over the rows, one query per
signal, with the holds expanded per window by ``unnest(range(...))``; and condition durations
from the signal engine's ``out=intervals`` cut per window, one interval at a time. Plus the
generated traffic they are run on and the comparison of two partials tables."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import duckdb
import numpy as np
import pyarrow as pa

INT64_MAX = (1 << 63) - 1
COLUMNS = [
    "window",
    "signal",
    "count",
    "min",
    "max",
    "first",
    "last",
    "mean",
    "twa",
    "ts_min",
    "ts_max",
    "coverage_ns",
]
EXACT_FLOATS = ["min", "max", "first", "last"]
EXACT_INTS = ["count", "ts_min", "ts_max", "coverage_ns"]

_QUERY = """
WITH s AS (
    SELECT signal, ts, v, row_number() OVER (PARTITION BY signal ORDER BY ts, i) AS rn
    FROM rows WHERE ts IS NOT NULL AND v IS NOT NULL AND NOT isnan(v)
),
nexts AS (
    SELECT signal, ts, v, lead(ts) OVER (PARTITION BY signal ORDER BY rn) AS nxt FROM s
),
seg AS (
    SELECT signal, ts AS s, v,
        CASE WHEN nxt IS NOT NULL THEN least(nxt, ts + {hold})
             WHEN ts + {hold} <= {horizon} THEN ts + {hold} END AS e
    FROM nexts
),
expanded AS (
    SELECT signal, s, e, v, unnest(range(s // {w}, (e - 1) // {w} + 1)) * {w} AS win
    FROM seg WHERE e > s
),
hold AS (
    SELECT signal, win, sum(least(e, win + {w}) - greatest(s, win))::BIGINT AS coverage_ns,
        sum((least(e, win + {w}) - greatest(s, win)) * v)
            / sum(least(e, win + {w}) - greatest(s, win)) AS twa
    FROM expanded GROUP BY signal, win
),
sw AS (
    SELECT signal, (ts // {w}) * {w} AS win, ts, v, rn,
        min(v) OVER (PARTITION BY signal, ts // {w}) AS mn,
        max(v) OVER (PARTITION BY signal, ts // {w}) AS mx
    FROM s
),
samp AS (
    SELECT signal, win, count(*) AS count, min(v) AS min, max(v) AS max,
        arg_min(v, rn) AS first, arg_max(v, rn) AS last, avg(v) AS mean,
        min(ts) FILTER (WHERE v = mn) AS ts_min, min(ts) FILTER (WHERE v = mx) AS ts_max
    FROM sw GROUP BY signal, win
)
SELECT coalesce(samp.win, hold.win) AS "window", coalesce(samp.signal, hold.signal) AS signal,
    coalesce(count, 0) AS count, min, max, first, last, mean, twa, ts_min, ts_max,
    coalesce(coverage_ns, 0) AS coverage_ns
FROM samp FULL OUTER JOIN hold ON samp.win = hold.win AND samp.signal = hold.signal
"""


def reference_partials(
    table: pa.Table,
    signals: Mapping[str, str],
    window_ns: int,
    hold_ns: int,
    horizon_ns: int | None = None,
) -> pa.Table:
    """The partials of ``table`` computed at once, from scratch (times must be >= 0)."""
    ts = table.column("ts")
    horizon = horizon_ns if horizon_ns is not None else int(pa.compute.max(ts).as_py() or 0)
    index = pa.array(np.arange(table.num_rows))
    long = pa.concat_tables(
        [
            pa.table(
                {
                    "i": index,
                    "ts": ts,
                    "signal": pa.array([name] * table.num_rows, pa.string()),
                    "v": table.column(column).cast(pa.float64()),
                }
            )
            for column, name in signals.items()
        ]
    )
    con = duckdb.connect()
    try:
        con.register("rows", long)
        out = con.execute(_QUERY.format(hold=hold_ns, horizon=horizon, w=window_ns))
        result: pa.Table = out.to_arrow_table()
    finally:
        con.close()
    return result.select(COLUMNS)


def in_order(table: pa.Table) -> pa.Table:
    """The partials' columns, rows by window then signal."""
    return table.select(COLUMNS).sort_by([("window", "ascending"), ("signal", "ascending")])


def before(table: pa.Table, bound: int) -> pa.Table:
    """The rows of windows starting before ``bound``."""
    return table.filter(pa.compute.less(table.column("window"), bound))


def _floats(table: pa.Table, name: str) -> np.ndarray[tuple[int], np.dtype[np.float64]]:
    values: np.ndarray[tuple[int], np.dtype[np.float64]] = (
        table.column(name).cast(pa.float64()).to_numpy()
    )
    return values


def assert_same_partials(got: pa.Table, want: pa.Table, rtol: float = 1e-9) -> None:
    """Same rows; counts, extremes, first/last, times and coverage exactly; means to ``rtol``."""
    a, b = in_order(got), in_order(want)
    assert a.num_rows == b.num_rows, (a.num_rows, b.num_rows)
    assert a.column("window").to_pylist() == b.column("window").to_pylist()
    assert a.column("signal").to_pylist() == b.column("signal").to_pylist()
    for name in EXACT_INTS:
        left = a.column(name).cast(pa.int64()).to_pylist()
        right = b.column(name).cast(pa.int64()).to_pylist()
        bad = [i for i, (x, y) in enumerate(zip(left, right, strict=True)) if x != y]
        assert not bad, (name, a.slice(bad[0], 1).to_pylist(), b.slice(bad[0], 1).to_pylist())
    for name in EXACT_FLOATS:
        np.testing.assert_array_equal(_floats(a, name), _floats(b, name), err_msg=name)
    for name in ("mean", "twa"):
        np.testing.assert_allclose(
            _floats(a, name), _floats(b, name), rtol=rtol, atol=1e-9, err_msg=name
        )


def condition_ns_from_intervals(intervals: pa.Table, window_ns: int) -> dict[int, int]:
    """Per window, Σ |[start, end) ∩ window| over the engine's intervals (one at a time)."""
    out: dict[int, int] = {}
    for start, end in zip(
        intervals.column("start").to_pylist(), intervals.column("end").to_pylist(), strict=True
    ):
        w = start // window_ns * window_ns
        while w < end:
            part = min(end, w + window_ns) - max(start, w)
            if part > 0:
                out[w] = out.get(w, 0) + part
            w += window_ns
    return out


# --------------------------------------------------------------------------- generated traffic


def traffic(
    rng: np.random.Generator, rows: int, window_ns: int, hold_ns: int, start_ns: int = 0
) -> pa.Table:
    """A message table as the DBC codec writes it, with what rollups must get right: gaps
    short and longer than the hold, equal times, times exactly on window edges, multiplexed
    signals (null where not selected), NaN, integers, booleans, a text column; rows unsorted."""
    kind = rng.random(rows)
    gaps = np.where(
        kind < 0.1,
        0,
        np.where(
            kind < 0.15,
            rng.integers(hold_ns, 3 * hold_ns, rows),
            rng.integers(1, max(2, window_ns // 3), rows),
        ),
    )
    ts = start_ns + np.cumsum(gaps)
    edge = rng.random(rows) < 0.1
    ts = np.where(edge, ts // window_ns * window_ns, ts)
    ts.sort()
    mux = rng.integers(0, 2, rows).astype(bool)
    speed = np.round(rng.normal(50, 20, rows), 1)
    speed[rng.random(rows) < 0.05] = np.nan
    table = pa.table(
        {
            "ts": pa.array(ts, pa.int64()),
            "bus": pa.array(rng.choice(["can0", "can1"], rows)),
            "topic": pa.array(["vehicle/V/canp/can0"] * rows),
            "Speed": pa.array(speed, pa.float64()),
            "Gear": pa.array(rng.integers(-1, 6, rows), pa.int8()),
            "Level": pa.array(rng.integers(0, 4, rows), pa.uint8(), mask=mux),
            "Temp": pa.array(rng.normal(20, 5, rows).round(2), pa.float32(), mask=~mux),
            "Brake": pa.array(rng.random(rows) < 0.3, pa.bool_()),
            "Label": pa.array(rng.choice(["a", "b"], rows)),
        }
    )
    return table.take(pa.array(rng.permutation(rows)))


def split_points(rng: np.random.Generator, rows: int, pieces: int) -> list[int]:
    """Sorted cut positions (possibly equal, possibly at the ends) into ``rows`` rows."""
    return sorted(int(c) for c in rng.integers(0, rows + 1, pieces - 1))


def spans(table: pa.Table, cuts: Sequence[int], rng: np.random.Generator) -> list[pa.Table]:
    """``table`` sorted by time and cut at ``cuts``, each span's rows shuffled."""
    ordered = table.take(pa.array(np.argsort(table.column("ts").to_numpy(), kind="stable")))
    bounds = [0, *cuts, ordered.num_rows]
    out = []
    for lo, hi in itertools.pairwise(bounds):
        part = ordered.slice(lo, hi - lo)
        out.append(part.take(pa.array(rng.permutation(part.num_rows))))
    return out
