"""The row limit of the HTTP answers (``http.max_rows``).

A command with its own ``limit=`` of at most ``max_rows`` asks for a cut answer, and streams as
it is. Any other command is asked for ``max_rows + 1`` rows and its answer is held until it ends:
when more than ``max_rows`` rows come, the window is too large and the route refuses it (413)
before a byte is sent, rather than answering a part of it as if it were all. Memory is bounded by
the limit either way.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pyarrow as pa

from logger.core.command import parse_command
from logger.core.errors import Code, CommandError, QueryError
from logger.query.answer import END_MARK

__all__ = ["hold_within", "limited_command", "too_large"]


def limited_command(command: str, max_rows: int) -> tuple[str, bool]:
    """``command`` asking for at most ``max_rows`` rows, and whether its answer must be held
    and checked (:func:`hold_within`): True unless it carries its own ``limit=`` within
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


def hold_within(frames: Iterator[bytes], max_rows: int) -> list[bytes]:
    """Every frame of an answer asked by :func:`limited_command`, or a :class:`QueryError`
    (:func:`too_large`) as soon as more than ``max_rows`` rows came (the rest is not read)."""
    held: list[bytes] = []
    rows = 0
    for frame in frames:
        if frame[: len(END_MARK)] != END_MARK:
            rows += _rows(frame)
            if rows > max_rows:
                if isinstance(frames, Generator):
                    frames.close()  # the answer stops here
                raise too_large(max_rows)
        held.append(frame)
    return held


def too_large(max_rows: int) -> QueryError:
    """The refusal of a window holding more rows than an answer may."""
    return QueryError(
        f"the window holds more than {max_rows} rows (http.max_rows): narrow it, select fewer "
        "frames, or add limit= to take its first rows",
        Code.BAD_KEY_RANGE,
    )
