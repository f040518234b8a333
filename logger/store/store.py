"""The Parquet store of one exchange: durable writes, an index, pruned reads, retention.

Typical use::

    store = ParquetStore(cfg.parquet, "can", {"sdvlog.vin": vin, "sdvlog.plugin": "canp", ...})
    store.recover()                          # once, before anything else
    files = store.write(chunks, {"sdvlog.ledger": ledger})   # durable, not yet visible
    store.publish(files)                     # visible to files() / read() / retention
    with store.lease(store.files("frames", t0, t1)) as held:
        tables = [store.read(f, "ts", t0, t1) for f in held]
    store.enforce_retention(lambda f: f in still_needed)   # never deletes a protected file

A :class:`RetentionGuard` given to the store (the uploader's, e.g.) is asked about every file
retention would delete, and told of every file it deleted: the store knows nothing of why.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from logger.core.config import ParquetConfig
from logger.core.errors import StoreError
from logger.store.chunk import TableChunk
from logger.store.crypto import StoreCrypto
from logger.store.databases import keep_database
from logger.store.index import StoreIndex
from logger.store.layout import StoredFile
from logger.store.reader import FileReader
from logger.store.recovery import (
    TIME_UNIT_KEY,
    RecoveryReport,
    exchange_metadata,
    held_time_unit,
    scan,
    stored_exchanges,
)
from logger.store.writer import FileWriter

log = logging.getLogger(__name__)
__all__ = ["ParquetStore", "RecoveryReport", "RetentionGuard", "stored_exchanges"]

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
_RETENTION_STEP = 256


class RetentionGuard(Protocol):
    """Who else decides about retention: ``keep`` vetoes deleting a file, ``deleted`` hears of each
    file retention deleted. Called from the writer's thread, so both must be quick."""

    def keep(self, file: StoredFile) -> bool: ...

    def deleted(self, file: StoredFile) -> None: ...


