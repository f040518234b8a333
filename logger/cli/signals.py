"""``sdvlog signals``: what a CAN database holds, as readable tables.

``sdvlog signals --dbc FILE [--message NAME]`` lists the messages (name, frame id, length, cycle
time, sender, signal count) and then, per message, its signals: unit, range, scale and offset, bit
layout and multiplexing (``M`` marks a multiplexor, ``m<n>`` a signal present when its multiplexor
is ``n``). These are the names ``msg=`` and ``sig=`` take. Exit 1 for an unknown ``--message``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from logger.cli.subcommand import Subcommand

if TYPE_CHECKING:
    from cantools.database.can import Message, Signal


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dbc", type=Path, required=True, help="CAN database (DBC, KCD, ARXML, SYM)")
    p.add_argument(
        "--message",
        action="append",
        default=[],
        metavar="NAME",
        help="only this message (repeatable; default: all)",
    )


def render(rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    """Rows as aligned text columns (first row: the header, underlined)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return [line(rows[0]), line(["-" * w for w in widths]), *(line(r) for r in rows[1:])]


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _frame_id(message: Message) -> str:
    width = 8 if message.is_extended_frame else 3
    return f"0x{message.frame_id:0{width}X}" + (" x" if message.is_extended_frame else "")


def _mux(signal: Signal) -> str:
    marks = []
    if signal.is_multiplexer:
        marks.append("M")
    if signal.multiplexer_ids:
        ids = ",".join(str(i) for i in signal.multiplexer_ids)
        marks.append(f"m{ids} of {signal.multiplexer_signal}")
    return " ".join(marks)


def message_rows(messages: Sequence[Message]) -> list[list[str]]:
    rows = [["message", "id", "bytes", "cycle ms", "sender", "signals", "fd"]]
    for m in messages:
        rows.append(
            [
                m.name,
                _frame_id(m),
                str(m.length),
                _number(m.cycle_time),
                ",".join(m.senders),
                str(len(m.signals)),
                "fd" if m.is_fd else "",
            ]
        )
    return rows


def signal_rows(message: Message) -> list[list[str]]:
    rows = [["signal", "unit", "min", "max", "scale", "offset", "bits", "type", "mux"]]
    for s in message.signals:
        order = "le" if s.byte_order == "little_endian" else "be"
        kind = "float" if s.is_float else ("signed" if s.is_signed else "unsigned")
        if s.choices:
            kind += f", {len(s.choices)} choices"
        rows.append(
            [
                s.name,
                s.unit or "",
                _number(s.minimum),
                _number(s.maximum),
                _number(s.scale),
                _number(s.offset),
                f"{s.start}|{s.length} {order}",
                kind,
                _mux(s),
            ]
        )
    return rows


def _run(args: argparse.Namespace) -> int:
    from dbc.load import database_identity, load_database  # noqa: PLC0415

    db = load_database(args.dbc)
    identity = database_identity(args.dbc, db)
    names: list[str] = list(dict.fromkeys(args.message))
    by_name = {m.name: m for m in db.messages}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        print(
            f"sdvlog signals: {args.dbc}: no message {', '.join(map(repr, unknown))}",
            file=sys.stderr,
        )
        return 1
    messages = [by_name[n] for n in names] if names else sorted(db.messages, key=lambda m: m.name)
    print(
        f"{args.dbc}: {identity.name} (sha256 {identity.sha256[:12]}…), "
        f"{len(db.messages)} message(s), {sum(len(m.signals) for m in db.messages)} signal(s)"
    )
    print()
    for text in render(message_rows(messages), right=(2, 3, 5)):
        print(text)
    for message in messages:
        print()
        print(f"{message.name} ({_frame_id(message)}, {message.length} bytes)")
        if message.signals:
            for text in render(signal_rows(message), right=(2, 3, 4, 5)):
                print("  " + text)
        else:
            print("  (no signals)")
    return 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "signals": Subcommand(
        "list the messages and signals of a CAN database (names for msg= and sig=)", _args, _run
    )
}
