"""``/api/query``'s answers in the formats HTTP clients ask for, streamed frame by frame: an Arrow
IPC stream (one schema, then each frame's record batches), JSON, CSV or Parquet (a row group per
frame).

Each of the channel's frames is already an Arrow IPC stream; the Arrow answer passes their
record batch messages on as they are (no decoding, no copy) while the frames share the first
frame's schema and it has no dictionaries, and decodes and casts the others.

Each encoder takes the channel's reply frames (data frames, then the end frame) and yields bytes;
memory stays at about one frame whatever the answer's size.
"""

from __future__ import annotations

import io
import json
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any

import pyarrow as pa

from logger.core.errors import Code
from logger.query.answer import END_MARK
from logger.query.client import parse_end, read_frame
from logger.query.encodings import csv_bytes, json_rows

__all__ = ["FORMATS", "AnswerFormat", "Chunk", "End", "format_for"]

Chunk = bytes | memoryview
"""A piece of an answer's body."""


@dataclass
class End:
    """The end frame's codes and message, known once the answer is sent."""

    disk: Code = Code.OK
    memory: Code = Code.OK
    message: str | None = None


def _tables(frames: Iterable[bytes], end: End) -> Iterator[pa.Table]:
    for frame in frames:
        if frame[: len(END_MARK)] == END_MARK:
            end.disk, end.memory, end.message = parse_end(frame)
        else:
            yield read_frame(frame)


def _drain(sink: io.BytesIO) -> bytes:
    data = sink.getvalue()
    sink.seek(0)
    sink.truncate()
    return data


def _written(
    frames: Iterable[bytes], end: End, open_writer: Callable[[io.BytesIO, pa.Schema], Any]
) -> Iterator[bytes]:
    """The tables of ``frames`` through one writer (made with the first table's schema)."""
    sink = io.BytesIO()
    writer: Any = None
    schema: pa.Schema | None = None
    for table in _tables(frames, end):
        if writer is None or schema is None:
            schema = table.schema
            writer = open_writer(sink, schema)
        writer.write_table(table if table.schema == schema else table.cast(schema))
        yield _drain(sink)
    if writer is not None:
        writer.close()
        yield _drain(sink)


_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"
"""The end-of-stream marker an IPC stream writer closes with."""


def _schema_message(frame: bytes) -> tuple[int, pa.Schema]:
    """The length of the schema message a frame (an IPC stream) starts with, and the schema."""
    reader = pa.BufferReader(frame)
    message = pa.ipc.read_message(reader)
    return reader.tell(), pa.ipc.read_schema(message)


_AHEAD = 4
"""Frames read ahead of the one being sent."""


def read_ahead(frames: Iterable[bytes], depth: int = _AHEAD) -> Generator[bytes]:
    """``frames``, read up to ``depth`` ahead on a thread of their own, so that the store is
    read while the previous frames are sent (the channel's socket does this for it). The thread
    stops, and closes ``frames``, when this iterator is closed or let go."""
    ready: queue.Queue[tuple[bool, Any]] = queue.Queue(depth)
    stop = threading.Event()

    def put(item: tuple[bool, Any]) -> bool:
        """Hand ``item`` over unless the reader is gone."""
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        it = iter(frames)
        try:
            if all(put((True, frame)) for frame in it):
                put((False, None))
        except BaseException as exc:  # handed to the reader, raised there
            put((False, exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    threading.Thread(target=produce, name="answer-ahead", daemon=True).start()
    try:
        while True:
            more, item = ready.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()


def arrow_stream(frames: Iterable[bytes], end: End) -> Iterator[Chunk]:
    """One IPC stream: the first frame's schema, then every frame's record batches."""
    it = read_ahead(frames)
    head: bytes | None = None
    schema: pa.Schema | None = None
    for frame in it:
        if frame[: len(END_MARK)] == END_MARK:
            end.disk, end.memory, end.message = parse_end(frame)
            continue
        size, frame_schema = _schema_message(frame)
        if head is None:
            if any(pa.types.is_dictionary(f.type) for f in frame_schema):
                yield from _written(chain([frame], it), end, pa.ipc.new_stream)
                return
            head, schema = frame[:size], frame_schema
            yield head
        stop = len(frame) - len(_EOS) if frame.endswith(_EOS) else len(frame)
        if frame[:size] == head:
            yield memoryview(frame)[size:stop]
        else:
            table = read_frame(frame)
            yield from (memoryview(b.serialize()) for b in table.cast(schema).to_batches())
    if head is not None:
        yield _EOS


def json_object(frames: Iterable[bytes], end: End) -> Iterator[bytes]:
    yield b'{"rows": ['
    first = True
    for table in _tables(frames, end):
        for row in json_rows(table):
            yield (b"" if first else b", ") + json.dumps(row, default=str).encode()
            first = False
    tail = {"disk": int(end.disk), "memory": int(end.memory), "message": end.message}
    yield b"], " + json.dumps(tail)[1:].encode()


def csv_text(frames: Iterable[bytes], end: End) -> Iterator[bytes]:
    header = True
    for table in _tables(frames, end):
        yield csv_bytes(table, header=header)
        header = False


def parquet_file(frames: Iterable[bytes], end: End) -> Iterator[bytes]:
    import pyarrow.parquet as pq  # noqa: PLC0415 - only for this format

    return _written(
        frames, end, lambda sink, schema: pq.ParquetWriter(sink, schema, compression="zstd")
    )


@dataclass(frozen=True)
class AnswerFormat:
    name: str
    media_type: str
    encode: Callable[[Iterable[bytes], End], Iterator[Chunk]]


FORMATS: dict[str, AnswerFormat] = {
    f.name: f
    for f in (
        AnswerFormat("arrow", "application/vnd.apache.arrow.stream", arrow_stream),
        AnswerFormat("json", "application/json", json_object),
        AnswerFormat("csv", "text/csv", csv_text),
        AnswerFormat("parquet", "application/vnd.apache.parquet", parquet_file),
    )
}
_BY_MEDIA = {f.media_type: f for f in FORMATS.values()}


def format_for(name: str | None, accept: str | None) -> AnswerFormat | None:
    """The format ``format=`` names, else the first the ``Accept`` header lists that we speak,
    else Arrow; None for an unknown ``format=``."""
    if name is not None:
        return FORMATS.get(name)
    for item in (accept or "").split(","):
        found = _BY_MEDIA.get(item.split(";")[0].strip())
        if found is not None:
            return found
    return FORMATS["arrow"]