class ParquetStore:
    """Stored files of one exchange under ``<cfg.dir>/<exchange>``.

    ``base_metadata`` (e.g. ``sdvlog.vin``, ``sdvlog.plugin``, ``sdvlog.schema_version``,
    ``sdvlog.topic``, ``sdvlog.dbc_name``, ``sdvlog.dbc_hash``) goes into every file's key-value
    metadata as given; the store adds ``sdvlog.exchange``, ``sdvlog.table`` and
    ``sdvlog.time_column``.
    """

    def __init__(
        self,
        cfg: ParquetConfig,
        exchange: str,
        base_metadata: Mapping[str, str],
        guard: RetentionGuard | None = None,
    ) -> None:
        self.cfg = cfg
        self.guard = guard
        self.exchange = exchange
        self.root = Path(cfg.dir) / exchange
        crypto = StoreCrypto.from_config(cfg.encryption) if cfg.encryption else None
        self._dir_lock = threading.Lock()
        self._retention_lock = threading.Lock()
        self._index = StoreIndex()
        self._reader = FileReader(crypto)
        self._writer = FileWriter(
            self.root,
            exchange,
            cfg=cfg,
            base_metadata=base_metadata,
            crypto=crypto,
            dir_lock=self._dir_lock,
        )
        self._time_unit = base_metadata.get(TIME_UNIT_KEY)
        #: pyarrow's ``FileDecryptionProperties`` for this store's key (None: not encrypted).
        self.decryption: Any = crypto.decryption_properties() if crypto else None
        self._recovered = False
        self._stuck = False

    def keep_databases(self, databases: Mapping[str, Path]) -> None:
        """Keep a copy of each database (SHA-256 → file) the exchange decodes with."""
        for sha256, source in databases.items():
            keep_database(self.root, sha256, source)

    def recover(self, read_only: bool = False) -> RecoveryReport:
        """Scan the directory: remove leftover temporaries, index every valid file.

        ``read_only`` indexes without creating or removing anything (and the store cannot write).
        """
        report = scan(self.root, read_only)
        if not read_only and report.files:
            self._check_time_unit()
        self._writer.start_seq(report.next_seq)
        self._index.add(report.files)
        if report.encrypted and self.cfg.encryption is None:
            log.warning(
                "store %s: %d encrypted file(s) but no [parquet.encryption] key to read them",
                self.root,
                report.encrypted,
            )
        log.info(
            "store %s: %d file(s), %d bytes; %d skipped, %d temporaries removed",
            self.root,
            len(report.files),
            report.total_bytes,
            len(report.skipped),
            len(report.removed_temporaries),
        )
        self._recovered = not read_only
        return report

    def _check_time_unit(self) -> None:
        """Every file of an exchange stores its times the same way (else SQL readers fail)."""
        held = held_time_unit(exchange_metadata(self.root))
        if self._time_unit is not None and held is not None and held != self._time_unit:
            raise StoreError(
                f"store {self.root}: its files hold times in {held}, this configuration in "
                f"{self._time_unit} (exchange time_unit): set time_unit = {held!r}, or use "
                "another exchange"
            )

    def write(
        self, chunks: Sequence[TableChunk], extra_metadata: Mapping[str, bytes] | None = None
    ) -> list[StoredFile]:
        """Write a batch durably (not yet visible; see :meth:`publish`). All or nothing."""
        if not self._recovered:
            raise StoreError(f"store {self.root}: call recover() before write()")
        return self._writer.write(chunks, extra_metadata or {})

    def publish(self, files: Iterable[StoredFile]) -> None:
        """Make written files visible to queries and retention."""
        self._index.add(files)

    def files(
        self, table: str, start_ns: int = INT64_MIN, end_ns: int = INT64_MAX
    ) -> list[StoredFile]:
        """Files of ``table`` whose name range overlaps ``[start_ns, end_ns]``, oldest first."""
        return self._index.files(table, start_ns, end_ns)

    def tables(self) -> list[str]:
        return self._index.tables()

    def oldest_files(
        self, after: tuple[int, int] | None = None, limit: int = _RETENTION_STEP
    ) -> list[StoredFile]:
        """Up to ``limit`` files across tables, oldest first (by ``(first_ns, seq)``), after the
        key ``after``: page through every file with ``after = page[-1].key``."""
        return self._index.oldest(after, limit)

    def newest_files(self, n: int) -> list[StoredFile]:
        """The ``n`` most recently written files (highest seq) across tables, newest first."""
        return self._index.newest(n)

    @property
    def file_count(self) -> int:
        return self._index.count

    @property
    def total_bytes(self) -> int:
        return self._index.total_bytes

    def lease(self, files: Iterable[StoredFile]) -> AbstractContextManager[list[StoredFile]]:
        """Keep ``files`` from retention while reading; yields those still stored."""
        return self._index.lease(files)

    def read(
        self,
        file: StoredFile,
        time_column: str,
        start_ns: int,
        end_ns: int,
        columns: Sequence[str] | None = None,
        dictionary: Sequence[str] = (),
    ) -> pa.Table:
        """Rows of ``file`` with ``time_column`` in ``[start_ns, end_ns]`` (inclusive); the
        ``dictionary`` columns as Arrow dictionaries."""
        return self._reader.read(file.path, time_column, start_ns, end_ns, columns, dictionary)

    def row_groups(
        self, file: StoredFile, time_column: str, start_ns: int, end_ns: int
    ) -> list[int]:
        """The row groups :meth:`read` reads for this range (pruned by time statistics)."""
        return self._reader.row_groups(file.path, time_column, start_ns, end_ns)

    def read_all(
        self, table: str, time_column: str, start_ns: int, end_ns: int
    ) -> Iterator[pa.Table]:
        """Rows of every file of ``table`` in the range, file by file, under a lease."""
        with self.lease(self.files(table, start_ns, end_ns)) as held:
            for file in held:
                yield self.read(file, time_column, start_ns, end_ns)

    def read_metadata(self, file: StoredFile) -> dict[bytes, bytes]:
        """The file's key-value metadata (without ``ARROW:schema``)."""
        return self._reader.key_value_metadata(file.path)

    def schema(self, file: StoredFile) -> pa.Schema:
        return self._reader.schema(file.path)

    def enforce_retention(self, protected: Callable[[StoredFile], bool]) -> list[StoredFile]:
        """Delete the oldest files until within ``file_count`` and ``file_size``.

        Never deletes a file for which ``protected`` (or the store's guard's ``keep``) is true or
        which is leased. Returns the deleted files, oldest first.
        """
        guard = self.guard
        deleted: list[StoredFile] = []
        with self._retention_lock:
            count, total = self._index.totals()
            cursor: tuple[int, int] | None = None
            while count > self.cfg.file_count or total > self.cfg.file_size:
                batch = self._index.oldest(cursor, _RETENTION_STEP)
                if not batch:
                    if not self._stuck:
                        log.warning(
                            "store %s: over its limits (%d files, %d bytes) but every file left "
                            "is protected or leased",
                            self.root,
                            count,
                            total,
                        )
                    self._stuck = True
                    break
                for file in batch:
                    cursor = file.key
                    if count <= self.cfg.file_count and total <= self.cfg.file_size:
                        break
                    if protected(file) or (guard is not None and guard.keep(file)):
                        continue
                    if not self._index.remove(file, unless_leased=True):
                        continue
                    self._delete(file)
                    if guard is not None:
                        guard.deleted(file)
                    deleted.append(file)
                    count, total = count - 1, total - file.size
            else:
                self._stuck = False
        if deleted:
            log.info("store %s: retention deleted %d file(s)", self.root, len(deleted))
        return deleted

    def _delete(self, file: StoredFile) -> None:
        self._reader.forget(file.path)
        try:
            file.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.error("store: cannot delete %s: %s", file.path, exc.strerror or exc)
            return
        with self._dir_lock:
            directory = file.path.parent
            for _ in range(2):  # hour=H, then date=YYYY-MM-DD, when empty
                try:
                    directory.rmdir()
                except OSError:
                    break
                directory = directory.parent
