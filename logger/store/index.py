"""The in-memory index of an exchange's stored files: per table, sorted by ``(first_ns, seq)``.

Thread-safe (one lock). Adding files is separate from writing them, so a caller can make durable
files visible together with its own state. Leases keep retention away from files being read.
"""

from __future__ import annotations

import heapq
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from logger.store.layout import StoredFile

_BEFORE_ALL = -(1 << 64)
_AFTER_ALL = 1 << 64
_INSERT_LIMIT = 64  # more files than this out of order: merge by sorting instead of inserting


def _key(file: StoredFile) -> tuple[int, int]:
    return file.key


class _SortedFiles:
    """Files sorted by ``(first_ns, seq)`` with a parallel key list for bisection."""

    def __init__(self) -> None:
        self.keys: list[tuple[int, int]] = []
        self.files: list[StoredFile] = []
        self.max_span = 0

    def add(self, new: list[StoredFile]) -> None:
        """Add files (``new`` sorted): appended, inserted one by one, or merged by a sort."""
        if not new:
            return
        self.max_span = max(self.max_span, *(f.last_ns - f.first_ns for f in new))
        if not self.keys or self.keys[-1] < new[0].key:
            self.files.extend(new)
            self.keys.extend(f.key for f in new)
        elif len(new) <= _INSERT_LIMIT:
            for f in new:
                i = bisect_right(self.keys, f.key)
                self.keys.insert(i, f.key)
                self.files.insert(i, f)
        else:
            self.files = sorted(self.files + new, key=_key)
            self.keys = [f.key for f in self.files]

    def remove(self, file: StoredFile) -> bool:
        i = bisect_left(self.keys, file.key)
        if i < len(self.files) and self.files[i] == file:
            del self.keys[i]
            del self.files[i]
            return True
        return False

    def overlapping(self, start_ns: int, end_ns: int) -> list[StoredFile]:
        """Files whose ``[first_ns, last_ns]`` overlaps ``[start_ns, end_ns]``, in order."""
        lo = bisect_left(self.keys, (start_ns - self.max_span, _BEFORE_ALL))
        hi = bisect_right(self.keys, (end_ns, _AFTER_ALL))
        return [f for f in self.files[lo:hi] if f.last_ns >= start_ns]

    def after(self, key: tuple[int, int] | None, limit: int) -> list[StoredFile]:
        lo = 0 if key is None else bisect_right(self.keys, key)
        return self.files[lo : lo + limit]


class StoreIndex:
    """Stored files of one exchange, by table."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[str, _SortedFiles] = {}
        self._all = _SortedFiles()
        self._paths: set[Path] = set()
        self._bytes = 0
        self._leases: dict[Path, int] = {}

    def add(self, files: Iterable[StoredFile]) -> None:
        """Make files visible; files already indexed (same path) are ignored."""
        with self._lock:
            new = sorted({f.path: f for f in files if f.path not in self._paths}.values(), key=_key)
            if not new:
                return
            by_table: dict[str, list[StoredFile]] = {}
            for f in new:
                by_table.setdefault(f.table, []).append(f)
            for table, table_files in by_table.items():
                self._tables.setdefault(table, _SortedFiles()).add(table_files)
            self._all.add(new)
            self._paths.update(f.path for f in new)
            self._bytes += sum(f.size for f in new)

    def remove(self, file: StoredFile, *, unless_leased: bool = False) -> bool:
        """Drop ``file``; with ``unless_leased`` a leased file stays. True if dropped."""
        with self._lock:
            if file.path not in self._paths or (unless_leased and self._leases.get(file.path)):
                return False
            table = self._tables[file.table]
            table.remove(file)
            if not table.files:
                del self._tables[file.table]
            self._all.remove(file)
            self._paths.discard(file.path)
            self._bytes -= file.size
            return True

    def files(self, table: str, start_ns: int, end_ns: int) -> list[StoredFile]:
        """Files of ``table`` whose name range overlaps ``[start_ns, end_ns]``, oldest first."""
        with self._lock:
            entry = self._tables.get(table)
            return [] if entry is None else entry.overlapping(start_ns, end_ns)

    def tables(self) -> list[str]:
        with self._lock:
            return sorted(self._tables)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._paths)

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return self._bytes

    def totals(self) -> tuple[int, int]:
        """``(file count, total bytes)`` read together."""
        with self._lock:
            return len(self._paths), self._bytes

    def oldest(self, after: tuple[int, int] | None = None, limit: int = 256) -> list[StoredFile]:
        """Up to ``limit`` files across tables, oldest first, after the key ``after``."""
        with self._lock:
            return self._all.after(after, limit)

    def newest(self, n: int) -> list[StoredFile]:
        """The ``n`` most recently written files (highest ``seq``) across tables, newest first."""
        with self._lock:
            return heapq.nlargest(n, self._all.files, key=lambda f: f.seq)

    @contextmanager
    def lease(self, files: Iterable[StoredFile]) -> Iterator[list[StoredFile]]:
        """Hold ``files`` against retention; yields those still indexed (the ones leased)."""
        with self._lock:
            held = [f for f in files if f.path in self._paths]
            for f in held:
                self._leases[f.path] = self._leases.get(f.path, 0) + 1
        try:
            yield held
        finally:
            with self._lock:
                for f in held:
                    left = self._leases[f.path] - 1
                    if left:
                        self._leases[f.path] = left
                    else:
                        del self._leases[f.path]
