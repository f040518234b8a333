"""Compaction: the sealed files of one aggregate written as one Parquet stream, into a file (the
spool) or cut into parts of ``part_size`` bytes as it is written (memory: one part plus one row
group, never the object).

Each source row group is read once and cast to the first file's schema; they are gathered into row
groups of :data:`ROW_GROUP_ROWS` rows (fewer when :data:`ROW_GROUP_BYTES` of them are held, and at
the end), whatever the files' own row groups were: a second of CANP is a few hundred rows, which
would make a poor row group for the lake and a slow one to write.

The output is a pure function of the input files (same writer, same settings), so compacting
again after a crash gives the same bytes: parts that landed before are recognised by their MD5.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

__all__ = ["ROW_GROUP_BYTES", "ROW_GROUP_ROWS", "PartSink", "compact", "replay", "write"]

#: Rows per row group of an aggregate (the last may be shorter).
ROW_GROUP_ROWS = 65536
#: A row group is written early once its rows take this many bytes in memory.
ROW_GROUP_BYTES = 64 << 20
_READ_CHUNK = 1 << 20

#: Receives each part: its number (from 1) and bytes.
Emit = Callable[[int, bytes], None]


class PartSink(io.RawIOBase):
    """A write-only stream that hands out ``part_size`` byte parts (the last may be shorter) and
    keeps the SHA-256, size and part MD5s of everything written. Once ``emit`` raised, every later
    write raises the same error and emits nothing (the Parquet writer, closing, writes its footer:
    that must not send the failed part's bytes again as the next part)."""

    def __init__(self, part_size: int, emit: Emit) -> None:
        super().__init__()
        self.part_size = part_size
        self._emit = emit
        self._buf = bytearray()
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.md5s: list[bytes] = []
        self._failed: BaseException | None = None

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.size

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self._failed is not None:
            raise self._failed
        data = bytes(b)
        self.sha256.update(data)
        self.size += len(data)
        self._buf += data
        while len(self._buf) >= self.part_size:
            self._part(bytes(self._buf[: self.part_size]))
            del self._buf[: self.part_size]
        return len(data)

    def finish(self) -> None:
        if self._failed is not None:
            raise self._failed
        if self._buf or not self.md5s:
            self._part(bytes(self._buf))
            self._buf.clear()

    def _part(self, data: bytes) -> None:
        self.md5s.append(hashlib.md5(data, usedforsecurity=False).digest())
        try:
            self._emit(len(self.md5s), data)
        except BaseException as exc:
            self._failed = exc
            raise

    def multipart_etag(self) -> str:
        """The ETag S3 gives the completed multipart object."""
        joined = hashlib.md5(b"".join(self.md5s), usedforsecurity=False).hexdigest()
        return f"{joined}-{len(self.md5s)}"


def write(paths: Sequence[Path], out: str | PartSink) -> None:
    """Write the rows of ``paths`` in order to ``out`` (a file name, or a stream), in row groups of
    :data:`ROW_GROUP_ROWS` rows, schema and key-value metadata of the first file."""
    import pyarrow.parquet as pq  # noqa: PLC0415 - heavy

    schema = pq.ParquetFile(paths[0]).schema_arrow
    held: list[pa.Table] = []
    rows = nbytes = 0
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for path in paths:
            pf = pq.ParquetFile(path, pre_buffer=True)
            for i in range(pf.num_row_groups):
                table = pf.read_row_group(i, use_threads=False)
                if not table.schema.equals(schema, check_metadata=True):
                    table = table.cast(schema)
                held.append(table)
                rows, nbytes = rows + table.num_rows, nbytes + table.nbytes
                if rows >= ROW_GROUP_ROWS or nbytes >= ROW_GROUP_BYTES:
                    held, rows, nbytes = _row_groups(writer, held, nbytes >= ROW_GROUP_BYTES)
        if held:
            _row_groups(writer, held, True)


def _row_groups(
    writer: pq.ParquetWriter, held: list[pa.Table], everything: bool
) -> tuple[list[pa.Table], int, int]:
    """Write the whole row groups ``held`` makes (``everything``: the rest too); what is left."""
    import pyarrow as pa  # noqa: PLC0415

    table = pa.concat_tables(held)
    n = table.num_rows if everything else table.num_rows - table.num_rows % ROW_GROUP_ROWS
    writer.write_table(table.slice(0, n), row_group_size=ROW_GROUP_ROWS)
    rest = table.slice(n)
    return ([rest], rest.num_rows, rest.nbytes) if rest.num_rows else ([], 0, 0)


def compact(paths: Sequence[Path], sink: PartSink) -> None:
    """:func:`write` ``paths`` into ``sink``, then :meth:`PartSink.finish`."""
    write(paths, sink)
    sink.finish()


def replay(path: Path, sink: PartSink) -> None:
    """The bytes of ``path`` (a spooled aggregate) into ``sink``, then :meth:`PartSink.finish`."""
    with path.open("rb") as f:
        while chunk := f.read(_READ_CHUNK):
            sink.write(chunk)
    sink.finish()
