"""Signal-range questions: sample-and-hold alignment, ``where=`` conditions and intervals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from logger.signals.query import (
        SignalRef,
        align,
        answer_signals,
        filter_where,
        resolve,
        to_intervals,
    )

__all__ = ["SignalRef", "align", "answer_signals", "filter_where", "resolve", "to_intervals"]

__getattr__ = lazy_exports(
    __name__,
    {
        "answer_signals": "logger.signals.query",
        "align": "logger.signals.query",
        "resolve": "logger.signals.query",
        "filter_where": "logger.signals.query",
        "to_intervals": "logger.signals.query",
        "SignalRef": "logger.signals.query",
    },
)
