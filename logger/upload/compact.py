"""Compaction: the sealed files of one aggregate written as one Parquet stream, cut into parts of
``part_size`` bytes as it is written (memory: one part plus one row group, never the object).

The output is a pure function of the input files (same writer, same settings), so compacting
again after a crash gives the same bytes: parts that landed before are recognised by their MD5.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["PartSink", "compact"]

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


def compact(paths: Sequence[Path], sink: PartSink) -> None:
    """Write the rows of ``paths`` in order, one row group per input row group, schema and
    key-value metadata of the first file, then :meth:`PartSink.finish`."""
    import pyarrow.parquet as pq  # noqa: PLC0415 - heavy

    schema = pq.ParquetFile(paths[0]).schema_arrow
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for path in paths:
            pf = pq.ParquetFile(path)
            for i in range(pf.num_row_groups):
                writer.write_table(pf.read_row_group(i).cast(schema))
    sink.finish()
