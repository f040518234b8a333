"""The DuckDB databases of the SQL engine (:mod:`logger.web.sql`): one per query, opened with
every extension and secret off and locked before any view is made, and opened ahead of time.

Opening a database costs 10-30 ms on a small host, so once a query has its answer, its database
is closed and a spare one per configuration is opened on a background thread (:class:`Spares`);
each query still gets a database no other query has seen.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from logger.web.sql_views import literal

if TYPE_CHECKING:
    import duckdb

__all__ = ["Names", "Spares", "Watchdog", "connect", "lock"]

log = logging.getLogger(__name__)


def connect(duck: Any, threads: int | None, memory_limit: int) -> duckdb.DuckDBPyConnection:
    config: dict[str, Any] = {
        "python_enable_replacements": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "allow_persistent_secrets": False,
        "temp_directory": "",
        "memory_limit": f"{memory_limit}B",
    }
    if threads is not None:
        config["threads"] = threads
    con: duckdb.DuckDBPyConnection = duck.connect(":memory:", config=config)
    return con


def lock(con: duckdb.DuckDBPyConnection, paths: Sequence[str]) -> None:
    """Allow reading exactly ``paths`` (plain store files DuckDB reads itself) and nothing else,
    then lock the configuration."""
    con.execute("SET allowed_directories = []")
    con.execute(f"SET allowed_paths = [{', '.join(literal(p) for p in paths)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


class Names:
    """The tables a statement names, found by a locked, empty database kept for it (finding
    them binds table functions, which must not open files; a database costs ~10 ms to open)."""

    _lock = threading.Lock()
    _con: duckdb.DuckDBPyConnection | None = None

    @classmethod
    def of(cls, duck: Any, query: str) -> set[str]:
        """Lower-case names (empty when DuckDB cannot say)."""
        with cls._lock:
            if cls._con is None:
                con = connect(duck, 1, 64 << 20)
                lock(con, ())
                cls._con = con
            try:
                return {n.lower() for n in cls._con.get_table_names(query, qualified=False)}
            except duck.Error:
                return set()


class Watchdog:
    """Interrupts a connection once its time is up (and never after it was closed)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, timeout_s: float) -> None:
        self._con = con
        self._lock = threading.Lock()
        self._done = False
        self.fired = threading.Event()
        self._timer = threading.Timer(timeout_s, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired.set()
            try:
                self._con.interrupt()
            except Exception:  # the query is ending anyway
                log.debug("interrupt after the query ended", exc_info=True)

    def stop(self) -> None:
        with self._lock:
            self._done = True
            self._timer.cancel()


class Spares:
    """Fresh databases opened ahead, one per (threads, memory limit), and closed afterwards, on
    a background thread, once a query has its answer (not while it runs: opening one holds the
    interpreter for a while)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: dict[tuple[int | None, int], duckdb.DuckDBPyConnection] = {}

    def take(self, duck: Any, threads: int | None, memory_limit: int) -> duckdb.DuckDBPyConnection:
        """A database never used before: the spare, else a new one."""
        with self._lock:
            con = self._ready.pop((threads, memory_limit), None)
        return con if con is not None else connect(duck, threads, memory_limit)

    def _open(self, duck: Any, key: tuple[int | None, int]) -> None:
        try:
            con = connect(duck, *key)
        except Exception:  # the next query opens its own
            log.debug("cannot open a spare database", exc_info=True)
            return
        with self._lock:
            if key not in self._ready:
                self._ready[key] = con
                return
        con.close()

    def done(
        self, con: duckdb.DuckDBPyConnection, duck: Any, threads: int | None, memory_limit: int
    ) -> None:
        """Close ``con`` (its answer has been copied out) and open the next spare, both on the
        background thread."""
        _background().submit(con.close)
        _background().submit(self._open, duck, (threads, memory_limit))


@functools.cache
def _background() -> ThreadPoolExecutor:
    """The one thread that opens spare databases and closes used ones."""
    return ThreadPoolExecutor(1, thread_name_prefix="sql-spares")
