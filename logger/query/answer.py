"""Answering query commands from files, batches being written and the ring, with no gap or duplicate.

The snapshot is taken under the exchange's lock: the list of published files, the batches the
writer holds and the ring's contents at one instant. The writer publishes a batch's files and
drops the batch from its pending list in one step under that same lock, so every message is in
exactly one of the three places. Reading files and encoding memory happen outside the lock.

``topic=`` is applied here, for every stream alike, to each part (memory, every file) before the
merge, by one vectorised mask (:class:`logger.core.topics.TopicFilters`) on the ``topic`` column:
every row is in exactly one part, so there is no gap and no duplicate. A file of the range with no
``topic`` column (CANP and SPI schema version 1) cannot say which rows match: it is not read, and
the answer ends with disk code 9 (file search error) and a message counting such files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa

from logger.core.errors import Code, QueryError, SdvLoggerError, StoreError
from logger.core.message import MessageBatch
from logger.core.topics import TOPIC_COLUMN, TopicFilters
from logger.store.chunk import TableChunk, in_time_order
from logger.store.layout import StoredFile
from logger.store.store import ParquetStore
from logger.streams.plugin import Query, StreamPlugin, frame_slices

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
    #: Files of the range that ``topic=`` could not search (no ``topic`` column).
    topicless_files: int = 0

    def end_frame(self) -> bytes:
        text = f"{int(self.disk)},{int(self.memory)}"
        messages = list(self.messages)
        if self.topicless_files:
            messages.append(
                f"topic=: {self.topicless_files} stored file(s) of the range were written before "
                "topics were stored (no topic column) and were not searched"
            )
        if messages:
            text += "," + "; ".join(messages)
        return END_MARK + text.encode("utf-8", "replace")


def end_frame(disk: Code, memory: Code, message: str | None = None) -> bytes:
    return Outcome(disk, memory, [message] if message else []).end_frame()


def to_ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _cut(table: pa.Table, column: str, start_ns: int, end_ns: int) -> pa.Table:
    import pyarrow.compute as pc  # noqa: PLC0415 - loaded once data flows

    col = table.column(column)
    mask = pc.and_(pc.greater_equal(col, start_ns), pc.less_equal(col, end_ns))
    return table.filter(mask)


@dataclass(frozen=True)
class Part:
    """One source of rows: ``low`` is a lower bound of its times, ``load`` reads it (None: nothing)."""

    low: int
    load: Callable[[], pa.Table | None]


def merge_in_time(parts: list[Part], column: str) -> Iterator[pa.Table]:
    """Tables in global time order from parts that may overlap in time, with bounded buffering.

    Parts are loaded in order of their lower bound; after each, the rows older than the next
    part's lower bound can no longer be preceded by anything and are emitted. Non-overlapping
    parts (RAW files, whose capture keys only grow) pass straight through.
    """
    ordered = sorted(parts, key=lambda p: p.low)
    held: pa.Table | None = None
    for index, part in enumerate(ordered):
        table = part.load()
        if table is not None and table.num_rows:
            held = (
                table
                if held is None
                else in_time_order(
                    pa.concat_tables([held, table], promote_options="permissive"), column
                )
            )
        if held is None:
            continue
        horizon = ordered[index + 1].low if index + 1 < len(ordered) else None
        if horizon is None:
            yield held
            return
        import pyarrow.compute as pc  # noqa: PLC0415 - loaded once data flows

        cut = int(pc.sum(pc.less(held.column(column), horizon)).as_py() or 0)
        if cut:
            yield held.slice(0, cut)
            held = held.slice(cut) if cut < held.num_rows else None


@dataclass(frozen=True)
class _Window:
    """One table over one time range (what a joint query reads per table)."""

    table: str
    time_column: str
    start_ns: int
    end_ns: int


def _with_time(
    columns: Sequence[str] | None, time_column: str, topics: TopicFilters | None
) -> list[str] | None:
    if columns is None:
        return None
    return list(dict.fromkeys([time_column, *columns, *([TOPIC_COLUMN] if topics else [])]))


def _project(chunks: list[TableChunk], name: str, columns: list[str] | None) -> list[TableChunk]:
    """The memory chunks of table ``name`` with only ``columns`` (those they have; None: all)."""
    picked = [c for c in chunks if c.name == name]
    if columns is None:
        return picked
    return [
        dataclasses.replace(
            c, table=c.table.select([n for n in columns if n in c.table.column_names])
        )
        for c in picked
    ]


def _given(table: pa.Table | None) -> Callable[[], pa.Table | None]:
    return lambda: table


def joint_table(parts: list[Part], column: str) -> pa.Table | None:
    """All rows of ``parts`` in time order, as :func:`merge_in_time` orders them (None: no rows).

    Each part loads a table in time order (as the Answerer's file and memory parts do). When no
    part overlaps the next (the usual case: a table's files are written in time order) the answer
    is their concatenation, without re-buffering or sorting; otherwise :func:`merge_in_time`
    orders them.
    """
    ordered = sorted(parts, key=lambda p: p.low)
    loaded = [part.load() for part in ordered]
    tables = [t for t in loaded if t is not None and t.num_rows]
    if not tables:
        return None
    times = [t.column(column) for t in tables]
    bounds = [(col[0].as_py(), col[-1].as_py()) for col in times]
    if not all(prev[1] <= nxt[0] for prev, nxt in itertools.pairwise(bounds)):
        given = [Part(p.low, _given(t)) for p, t in zip(ordered, loaded, strict=True)]
        tables = list(merge_in_time(given, column))
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")


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
        if query.joint_tables:
            yield from self._answer_joint(query, outcome)
            return
        topics = TopicFilters.of(query.command.topics)
        files, memory = self._snapshot([query.table], query.start_ns, query.end_ns)
        in_memory = self._memory_part(query, self._encode_memory(memory, outcome), outcome, topics)
        with self.source.store.lease(files) as held:
            parts = [*in_memory, *self._file_parts(query, held, outcome, None, topics)]
            try:
                for table in merge_in_time(parts, query.time_column):
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

    def _snapshot(
        self, tables: list[str], start_ns: int, end_ns: int
    ) -> tuple[list[StoredFile], list[MessageBatch]]:
        """Files of ``tables`` and the memory batches, at one instant (under the exchange lock)."""
        with self._lock if self._lock is not None else contextlib.nullcontext():
            files: list[StoredFile] = []
            memory: list[MessageBatch] = []
            for name in tables:
                found, memory = self.source.snapshot(name, start_ns, end_ns)
                files.extend(found)
        return files, memory

    def _answer_joint(self, query: Query, outcome: Outcome) -> Iterator[bytes]:
        """Read every joint table over [start - lead, end], then let the plugin answer at once.

        Only the columns the plugin names (:meth:`StreamPlugin.joint_columns`) are read; each
        table's pieces are joined by :func:`joint_table`.
        """
        start = max(query.start_ns - query.lead_ns, -(1 << 63))
        files, memory = self._snapshot(list(query.joint_tables), start, query.end_ns)
        plugin = self.source.plugin
        wanted = plugin.joint_columns(query)
        topics = TopicFilters.of(query.command.topics)
        columns = {
            name: _with_time(
                None if wanted is None else wanted.get(name), query.time_column, topics
            )
            for name in query.joint_tables
        }
        tables: dict[str, pa.Table] = {}
        chunks = self._encode_memory(memory, outcome)
        with self.source.store.lease(files) as held:
            for name in query.joint_tables:
                window = _Window(name, query.time_column, start, query.end_ns)
                mine = [f for f in held if f.table == name]
                parts = [
                    *self._memory_part(
                        window, _project(chunks, name, columns[name]), outcome, topics
                    ),
                    *self._file_parts(window, mine, outcome, columns[name], topics),
                ]
                table = joint_table(parts, query.time_column)
                if table is not None:
                    tables[name] = table
        try:
            result = plugin.answer_joint(tables, query)
        except QueryError as exc:
            yield end_frame(exc.disk, exc.memory, str(exc))
            return
        except SdvLoggerError as exc:
            outcome.messages.append(f"decode failed: {exc}")
            outcome.memory = Code.MEMORY_DECODE
            yield outcome.end_frame()
            return
        if query.limit is not None:
            result = result.slice(0, query.limit)
        for frame in frame_slices(result):
            yield to_ipc(frame)
        yield outcome.end_frame()

    def _file_parts(
        self,
        q: Query | _Window,
        files: list[StoredFile],
        outcome: Outcome,
        columns: Sequence[str] | None = None,
        topics: TopicFilters | None = None,
    ) -> list[Part]:
        """One part per (leased) file over ``q``'s range, reading ``columns`` (those the file
        has; None: all), its rows cut to ``topics``. A file that cannot be read answers code 7
        and no rows; one that ``topics`` cannot search (no topic column) code 9 and no rows."""
        store = self.source.store

        def loader(f: StoredFile) -> Callable[[], pa.Table | None]:
            def load() -> pa.Table | None:
                try:
                    stored = store.schema(f).names
                    if topics is not None and TOPIC_COLUMN not in stored:
                        outcome.topicless_files += 1
                        if outcome.disk in (Code.NONE, Code.OK):
                            outcome.disk = Code.FILE_SEARCH
                        return None
                    names = None if columns is None else [c for c in columns if c in stored]
                    dictionary = [TOPIC_COLUMN] if topics is not None else []
                    table = store.read(f, q.time_column, q.start_ns, q.end_ns, names, dictionary)
                    if topics is not None:
                        table = topics.filter(table)
                except StoreError as exc:
                    outcome.disk = Code.FILE_DECODE
                    outcome.messages.append(str(exc))
                    return None
                if table.num_rows and outcome.disk is Code.NONE:
                    outcome.disk = Code.OK
                return in_time_order(table, q.time_column)

            return load

        return [Part(max(f.first_ns, q.start_ns), loader(f)) for f in files]

    def _encode_memory(self, memory: list[MessageBatch], outcome: Outcome) -> list[TableChunk]:
        """What the ring and the writer hold, encoded now (the snapshot is already taken)."""
        batch = MessageBatch.concat([b for b in memory if len(b)])
        if not len(batch):
            return []
        try:
            return self.source.plugin.encode(batch)
        except Exception as exc:  # a plugin bug answers code 6, it does not kill the channel
            outcome.memory = Code.MEMORY_DECODE
            outcome.messages.append(f"memory decode failed: {exc}")
            return []

    def _memory_part(
        self,
        q: Query | _Window,
        chunks: list[TableChunk],
        outcome: Outcome,
        topics: TopicFilters | None = None,
    ) -> list[Part]:
        tables = [
            _cut(c.table, q.time_column, q.start_ns, q.end_ns) for c in chunks if c.name == q.table
        ]
        if topics is not None:
            if any(TOPIC_COLUMN not in t.column_names for t in tables):
                outcome.memory = Code.MEMORY_DECODE
                outcome.messages.append(f"stream {self.source.plugin.name} stores no topics")
                return []
            tables = [topics.filter(t) for t in tables]
        table = (
            in_time_order(pa.concat_tables(tables, promote_options="permissive"), q.time_column)
            if tables
            else None
        )
        if table is None or not table.num_rows:
            return []
        outcome.memory = Code.OK
        import pyarrow.compute as pc  # noqa: PLC0415 - loaded once data flows

        low = int(pc.min(table.column(q.time_column)).as_py())
        return [Part(low, lambda: table)]


def parse_for(plugin: StreamPlugin, text: str) -> Query:
    """Parse with the plugin's grammar; QueryErrors pass through, anything else is a bad command."""
    try:
        return plugin.parse_command(text)
    except QueryError:
        raise
    except Exception as exc:
        raise QueryError(f"cannot parse command: {exc}", Code.BAD_COMMAND) from exc
