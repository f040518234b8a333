"""Time of CAN log files: anchoring relative logs, ASC header dates, ``--start``, printing.

A log whose times are relative (every ASC, read as offsets from its start; any other log whose
first time is before :data:`RELATIVE_BEFORE_S`) is anchored by :mod:`canp.io.importer`: time 0 is
``--start`` when given (:func:`parse_start`), else the ASC header's ``Begin Triggerblock <date>``
or ``date <date>`` (:func:`asc_header`), else the file's mtime taken as the time of its last
frame. Naive dates are local time.
"""

from __future__ import annotations

import email.utils
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from can.io.asc import ASC_MESSAGE_REGEX

from logger.core.compat import asc_header_date
from logger.core.errors import ConfigError

log = logging.getLogger(__name__)

#: A first timestamp before 2000-01-01 means the log's times are relative, not Unix time.
RELATIVE_BEFORE_S = 946_684_800.0


@dataclass(frozen=True)
class TimeAnchor:
    """The Unix time of a relative log's time 0, and where it came from."""

    ns: int
    source: str


_ASC_DATE = re.compile(r"^date\s+(?P<text>.+)$", re.IGNORECASE)
_ASC_TRIGGER = re.compile(r"^begin\s+triggerblock\s+(?P<text>.+)$", re.IGNORECASE)
_WEEKDAY = re.compile(r"^[^\W\d]+,?\s+(?P<rest>.+)$")


def parse_log_date(text: str) -> float | None:
    """Unix seconds of an ASC header date; naive dates are local time (as python-can reads them).

    Vector's ``Thu Nov 09 08:36:33.153 pm 2023`` layouts (also German month names) through
    python-can's own parser, then RFC 2822 (``Thu, 09 Nov 2023 20:36:33 GMT``), then ISO 8601.
    """
    text = text.strip()
    weekday = _WEEKDAY.match(text)
    if weekday:
        try:
            return asc_header_date(weekday.group("rest"))
        except ValueError:
            pass
    try:
        return email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class AscHeader:
    """What an ASC header says about time: its start (Unix seconds) and whether times are deltas."""

    start: float | None = None
    source: str = ""
    deltas: bool = False


_ASC_DELTAS = re.compile(r"^base\s+\w+\s+timestamps\s+relative", re.IGNORECASE)


def asc_header(path: Path, max_lines: int = 200) -> AscHeader:
    """The start of an ASC measurement from its header: ``Begin Triggerblock <date>`` (where
    python-can's writer puts the first frame's time) before ``date <date>``."""
    date: tuple[float, str] | None = None
    deltas = False
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for raw in islice(fh, max_lines):
            line = raw.strip()
            if ASC_MESSAGE_REGEX.match(line):
                break
            deltas = deltas or bool(_ASC_DELTAS.match(line))
            trigger = _ASC_TRIGGER.match(line)
            found = trigger or _ASC_DATE.match(line)
            if found is None:
                continue
            when = parse_log_date(found.group("text"))
            if when is None:
                log.info("%s: cannot parse the ASC header date %r", path, line)
            elif trigger is not None:
                return AscHeader(when, f"the ASC header {line!r}", deltas)
            elif date is None:
                date = when, f"the ASC header {line!r}"
    return AscHeader(date[0], date[1], deltas) if date else AscHeader(deltas=deltas)


def format_ns(ns: int) -> str:
    """ns since the epoch as ISO 8601 UTC with microseconds."""
    stamp = datetime.fromtimestamp(ns // 1_000_000_000, UTC).isoformat().replace("+00:00", "")
    return f"{stamp}.{ns // 1000 % 1_000_000:06d}Z"


def seconds_to_ns(seconds: float) -> int:
    return round(seconds * 1e6) * 1000


def parse_start(text: str) -> int:
    """``--start``: ISO 8601 (naive = local time) or Unix seconds → ns since the epoch."""
    try:
        return seconds_to_ns(float(text))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            "--start", f"expected ISO 8601 (2023-11-09T20:36:33Z) or Unix seconds, got {text!r}"
        ) from exc
    return seconds_to_ns(when.timestamp())
