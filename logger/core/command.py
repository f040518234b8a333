"""The query command grammar of DESIGN.md, parsed into a plugin-independent :class:`Command`.

``mode "-" start "-" end { ";" selector }``; start and end are inclusive milliseconds. Syntax
errors are :class:`CommandError` code 5 (bad command); an impossible range is code 4.

``topic=`` takes MQTT topic filters (``+``, ``#``; checked by :func:`logger.core.topics.check_filter`),
comma-separated; as in every list, items are trimmed of surrounding spaces, so a filter cannot hold
``,`` or ``;`` or begin or end with a space.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from logger.core.errors import Code, CommandError
from logger.core.topics import check_filter

INT64_MAX = (1 << 63) - 1
_NS_PER_MS = 1_000_000
_HEAD_RE = re.compile(r"^(sync|async)-(\d+)-(\d+)$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_BUS_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")
_HEX_RE = re.compile(r"^0[xX][0-9A-Fa-f]{1,8}$")
_NUM_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_COND_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)\s*(>=|<=|!=|>|<|=)\s*(\S+)$")
OPS = (">", ">=", "<", "<=", "=", "!=")


@dataclass(frozen=True)
class Condition:
    signal: str
    op: str
    value: float


@dataclass(frozen=True)
class Command:
    mode: Literal["sync", "async"]
    start_ms: int
    end_ms: int
    selectors: tuple[tuple[str, str], ...] = ()
    #: MQTT topic filters (empty: every topic).
    topics: tuple[str, ...] = ()
    buses: tuple[str, ...] = ()
    ids: tuple[tuple[int, int], ...] = ()
    msgs: tuple[str, ...] = ()
    sigs: tuple[str, ...] = ()
    where: tuple[Condition, ...] = ()
    out: Literal["rows", "intervals"] = "rows"
    limit: int | None = None

    @property
    def start_ns(self) -> int:
        return min(self.start_ms * _NS_PER_MS, INT64_MAX)

    @property
    def end_ns(self) -> int:
        """Inclusive: the last nanosecond of the end millisecond."""
        return min(self.end_ms * _NS_PER_MS + _NS_PER_MS - 1, INT64_MAX)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.selectors)


def _split_list(name: str, value: str) -> list[str]:
    items = value.split(",")
    if not value or any(not item.strip() for item in items):
        raise CommandError(
            f"{name}= needs a comma-separated list with no empty items, got {value!r}"
        )
    return [item.strip() for item in items]


def _names(name: str, value: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    items = _split_list(name, value)
    for item in items:
        if not pattern.match(item):
            raise CommandError(f"{name}=: {item!r} is not a valid name")
    return tuple(items)


def _topics(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(check_filter(item) for item in _split_list("topic", value)))


def _ids(value: str) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for item in _split_list("id", value):
        lo_text, sep, hi_text = item.partition("-")
        if not _HEX_RE.match(lo_text) or (sep and not _HEX_RE.match(hi_text)):
            raise CommandError(
                f"id=: {item!r} is not a hex id like 0x1A0 or a range like 0x100-0x1FF"
            )
        lo = int(lo_text, 16)
        hi = int(hi_text, 16) if sep else lo
        if hi < lo:
            raise CommandError(f"id=: range {item!r} ends before it starts")
        out.append((lo, hi))
    return tuple(out)


def parse_conditions(value: str) -> tuple[Condition, ...]:
    """The conditions of a ``where=`` value (``"EngineSpeed>4000,VehicleSpeed<5"``); raises
    :class:`CommandError` naming the item that is not ``signal op number``."""
    conds: list[Condition] = []
    for item in _split_list("where", value):
        m = _COND_RE.match(item)
        if not m or not _NAME_RE.match(m.group(1)):
            raise CommandError(
                f"where=: {item!r} is not 'signal op number' with op one of {' '.join(OPS)}"
            )
        if not _NUM_RE.match(m.group(3)):
            raise CommandError(f"where=: {m.group(3)!r} in {item!r} is not a number")
        conds.append(Condition(m.group(1), m.group(2), float(m.group(3))))
    return tuple(conds)


def parse_command(text: str) -> Command:
    """Parse one command; raises :class:`CommandError` naming what is wrong."""
    if not text or not text.strip():
        raise CommandError("empty command")
    head, *parts = text.strip().split(";")
    m = _HEAD_RE.match(head.strip())
    if not m:
        raise CommandError(f"expected 'sync|async-<start_ms>-<end_ms>', got {head.strip()[:60]!r}")
    start, end = int(m.group(2)), int(m.group(3))
    if start > INT64_MAX or end > INT64_MAX:
        raise CommandError("start and end must be at most 9223372036854775807", Code.BAD_KEY_RANGE)
    if end < start:
        raise CommandError(f"end {end} is before start {start}", Code.BAD_KEY_RANGE)
    fields: dict[str, object] = {}
    selectors: list[tuple[str, str]] = []
    for part in parts:
        name, eq, value = part.strip().partition("=")
        name = name.strip()
        if not eq or name not in _SELECTOR_PARSERS:
            raise CommandError(
                f"unknown selector {part.strip()[:40]!r}; expected one of {', '.join(_SELECTOR_PARSERS)}"
            )
        field, parser = _SELECTOR_PARSERS[name]
        if field in fields:
            raise CommandError(f"selector {name}= given twice")
        value = value.strip()
        selectors.append((name, value))
        fields[field] = parser(value)
    return Command(
        mode=m.group(1),  # type: ignore[arg-type]
        start_ms=start,
        end_ms=end,
        selectors=tuple(selectors),
        **fields,  # type: ignore[arg-type]
    )


def _out(value: str) -> str:
    if value not in ("rows", "intervals"):
        raise CommandError(f"out= must be rows or intervals, got {value!r}")
    return value


def _limit(value: str) -> int:
    if not value.isdigit() or not value.isascii() or len(value) > 19:
        raise CommandError(f"limit= must be a non-negative integer, got {value[:30]!r}")
    return int(value)


_SELECTOR_PARSERS: dict[str, tuple[str, Callable[[str], object]]] = {
    "topic": ("topics", _topics),
    "bus": ("buses", lambda v: _names("bus", v, _BUS_RE)),
    "id": ("ids", _ids),
    "msg": ("msgs", lambda v: _names("msg", v, _NAME_RE)),
    "sig": ("sigs", lambda v: _names("sig", v, _NAME_RE)),
    "where": ("where", parse_conditions),
    "out": ("out", _out),
    "limit": ("limit", _limit),
}
