"""What the HTTP API reads: the running service's exchanges, its query service and counters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from logger.capture.exchange import Exchange
from logger.query.channel import QueryService

__all__ = ["ALL_NS", "Live", "exchanges_info"]

ALL_NS = (0, (1 << 63) - 1)
"""Every time a store holds: (first ns, last ns)."""


class Live(Protocol):
    """The service as the HTTP API sees it."""

    @property
    def exchanges(self) -> Mapping[str, Exchange]: ...
    @property
    def queries(self) -> QueryService: ...
    def stats(self) -> dict[str, object]: ...


def exchanges_info(live: Live) -> list[dict[str, Any]]:
    """Per exchange: its stream, topic filter and the topics captured since start, tables (files,
    bytes, time span), database and the messages held in memory."""
    out = []
    for name, ex in live.exchanges.items():
        tables = {}
        for table in ex.store.tables():
            files = ex.store.files(table, *ALL_NS)
            tables[table] = {
                "files": len(files),
                "bytes": sum(f.size for f in files),
                "first_ns": min((f.first_ns for f in files), default=None),
                "last_ns": max((f.last_ns for f in files), default=None),
            }
        meta = ex.plugin.metadata()
        out.append(
            {
                "name": name,
                "stream": ex.plugin.name,
                "topic": ex.cfg.topic,
                "topics": ex.ring.topics(),
                "tables": tables,
                "in_memory": len(ex.ring),
                "dbc": (
                    {"name": meta["sdvlog.dbc_name"], "sha256": meta["sdvlog.dbc_hash"]}
                    if "sdvlog.dbc_hash" in meta
                    else None
                ),
            }
        )
    return out
