"""``GET /api/live``: a command's new rows, and chosen signals' new samples, pushed as Server-Sent
Events while the exchange takes them (the dashboard's live mode).

Each poll asks the query service for the rows from a little before the newest row already sent
(:data:`OVERLAP_NS`: frames of several buses arrive in batches, so an older row can come after a
newer one) and sends only those not sent yet. The stream looks for new data every :data:`TICK_S`
(the exchange's accepted count), so an idle exchange costs no query.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from logger.core.command import INT64_MAX, parse_command
from logger.core.errors import CommandError
from logger.query.channel import split_exchange
from logger.query.client import answer_table
from logger.query.encodings import json_rows
from logger.web.live import Live

__all__ = ["HEARTBEAT_S", "OVERLAP_NS", "TICK_S", "Feed", "open_feed", "sse_events"]

TICK_S = 0.25
"""How often the stream looks at the exchange's accepted count."""
IDLE_POLL_S = 2.0
"""A poll at least this often even when nothing was accepted (rows written late stay visible)."""
HEARTBEAT_S = 15.0
"""A comment line at least this often, so that a client gone away is noticed."""
OVERLAP_NS = 2_000_000_000
"""How late a row may arrive after a newer one and still be pushed."""
MAX_ROWS = 5000
"""The most rows (and samples per signal) one poll reads."""
MAX_SIGNALS = 16
_NS_PER_MS = 1_000_000

Reply = Callable[[bytes], Iterator[bytes]]


@dataclass
class _Seen:
    """Keys already sent, by their row time, forgotten once older than the overlap."""

    keys: dict[str, int] = field(default_factory=dict)
    newest_ns: int = -1
    from_ns: int = 0

    def fresh(self, rows: list[tuple[str, int]], capped: bool) -> list[int]:
        """The positions of ``rows`` ((key, ts) pairs) not sent yet; remembers them."""
        out = []
        for i, (key, ts) in enumerate(rows):
            if key not in self.keys:
                self.keys[key] = ts
                out.append(i)
                self.newest_ns = max(self.newest_ns, ts)
        floor = self.newest_ns - OVERLAP_NS
        if len(self.keys) > 4 * MAX_ROWS:
            self.keys = {k: t for k, t in self.keys.items() if t >= floor}
        # a full answer may stop before the newest rows: read on from its last row next time
        self.from_ns = rows[-1][1] if capped and rows else max(self.from_ns, floor)
        return out


@dataclass
class Feed:
    """One client's live stream: the command's rows and the signals' samples not sent yet."""

    reply: Reply
    prefix: str
    selectors: list[str]
    sigs: list[str]
    start_ms: int
    end_ms: int
    exchange: str | None
    rows_seen: _Seen = field(default_factory=_Seen)
    sig_seen: dict[str, _Seen] = field(default_factory=dict)

    def _ask(self, seen: _Seen, selectors: list[str]) -> tuple[Any, bool]:
        from_ms = max(self.start_ms, seen.from_ns // _NS_PER_MS)
        head = f"sync-{from_ms}-{self.end_ms}"
        command = ";".join([head, *selectors, f"limit={MAX_ROWS}"])
        table = answer_table(self.reply((self.prefix + command).encode()))
        return table, table is not None and table.num_rows >= MAX_ROWS

    def poll(self) -> dict[str, Any]:
        """New rows and samples since the last poll (raises :class:`QueryError` on bad input)."""
        out: dict[str, Any] = {"rows": [], "signals": {}}
        table, capped = self._ask(self.rows_seen, self.selectors)
        if table is not None and table.num_rows:
            rows = json_rows(table)
            keyed = [
                (json.dumps(r, sort_keys=True), int(r.get("ts", r.get("start", 0)))) for r in rows
            ]
            out["rows"] = [rows[i] for i in self.rows_seen.fresh(keyed, capped)]
        for sig in self.sigs:
            seen = self.sig_seen.setdefault(sig, _Seen())
            table, capped = self._ask(seen, [f"sig={sig}"])
            if table is None or sig not in table.column_names:
                continue
            ts = table.column("ts").to_pylist()
            values = table.column(sig).to_pylist()
            keep = seen.fresh([(str(t), int(t)) for t in ts], capped)
            kept = [i for i in keep if values[i] is not None]
            if kept:
                out["signals"][sig] = {
                    "ts": [ts[i] for i in kept],
                    "values": [_number(values[i]) for i in kept],
                }
        return out

    @property
    def finished(self) -> bool:
        """The window's end is past (by more than the overlap): nothing new can come."""
        return self.end_ms < INT64_MAX // _NS_PER_MS and (
            time.time_ns() - OVERLAP_NS > self.end_ms * _NS_PER_MS
        )


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, int | float) else None


def open_feed(params: dict[str, str], reply: Reply) -> Feed:
    """The feed ``params`` ask for (``command``, optional ``sig`` and ``exchange``); raises
    :class:`CommandError` naming what is wrong."""
    command = params.get("command", "")
    if not command:
        raise CommandError("command= is required, e.g. sync-0-9223372036854775807;id=0x100")
    name, text = split_exchange(command)
    name = params.get("exchange") or name
    parsed = parse_command(text)
    if parsed.out != "rows":
        raise CommandError("out=intervals cannot be followed live: ask /api/query for it")
    selectors = [f"{key}={value}" for key, value in parsed.selectors if key not in ("limit", "out")]
    sigs = [s.strip() for s in params.get("sig", "").split(",") if s.strip()]
    if len(sigs) > MAX_SIGNALS:
        raise CommandError(f"sig= names at most {MAX_SIGNALS} signals")
    prefix = f"exchange={name};" if name else ""
    return Feed(reply, prefix, selectors, sigs, parsed.start_ms, parsed.end_ms, name)


def _event(kind: str, body: object) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(body, separators=(',', ':'))}\n\n".encode()


async def sse_events(
    feed: Feed, live: Live, first: dict[str, Any], run: Callable[[], Any]
) -> AsyncIterator[bytes]:
    """The event stream: ``first`` (the poll made before answering), then a ``data`` event per
    poll that found something, comments as heartbeats, and ``end`` when the window is past.
    ``run`` polls the feed off the event loop."""
    yield b"retry: 2000\n\n"
    yield _event("data", first)
    exchanges = live.exchanges
    chosen = exchanges.get(feed.exchange or "") or next(iter(exchanges.values()), None)
    ring = chosen.ring if chosen is not None else None
    accepted = ring.counters.accepted if ring is not None else 0
    last_poll = last_sent = time.monotonic()
    while not feed.finished:
        await asyncio.sleep(TICK_S)
        now_accepted = ring.counters.accepted if ring is not None else accepted
        now = time.monotonic()
        if now_accepted != accepted or now - last_poll >= IDLE_POLL_S:
            accepted, last_poll = now_accepted, now
            found = await run()
            if found["rows"] or found["signals"]:
                last_sent = now
                yield _event("data", found)
        if now - last_sent >= HEARTBEAT_S:
            last_sent = now
            yield b": alive\n\n"
    yield _event("data", await run())
    yield _event("end", {"end_ms": feed.end_ms})
