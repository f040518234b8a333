"""The row limit of the HTTP answers (``http.max_rows``).

A command with its own ``limit=`` of at most ``max_rows`` asks for a cut answer, and streams as
it is. Any other command is asked for ``max_rows + 1`` rows: when more than ``max_rows`` come,
the window is too large and the route refuses it (413) before a byte is sent, rather than
answering a part of it as if it were all. An answer that ends within :data:`HOLD_BYTES` is held
and sent; a larger one is read on only to count its rows (nothing more is kept), then asked for
again with ``limit=max_rows`` and streamed: memory stays bounded, and only large answers are read
twice. (Rows that arrive between the two reads can make the second answer reach the limit; it is
then cut there, as ``limit=`` cuts.)
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator

import pyarrow as pa

from logger.core.command import parse_command
from logger.core.errors import Code, CommandError, QueryError
from logger.query.answer import END_MARK

__all__ = ["HOLD_BYTES", "answer_within", "limited_command", "too_large"]

HOLD_BYTES = 16 << 20
"""The most bytes of an answer held while its rows are counted; beyond, it is read twice."""


def limited_command(command: str, max_rows: int) -> tuple[str, bool]:
    """``command`` asking for at most ``max_rows`` rows, and whether its answer must be held
    and checked (:func:`answer_within`): True unless it carries its own ``limit=`` within
    ``max_rows``, or is malformed (the channel answers what is wrong with it)."""
    try:
        own = parse_command(command).limit
    except CommandError:
        return command, False
    if own is not None and own <= max_rows:
        return command, False
    head, *parts = command.split(";")
    rest = [p for p in parts if not p.strip().startswith("limit=")]
    return ";".join([head, *rest, f"limit={max_rows + 1}"]), True


def _rows(frame: bytes) -> int:
    rows: int = pa.ipc.open_stream(pa.py_buffer(frame)).read_all().num_rows
    return rows


Reply = Callable[[bytes], Iterator[bytes]]


def answer_within(
    reply: Reply, prefix: str, command: str, max_rows: int, hold_bytes: int = HOLD_BYTES
) -> Iterator[bytes]:
    """The frames answering ``prefix + command`` (``prefix``: ``exchange=NAME;`` or empty) within
    ``max_rows`` rows, or a :class:`QueryError` (:func:`too_large`) when the window holds more;
    at most ``hold_bytes`` of the answer are held. Blocks while it reads ahead: call it off the
    event loop."""
    limited, checked = limited_command(command, max_rows)
    frames = reply((prefix + limited).encode())
    if not checked:
        return frames
    held: list[bytes] = []
    held_bytes = rows = 0
    for frame in frames:
        if frame[: len(END_MARK)] != END_MARK:
            rows += _rows(frame)
            if rows > max_rows:
                if isinstance(frames, Generator):
                    frames.close()  # the answer stops here
                raise too_large(max_rows)
        if held_bytes <= hold_bytes:
            held.append(frame)
            held_bytes += len(frame)
    if held_bytes <= hold_bytes:
        return iter(held)
    del held
    head, *parts = command.split(";")
    rest = [p for p in parts if not p.strip().startswith("limit=")]
    return reply((prefix + ";".join([head, *rest, f"limit={max_rows}"])).encode())


def too_large(max_rows: int) -> QueryError:
    """The refusal of a window holding more rows than an answer may."""
    return QueryError(
        f"the window holds more than {max_rows} rows (http.max_rows): narrow it, select fewer "
        "frames, or add limit= to take its first rows",
        Code.BAD_KEY_RANGE,
    )
