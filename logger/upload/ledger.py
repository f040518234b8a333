"""The durable upload ledger: SQLite (WAL, ``synchronous = NORMAL``: every commit survives the
process being killed; a power cut may forget the last commits, which costs at most a second PUT
of the same bytes to the same key, never a lost file or a second object) in the state directory.

- ``uploaded``: a file counts as uploaded once its object was verified (size and SHA-256): key,
  size, SHA-256, when; the row goes when retention deletes the file.
- ``intents``: written before a PUT, removed with the ``uploaded`` row. A file with an intent may
  already be in the bucket (the process died after the PUT): it is checked (HEAD) before any PUT.
- ``lost``: files retention deleted (``on_full = "drop_oldest"``) or that vanished before they
  were uploaded: "recorded but never uploaded".
- ``conflicts``: files whose key holds other bytes in the bucket (never overwritten).
- ``status``: the last error and the counters, for ``sdvlog upload status``.

Files are named by ``(exchange, path relative to the exchange's directory)``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LEDGER_NAME", "Ledger", "LedgerTotals"]

LEDGER_NAME = "upload-ledger.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploaded (
    exchange TEXT NOT NULL, path TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL,
    sha256 TEXT NOT NULL, uploaded_ns INTEGER NOT NULL, PRIMARY KEY (exchange, path));
CREATE TABLE IF NOT EXISTS intents (
    exchange TEXT NOT NULL, path TEXT NOT NULL, key TEXT NOT NULL, sha256 TEXT NOT NULL,
    PRIMARY KEY (exchange, path));
CREATE TABLE IF NOT EXISTS lost (
    exchange TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, reason TEXT NOT NULL,
    lost_ns INTEGER NOT NULL, PRIMARY KEY (exchange, path));
CREATE TABLE IF NOT EXISTS conflicts (
    exchange TEXT NOT NULL, path TEXT NOT NULL, key TEXT NOT NULL, sha256 TEXT NOT NULL,
    PRIMARY KEY (exchange, path));
CREATE TABLE IF NOT EXISTS status (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class LedgerTotals:
    uploaded_files: int
    uploaded_bytes: int
    lost_files: int
    lost_bytes: int
    conflicts: int


class Ledger:
    """One SQLite connection shared by the uploader's threads (under a lock)."""

    def __init__(self, state_dir: Path, read_only: bool = False) -> None:
        self.path = state_dir / LEDGER_NAME
        if read_only:
            self._db = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, check_same_thread=False
            )
        else:
            state_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def uploaded(self) -> set[tuple[str, str]]:
        with self._lock:
            return {(e, p) for e, p in self._db.execute("SELECT exchange, path FROM uploaded")}

    def intents(self) -> set[tuple[str, str]]:
        with self._lock:
            return {(e, p) for e, p in self._db.execute("SELECT exchange, path FROM intents")}

    def settled(self) -> set[tuple[str, str]]:
        """Files that are no longer to upload: lost or in conflict."""
        with self._lock:
            rows = self._db.execute(
                "SELECT exchange, path FROM lost UNION SELECT exchange, path FROM conflicts"
            )
            return {(e, p) for e, p in rows}

    def intend(self, exchange: str, path: str, key: str, sha256: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO intents VALUES (?, ?, ?, ?)", (exchange, path, key, sha256)
            )

    def done(self, exchange: str, path: str, key: str, size: int, sha256: str) -> None:
        """The object is verified: record it and forget the intent, in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR REPLACE INTO uploaded VALUES (?, ?, ?, ?, ?, ?)",
                (exchange, path, key, size, sha256, time.time_ns()),
            )
            self._db.execute(
                "DELETE FROM intents WHERE exchange = ? AND path = ?", (exchange, path)
            )
            self._db.execute("COMMIT")

    def uploaded_rows(self) -> list[tuple[str, str, str, int, str]]:
        """``(exchange, path, key, size, sha256)`` of every uploaded file."""
        with self._lock:
            rows = self._db.execute("SELECT exchange, path, key, size, sha256 FROM uploaded")
            return [(e, p, k, int(n), h) for e, p, k, n, h in rows]

    def forget(self, exchange: str, path: str) -> None:
        """The object is gone from the bucket: the file is to upload again."""
        with self._lock:
            self._db.execute(
                "DELETE FROM uploaded WHERE exchange = ? AND path = ?", (exchange, path)
            )

    def lose(self, exchange: str, path: str, size: int, reason: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO lost VALUES (?, ?, ?, ?, ?)",
                (exchange, path, size, reason, time.time_ns()),
            )

    def conflict(self, exchange: str, path: str, key: str, sha256: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO conflicts VALUES (?, ?, ?, ?)",
                (exchange, path, key, sha256),
            )

    def set_status(self, name: str, value: object) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO status VALUES (?, ?)", (name, json.dumps(value))
            )

    def status(self) -> dict[str, object]:
        with self._lock:
            rows = self._db.execute("SELECT name, value FROM status").fetchall()
        return {name: json.loads(value) for name, value in rows}

    def totals(self) -> LedgerTotals:
        with self._lock:
            up = self._db.execute(
                "SELECT count(*), coalesce(sum(size), 0) FROM uploaded"
            ).fetchone()
            lost = self._db.execute("SELECT count(*), coalesce(sum(size), 0) FROM lost").fetchone()
            conflicts = self._db.execute("SELECT count(*) FROM conflicts").fetchone()
        return LedgerTotals(int(up[0]), int(up[1]), int(lost[0]), int(lost[1]), int(conflicts[0]))
