from __future__ import annotations

import numpy as np
import pyarrow as pa

from logger.query.answer import Part, merge_in_time


def part(times: list[int]) -> Part:
    table = pa.table(
        {"ts": pa.array(sorted(times), pa.int64()), "v": pa.array(sorted(times), pa.int64())}
    )
    return Part(min(times), lambda: table)


def counting(inner: Part, index: int, loaded: list[int]) -> Part:
    def load() -> pa.Table | None:
        loaded.append(index)
        return inner.load()

    return Part(inner.low, load)


def test_overlapping_parts_come_out_in_global_time_order_as_early_as_possible() -> None:
    loaded: list[int] = []
    rng = np.random.default_rng(1)
    parts = []
    for i in range(6):  # bus-like batches that overlap their neighbours in time
        times = (i * 100 + rng.integers(0, 250, 50)).tolist()
        parts.append(counting(part(times), i, loaded))
    chunks = []
    for chunk in merge_in_time(list(reversed(parts)), "ts"):
        chunks.append((len(loaded), chunk.column("ts").to_pylist()))
    out = [t for _, c in chunks for t in c]
    expected = sorted(
        t for p in parts for t in (p.load() or pa.table({"ts": []})).column("ts").to_pylist()
    )
    assert out == expected
    assert len(chunks) > 1 and chunks[0][0] < len(parts)  # rows leave before every part is loaded


def test_empty_and_missing_parts() -> None:
    assert list(merge_in_time([], "ts")) == []
    assert list(merge_in_time([Part(5, lambda: None)], "ts")) == []
    [only] = merge_in_time([Part(5, lambda: None), part([7, 6])], "ts")
    assert only.column("ts").to_pylist() == [6, 7]
