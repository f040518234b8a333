"""The RAW stream plugin: opaque payloads stored as ``key``, ``topic``, ``payload``.

Queries select by time, ``topic=`` (MQTT filters; applied to memory and files alike by
:class:`logger.query.answer.Answerer`, on the ``topic`` column RAW has always stored) and ``limit=``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from logger.core.message import MessageBatch
from logger.core.payloads import binary_array
from logger.core.stream_ids import stream_id
from logger.store.chunk import TableChunk
from logger.store.split import time_metadata
from logger.streams.plugin import Query, StreamPlugin, frame_slices, parse_basic

RAW_SCHEMA = pa.schema(
    [
        pa.field(
            "key",
            pa.int64(),
            metadata=time_metadata(doc="capture key: arrival time, strictly increasing"),
        ),
        pa.field("topic", pa.string()),
        pa.field("payload", pa.binary()),
    ]
)


class RawPlugin(StreamPlugin):
    """Every message as it came, keyed by its capture key; filters on the key and the topic."""

    id = stream_id("raw")
    name = "raw"

    def encode(self, batch: MessageBatch) -> list[TableChunk]:
        table = pa.table(
            [
                pa.array(batch.keys, pa.int64()),
                pa.array(batch.topics, pa.string()),
                binary_array(batch.payloads),
            ],
            schema=RAW_SCHEMA,
        )
        return [TableChunk("raw", table, "key")]

    def parse_command(self, text: str) -> Query:
        cmd, limit = parse_basic(text, frozenset({"topic", "limit"}))
        return Query(cmd, "raw", "key", limit)

    def decode(self, tables: Iterable[pa.Table], query: Query) -> Iterator[pa.Table]:
        for table in tables:
            yield from frame_slices(table)
