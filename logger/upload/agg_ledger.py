"""The aggregate mode's durable state: each aggregate under way (its key, member files, size and
SHA-256 of the compacted object, the multipart upload id) and each part that landed (number,
ETag), in SQLite beside the upload ledger (WAL; every commit survives ``kill -9``).

An aggregate's row is written before its multipart upload is created; the upload id as soon as it
is; each part's row after its PUT answered and before the next part is read. The row goes once the
completed object was verified and its files recorded as uploaded in the upload ledger.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["AGG_LEDGER_NAME", "AggLedger", "Pending"]

AGG_LEDGER_NAME = "upload-aggregates.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS aggregates (
    key TEXT PRIMARY KEY, exchange TEXT NOT NULL, files TEXT NOT NULL, size INTEGER NOT NULL,
    sha256 TEXT NOT NULL, upload_id TEXT);
CREATE TABLE IF NOT EXISTS parts (
    key TEXT NOT NULL, number INTEGER NOT NULL, etag TEXT NOT NULL, PRIMARY KEY (key, number));
"""


@dataclass
class Pending:
    """An aggregate under way."""

    key: str
    exchange: str
    files: list[str]  # paths under the exchange's directory, in order
    size: int
    sha256: str
    upload_id: str | None


class AggLedger:
    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            state_dir / AGG_LEDGER_NAME, isolation_level=None, check_same_thread=False
        )
        with self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def pending(self) -> list[Pending]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, exchange, files, size, sha256, upload_id FROM aggregates ORDER BY key"
            ).fetchall()
        return [Pending(k, e, json.loads(f), int(n), h, u) for k, e, f, n, h, u in rows]

    def intend(self, p: Pending) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM parts WHERE key = ?", (p.key,))
            self._db.execute(
                "INSERT OR REPLACE INTO aggregates VALUES (?, ?, ?, ?, ?, ?)",
                (p.key, p.exchange, json.dumps(p.files), p.size, p.sha256, p.upload_id),
            )
            self._db.execute("COMMIT")

    def started(self, key: str, upload_id: str | None) -> None:
        """A new multipart upload (or none): the parts of an earlier one are forgotten."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM parts WHERE key = ?", (key,))
            self._db.execute("UPDATE aggregates SET upload_id = ? WHERE key = ?", (upload_id, key))
            self._db.execute("COMMIT")

    def part(self, key: str, number: int, etag: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO parts VALUES (?, ?, ?)", (key, number, etag))

    def parts(self, key: str) -> dict[int, str]:
        with self._lock:
            rows = self._db.execute("SELECT number, etag FROM parts WHERE key = ?", (key,))
            return {int(n): str(e) for n, e in rows}

    def finish(self, key: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM parts WHERE key = ?", (key,))
            self._db.execute("DELETE FROM aggregates WHERE key = ?", (key,))
            self._db.execute("COMMIT")
