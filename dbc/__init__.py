"""CAN databases: loading (DBC, ARXML, KCD, SYM) and vectorised decoding to signal tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from dbc.codec import DatabaseCodec, DecodeStats
    from dbc.load import DbcError, database_identity, load_database

__all__ = ["DatabaseCodec", "DbcError", "DecodeStats", "database_identity", "load_database"]

__getattr__ = lazy_exports(
    __name__,
    {
        "load_database": "dbc.load",
        "database_identity": "dbc.load",
        "DbcError": "dbc.load",
        "DatabaseCodec": "dbc.codec",
        "DecodeStats": "dbc.codec",
    },
)
