"""The running service's tables as SQL views (:class:`~logger.web.sql.LiveTable`): for each
exchange and table, its durable files (leased, so retention cannot delete them mid-query) and
what the ring and the writer hold, encoded now. Views are named ``<exchange>_<table>``; signal
tables ``signals/message=<Name>`` are ``<exchange>_<Name>``."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Set

import pyarrow as pa

from logger.core.message import MessageBatch
from logger.web.live import ALL_NS, Live
from logger.web.sql import LiveTable

__all__ = ["live_tables", "view_name"]

_SIGNALS = "signals/message="
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]")


def view_name(exchange: str, table: str) -> str:
    name = table[len(_SIGNALS) :] if table.startswith(_SIGNALS) else table
    return _NOT_NAME.sub("_", f"{exchange}_{name}")


@contextlib.contextmanager
def live_tables(live: Live, only: Set[str] | None = None) -> Iterator[list[LiveTable]]:
    """Every table of every exchange, at one instant per exchange, leased while the block runs;
    with ``only`` (lower-case view names, all of stored tables), just those (a query over one
    view leases no other table's files)."""
    out: list[LiveTable] = []
    if only is not None:
        known = {
            view_name(n, t).lower() for n, ex in live.exchanges.items() for t in ex.store.tables()
        }
        only = only if only <= known else None  # a name no stored table has: show them all
    with contextlib.ExitStack() as leases:
        for name, ex in live.exchanges.items():

            def wanted(table: str, exchange: str = name) -> bool:
                return only is None or view_name(exchange, table).lower() in only

            tables = [t for t in ex.store.tables() if wanted(t)]
            with ex.lock:  # files and memory at one instant, the files leased at once
                held = MessageBatch.concat([b for b in ex.memory_snapshot() if len(b)])
                files = {
                    t: leases.enter_context(ex.store.lease(ex.store.files(t, *ALL_NS)))
                    for t in tables
                }
            chunks = ex.plugin.encode(held) if len(held) else []
            for table in sorted(set(files) | {c.name for c in chunks if wanted(c.name)}):
                mine = files.get(table, [])
                memory = [c.table for c in chunks if c.name == table]
                out.append(
                    LiveTable(
                        view_name(name, table),
                        [f.path for f in mine],
                        pa.concat_tables(memory, promote_options="permissive") if memory else None,
                        ex.store.decryption,
                    )
                )
        yield out
