"""``/api/series``: per signal, the M4 points of a window (:mod:`logger.web.series`), from the
rows the channel's ``sig=`` query answers for that signal alone (its own sample times).

The signals are read side by side, one per core at most (:func:`_readers`): a plot over a long
range spends its time reading each signal's files, which holds no lock."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow.compute as pc

from logger.core.command import INT64_MAX
from logger.core.errors import Code, CommandError
from logger.query.client import answer_table
from logger.web.series import series

__all__ = ["series_answer"]

_NS_PER_MS = 1_000_000


def _int(params: Mapping[str, str], name: str, default: int | None = None) -> int:
    text = params.get(name)
    if text is None:
        if default is None:
            raise CommandError(f"{name}= is required")
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise CommandError(f"{name}= must be a whole number, got {text[:30]!r}")
    return int(text)


def series_answer(
    params: Mapping[str, str], reply: Callable[[bytes], Iterator[bytes]], max_rows: int
) -> dict[str, Any]:
    """The JSON answer for ``params`` (``sig``, ``start``, ``end`` in ms, ``points``, ``topic``,
    ``bus``, ``exchange``), asking ``reply`` (the channel's query service) for each signal's rows
    (``topic`` and ``bus`` go to the query as its ``topic=`` and ``bus=`` selectors), at most
    ``max_rows`` of them (``truncated`` says when a signal has more in the window)."""
    sigs = [s.strip() for s in params.get("sig", "").split(",") if s.strip()]
    if not sigs:
        raise CommandError("sig= is required, e.g. sig=EngineSpeed,VehicleSpeed")
    start_ms = _int(params, "start", 0)
    end_ms = _int(params, "end", INT64_MAX // _NS_PER_MS)
    points = _int(params, "points", 2000)
    if end_ms < start_ms:
        raise CommandError(f"end {end_ms} is before start {start_ms}", Code.BAD_KEY_RANGE)
    # the widest window m4 takes: its width (end - start + 1) fits in int64
    start_ns, end_ns = (
        start_ms * _NS_PER_MS,
        min(end_ms * _NS_PER_MS + _NS_PER_MS - 1, INT64_MAX - 1),
    )
    prefix = f"exchange={params['exchange']};" if params.get("exchange") else ""
    narrow = ""
    for name in ("topic", "bus"):
        value = params.get(name)
        if value:
            if ";" in value:
                raise CommandError(f"{name}= cannot hold ';'")
            narrow += f";{name}={value}"
    no_window = "start" not in params and "end" not in params

    def one(sig: str) -> dict[str, Any]:
        command = f"{prefix}sync-{start_ms}-{end_ms};sig={sig};limit={max_rows + 1}{narrow}"
        table = answer_table(reply(command.encode()))
        if table is None or sig not in table.column_names:
            return {"ts": [], "values": [], "truncated": False}
        # Past max_rows samples the window's later ones are left out: the answer says so.
        cut = table.num_rows > max_rows
        table = table.slice(0, max_rows)
        lo, hi = start_ns, end_ns
        if no_window and table.num_rows:  # no window asked: the buckets span the signal's samples
            times = table.column("ts")
            lo, hi = int(pc.min(times).as_py()), int(pc.max(times).as_py())
        found = series(table, [sig], lo, hi, points)[sig]
        return {"ts": found[0].tolist(), "values": found[1].tolist(), "truncated": cut}

    names = list(dict.fromkeys(sigs))
    answers = list(_readers().map(one, names)) if len(names) > 1 else [one(names[0])]
    out = dict(zip(names, answers, strict=True))
    return {"start": start_ms, "end": end_ms, "points": points, "signals": out}


@functools.cache
def _readers() -> ThreadPoolExecutor:
    """The threads that read a request's signals side by side (one per core, at most 4)."""
    return ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="series")
