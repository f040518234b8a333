"""Counters of what an exchange put in quarantine, per reason, as the service reports them.

A quarantine row's ``reason`` says what was wrong with that message in words and numbers
("truncated: frame 3 of 9 starts at byte 40 of 52"). Counted, each reason is reduced to its kind
by replacing numbers with ``N`` and quoted text with ``…`` ("truncated: frame N of N starts at
byte N of N"), so the counters stay few; past :data:`MAX_KINDS` kinds the rest count as ``other``.
"""

from __future__ import annotations

import threading

import pyarrow as pa

from logger.store.chunk import TableChunk

QUARANTINE_TABLE = "quarantine"
MAX_KINDS = 32
OTHER = "other"


def reason_kinds(reasons: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Each reason reduced to its kind (vectorised)."""
    import pyarrow.compute as pc  # noqa: PLC0415 - loaded once data flows

    kinds = pc.replace_substring_regex(reasons, r"(b?'[^']*'|\"[^\"]*\")", "…")
    kinds = pc.replace_substring_regex(kinds, r"\d+(\.\d+)?", "N")
    return pc.utf8_slice_codeunits(kinds, 0, 120)


class QuarantineCounter:
    """Rows stored in quarantine, in total and per reason kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._kinds: dict[str, int] = {}

    def count(self, chunks: list[TableChunk]) -> None:
        """Count the quarantine rows among ``chunks`` (once they are stored)."""
        for chunk in chunks:
            if chunk.name != QUARANTINE_TABLE or not chunk.table.num_rows:
                continue
            import pyarrow.compute as pc  # noqa: PLC0415 - loaded once data flows

            counts = pc.value_counts(reason_kinds(chunk.table.column("reason")))
            with self._lock:
                self._total += chunk.table.num_rows
                for item in counts.to_pylist():
                    kind = str(item["values"])
                    if kind not in self._kinds and len(self._kinds) >= MAX_KINDS:
                        kind = OTHER
                    self._kinds[kind] = self._kinds.get(kind, 0) + int(item["counts"])

    def as_dict(self) -> dict[str, object]:
        with self._lock:
            return {"total": self._total, "by_reason": dict(self._kinds)}
