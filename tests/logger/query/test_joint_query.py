"""Queries across tables: every joint table is read over [start - lead, end] and answered at once."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa

from logger.core.command import parse_command
from logger.core.config import ExchangeConfig, ParquetConfig
from logger.core.errors import Code
from logger.query.answer import Answerer, StoreSource
from logger.query.client import parse_end, read_frame
from logger.store.store import ParquetStore
from logger.streams.plugin import Query, TableChunk
from logger.streams.raw import RawPlugin

MS = 1_000_000


class TwoTables(RawPlugin):
    id = 44
    name = "two"

    def parse_command(self, text: str) -> Query:
        return Query(parse_command(text), "a", "ts", None, joint_tables=("a", "b"), lead_ns=5 * MS)

    def answer_joint(self, tables: Mapping[str, pa.Table], query: Query) -> pa.Table:
        return pa.table(
            {name: [str(t.column("ts").to_pylist())] for name, t in sorted(tables.items())}
        )


def test_joint_tables_are_read_with_lead_in_and_answered_at_once(tmp_path: Path) -> None:
    store = ParquetStore(ParquetConfig(dir=tmp_path), "x", {})
    store.recover()
    for first in (0, 100):  # two batches, each writing both tables
        chunks = [
            TableChunk(
                name,
                pa.table(
                    {"ts": pa.array([(first + k) * MS for k in range(0, 50, 10)], pa.int64())}
                ),
                "ts",
            )
            for name in ("a", "b")
        ]
        store.publish(store.write(chunks))
    plugin = TwoTables(ExchangeConfig(name="x", stream="two"))
    frames = list(
        Answerer(StoreSource("x", plugin, store)).answer(plugin.parse_command("sync-35-120"))
    )
    assert parse_end(frames[-1])[:2] == (Code.OK, Code.NONE)
    table = read_frame(frames[0])
    expected = str([30 * MS, 40 * MS, 100 * MS, 110 * MS, 120 * MS])  # 30 ms: the 5 ms lead-in
    assert table.column("a").to_pylist() == [expected] and table.column("b").to_pylist() == [
        expected
    ]
