"""``/api/signals`` (what the exchanges' databases define) and ``/api/export`` (the frames a
query answers, as a CAN log file in any export format)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from canp.io.formats import FORMATS, suffixes
from logger.core.errors import Code, QueryError
from logger.query.client import answer_table
from logger.web.live import Live

__all__ = ["export_bytes", "export_suffixes", "signals_info"]


def signals_info(live: Live) -> dict[str, list[dict[str, Any]]]:
    """Per exchange with a database: its messages and their signals (unit, range, value table)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, ex in live.exchanges.items():
        if ex.cfg.stream != "canp":
            continue
        # cantools loads python-can, and that asammdf and pandas: only where CANP runs anyway
        from canp.plugin import CanpPlugin  # noqa: PLC0415

        plugin = ex.plugin
        if not isinstance(plugin, CanpPlugin) or plugin.codec is None:
            continue
        out[name] = [
            {
                "name": m.name,
                "id": m.frame_id,
                "signals": [
                    {
                        "name": s.name,
                        "unit": s.unit,
                        "minimum": s.minimum,
                        "maximum": s.maximum,
                        "choices": {int(k): str(v) for k, v in (s.choices or {}).items()},
                    }
                    for s in m.signals
                ],
            }
            for m in plugin.codec.db.messages
        ]
    return out


def export_suffixes() -> list[str]:
    return [s.lstrip(".") for s in suffixes("export")]


def export_bytes(frames: Iterable[bytes], suffix: str) -> tuple[bytes, str]:
    """The frames of a query's reply as one log file of the format ``suffix`` names: (its bytes,
    its media type). Raises :class:`QueryError` with the end frame's codes when the query failed."""
    from canp.io.exporter import export_table  # noqa: PLC0415 - python-can, asammdf: on demand

    table = answer_table(frames)
    fmt = FORMATS[f".{suffix}"]
    with tempfile.TemporaryDirectory(prefix="sdvlog-export-") as tmp:
        path = Path(tmp) / f"export.{suffix}"
        if table is None:
            raise QueryError("the query answered no frames to export", Code.NONE)
        export_table(table, path)
        media = "application/octet-stream" if fmt.binary else "text/plain"
        return path.read_bytes(), media
