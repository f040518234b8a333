"""Object keys of the fleet lake and the Iceberg table that holds each store table.

A key is ``[prefix/]vehicle=<VIN>/exchange=<name>/<table>/date=YYYY-MM-DD/hour=H/<first>-<last>-<seq>.parquet``
(DESIGN.md, "Upload to S3-compatible storage"); ``<table>`` may hold a slash
(``signals/message=EngineData``). ``hour`` may be zero-padded (older stores).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from logger.core.errors import LakeError

__all__ = ["ObjectKey", "iceberg_name", "parse_key", "store_table"]

_KEY_RE = re.compile(
    r"(?:^|/)vehicle=(?P<vehicle>[^/]+)/exchange=(?P<exchange>[^/]+)/(?P<table>.+?)"
    r"/date=(?P<date>\d{4}-\d{2}-\d{2})/hour=(?P<hour>\d{1,2})"
    r"/(?P<first>\d{1,19})-(?P<last>\d{1,19})-(?P<seq>\d{1,19})\.parquet$"
)
_SIGNALS = "signals/message="
#: The Iceberg table of a message's signals: ``signals__<Message>``.
_SIGNALS_TABLE = "signals__"
_NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class ObjectKey:
    """What a conforming object key says."""

    key: str
    vehicle: str
    exchange: str
    table: str
    first_ns: int
    last_ns: int
    seq: int


def parse_key(key: str) -> ObjectKey | None:
    """The parts of ``key``; None when it does not follow the lake layout."""
    m = _KEY_RE.search(key)
    if m is None:
        return None
    return ObjectKey(
        key,
        m["vehicle"],
        m["exchange"],
        m["table"],
        int(m["first"]),
        int(m["last"]),
        int(m["seq"]),
    )


def iceberg_name(table: str) -> str:
    """The Iceberg table (in the lake's namespace) of a store table: ``frames``, ``raw``,
    ``signals__<Message>``; :class:`LakeError` for a table name that cannot be one."""
    name = _SIGNALS_TABLE + table.removeprefix(_SIGNALS) if table.startswith(_SIGNALS) else table
    if not _NAME_RE.match(name):
        raise LakeError(f"store table {table!r} has no Iceberg table name")
    return name


def store_table(name: str) -> str:
    """The store table of an Iceberg table name (the inverse of :func:`iceberg_name`)."""
    return _SIGNALS + name.removeprefix(_SIGNALS_TABLE) if name.startswith(_SIGNALS_TABLE) else name
