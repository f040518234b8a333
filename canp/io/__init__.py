"""CAN log files in and out of a store: the table of formats, reading, time anchoring, import, export."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from canp.io.exporter import ExportError, ExportResult, export_table
    from canp.io.formats import FORMATS, LogFormat, LogFormatError, log_format
    from canp.io.importer import ImportResult, LogImporter
    from canp.io.read import LogReader, detect_format

__all__ = [
    "FORMATS",
    "ExportError",
    "ExportResult",
    "ImportResult",
    "LogFormat",
    "LogFormatError",
    "LogImporter",
    "LogReader",
    "detect_format",
    "export_table",
    "log_format",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "FORMATS": "canp.io.formats",
        "LogFormat": "canp.io.formats",
        "LogFormatError": "canp.io.formats",
        "log_format": "canp.io.formats",
        "LogReader": "canp.io.read",
        "detect_format": "canp.io.read",
        "LogImporter": "canp.io.importer",
        "ImportResult": "canp.io.importer",
        "export_table": "canp.io.exporter",
        "ExportResult": "canp.io.exporter",
        "ExportError": "canp.io.exporter",
    },
)
