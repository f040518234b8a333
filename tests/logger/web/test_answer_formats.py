"""The Arrow answer passes the channel's record batches on as they are, and still makes one valid
IPC stream when frames differ in schema or use dictionaries."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pyarrow as pa
import pytest

from logger.core.errors import Code, QueryError
from logger.query.answer import end_frame, to_ipc
from logger.web.answer_formats import End, arrow_stream, read_ahead


def _frames(*tables: pa.Table) -> list[bytes]:
    return [*(to_ipc(t) for t in tables), end_frame(Code.OK, Code.OK)]


def _read(frames: list[bytes]) -> tuple[pa.Table, End]:
    end = End(Code.NONE, Code.NONE)
    body = b"".join(bytes(chunk) for chunk in arrow_stream(frames, end))
    return pa.ipc.open_stream(body).read_all(), end


def part(start: int, count: int) -> pa.Table:
    keys = pa.array(range(start, start + count), pa.int64())
    return pa.table({"key": keys, "payload": pa.array([b"x" * (i % 7) for i in range(count)])})


def test_frames_of_one_schema_are_one_stream_of_their_batches() -> None:
    parts = [part(0, 1000), part(1000, 10), part(1010, 500)]
    answer, end = _read(_frames(*parts))
    assert answer.equals(pa.concat_tables(parts))
    assert answer.schema.equals(parts[0].schema, check_metadata=True)
    assert [b.num_rows for b in answer.to_batches()] == [1000, 10, 500]
    assert (end.disk, end.memory) == (Code.OK, Code.OK)


def test_a_frame_of_another_schema_is_cast_to_the_first() -> None:
    wider = part(5, 3).cast(pa.schema([("key", pa.int64()), ("payload", pa.large_binary())]))
    answer, _ = _read(_frames(part(0, 5), wider))
    assert answer.schema == part(0, 1).schema
    assert answer["key"].to_pylist() == list(range(8))


@pytest.mark.parametrize("dictionary_first", [True, False])
def test_dictionary_columns_are_decoded_and_written_again(dictionary_first: bool) -> None:
    plain = pa.table({"topic": pa.array(["a", "b", "a"])})
    coded = pa.table({"topic": pa.array(["b", "c"]).dictionary_encode()})
    tables = [coded, plain, coded] if dictionary_first else [plain, coded, plain]
    answer, _ = _read(_frames(*tables))
    assert answer.column("topic").to_pylist() == [v for t in tables for v in t["topic"].to_pylist()]


def test_no_rows_is_an_empty_body_and_the_end_codes_are_kept() -> None:
    end = End()
    assert list(arrow_stream([end_frame(Code.NONE, Code.NONE, "nothing")], end)) == []
    assert (end.disk, end.memory, end.message) == (Code.NONE, Code.NONE, "nothing")


def test_read_ahead_keeps_order_and_raises_what_the_source_raises() -> None:
    frames = [bytes([i]) * 10 for i in range(50)]
    assert list(read_ahead(iter(frames), depth=2)) == frames

    def failing() -> Iterator[bytes]:
        yield b"a"
        raise QueryError("disk gone", Code.FILE_DECODE)

    got = read_ahead(failing())
    assert next(got) == b"a"
    with pytest.raises(QueryError, match="disk gone"):
        next(got)


def test_read_ahead_closes_its_source_when_let_go() -> None:
    closed = threading.Event()

    def endless() -> Iterator[bytes]:
        try:
            while True:
                yield b"frame"
        finally:
            closed.set()

    got = read_ahead(endless(), depth=2)
    assert next(got) == b"frame"
    got.close()
    assert closed.wait(5)
