from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from logger.store.chunk import TableChunk, WriteHints
from tests.support.store import BASE_NS, make_store, write_published


def test_rows_come_back_in_their_written_order_even_when_sort_keys_tie(tmp_path: Path) -> None:
    store = make_store(tmp_path, row_group_rows=4)
    ts = [BASE_NS, BASE_NS, BASE_NS + 1, BASE_NS + 1, BASE_NS + 1, BASE_NS + 2, BASE_NS + 2]
    ids = [5, 3, 9, 1, 5, 3, 3]
    table = pa.table(
        {"ts": pa.array(ts, pa.int64()), "id": pa.array(ids, pa.uint32()), "n": list(range(7))}
    )
    hints = WriteHints(sort_by=("id", "ts"), column_encoding={"ts": "DELTA_BINARY_PACKED"})
    [f] = write_published(store, [TableChunk("frames", table, "ts", hints)])
    back = store.read(f, "ts", BASE_NS, BASE_NS + 10)
    assert back.column("n").to_pylist() == list(range(7))  # ties (same ts) keep their order too
    assert back.column_names == ["ts", "id", "n"]
    window = store.read(f, "ts", BASE_NS + 1, BASE_NS + 1)
    assert window.column("n").to_pylist() == [2, 3, 4]
