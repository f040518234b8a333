"""Answering query commands from files, batches being written and the ring, with no gap or duplicate.

The snapshot is taken under the exchange's lock: the list of published files, the batches the
writer holds and the ring's contents at one instant. The writer publishes a batch's files and
drops the batch from its pending list in one step under that same lock, so every message is in
exactly one of the three places. Reading files and encoding memory happen outside the lock.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from logger.errors import Code, QueryError, SdvLoggerError, StoreError
from logger.message import MessageBatch
from logger.plugin import Query, StreamPlugin
from logger.store.layout import StoredFile
from logger.store.store import ParquetStore

log = logging.getLogger(__name__)
END_MARK = b"\x0b\xad"


class Source(Protocol):
    """What a query reads: a plugin, a store, and (for a live exchange) memory."""

    name: str
    plugin: StreamPlugin
    store: ParquetStore

    def snapshot(
        self, table: str, start_ns: int, end_ns: int
    ) -> tuple[list[StoredFile], list[MessageBatch]]: ...


@dataclass
class StoreSource:
    """An offline store directory: files only."""

    name: str
    plugin: StreamPlugin
    store: ParquetStore

    def snapshot(
        self, table: str, start_ns: int, end_ns: int
    ) -> tuple[list[StoredFile], list[MessageBatch]]:
        return self.store.files(table, start_ns, end_ns), []


@dataclass
class Outcome:
    disk: Code = Code.NONE
    memory: Code = Code.NONE
    messages: list[str] = field(default_factory=list)

    def end_frame(self) -> bytes:
        text = f"{int(self.disk)},{int(self.memory)}"
        if self.messages:
            text += "," + "; ".join(self.messages)
        return END_MARK + text.encode("utf-8", "replace")


def end_frame(disk: Code, memory: Code, message: str | None = None) -> bytes:
    return Outcome(disk, memory, [message] if message else []).end_frame()


def to_ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _cut(table: pa.Table, column: str, start_ns: int, end_ns: int) -> pa.Table:
    col = table.column(column)
    mask = pc.and_(pc.greater_equal(col, start_ns), pc.less_equal(col, end_ns))
    return table.filter(mask)


def _in_order(table: pa.Table, column: str) -> pa.Table:
    col = table.column(column)
    if table.num_rows < 2:
        return table
    if pc.all(pc.greater_equal(col.slice(1), col.slice(0, table.num_rows - 1))).as_py():
        return table
    return table.take(pc.sort_indices(col))


class Answerer:
    """Runs one command against one source and yields reply frames, ending with the end frame."""

    def __init__(self, source: Source, lock: threading.Condition | None = None) -> None:
        self.source = source
        self._lock = lock

    def answer(self, query: Query) -> Iterator[bytes]:
        outcome = Outcome()
        remaining = query.limit
        if remaining == 0:
            yield outcome.end_frame()
            return
        parts = self._parts(query, outcome)
        if not query.is_async and not self.source.plugin.ordered_files:
            parts = iter([self._gather(parts, query)])
        try:
            for table in parts:
                for decoded in self.source.plugin.decode([table], query):
                    frame = decoded if remaining is None else decoded.slice(0, remaining)
                    if remaining is not None:
                        remaining -= frame.num_rows
                    if frame.num_rows:
                        yield to_ipc(frame)
                    if remaining == 0:
                        break
                if remaining == 0:
                    break
        except SdvLoggerError as exc:
            outcome.messages.append(f"decode failed: {exc}")
            outcome.memory = Code.MEMORY_DECODE
            if outcome.disk is Code.OK:
                outcome.disk = Code.FILE_DATA_DECODE
        yield outcome.end_frame()

    def _gather(self, parts: Iterator[pa.Table], query: Query) -> pa.Table:
        tables = list(parts)
        if not tables:
            return pa.table({})
        return _in_order(pa.concat_tables(tables, promote_options="permissive"), query.time_column)

    def _parts(self, q: Query, outcome: Outcome) -> Iterator[pa.Table]:
        """Tables cut to [start, end] in time order: disk first (by file), then memory."""
        if self._lock is not None:
            with self._lock:
                files, memory = self.source.snapshot(q.table, q.start_ns, q.end_ns)
        else:
            files, memory = self.source.snapshot(q.table, q.start_ns, q.end_ns)
        store = self.source.store
        wanted = q.limit
        with store.lease(files):
            for f in files:
                try:
                    table = store.read(f, q.time_column, q.start_ns, q.end_ns)
                except FileNotFoundError:
                    continue  # removed by retention after the snapshot
                except StoreError as exc:
                    outcome.disk = Code.FILE_DECODE
                    outcome.messages.append(str(exc))
                    continue
                if table.num_rows:
                    if outcome.disk is Code.NONE:
                        outcome.disk = Code.OK
                    yield table
                    if wanted is not None:
                        wanted -= table.num_rows
                        if wanted <= 0:
                            return
        batch = MessageBatch.concat([b for b in memory if len(b)])
        if not len(batch):
            return
        try:
            chunks = self.source.plugin.encode(batch)
        except Exception as exc:  # a plugin bug answers code 6, it does not kill the channel
            outcome.memory = Code.MEMORY_DECODE
            outcome.messages.append(f"memory decode failed: {exc}")
            return
        for chunk in chunks:
            if chunk.name == q.table:
                table = _in_order(
                    _cut(chunk.table, q.time_column, q.start_ns, q.end_ns), q.time_column
                )
                if table.num_rows:
                    outcome.memory = Code.OK
                    yield table


def parse_for(plugin: StreamPlugin, text: str) -> Query:
    """Parse with the plugin's grammar; QueryErrors pass through, anything else is a bad command."""
    try:
        return plugin.parse_command(text)
    except QueryError:
        raise
    except Exception as exc:
        raise QueryError(f"cannot parse command: {exc}", Code.BAD_COMMAND) from exc
