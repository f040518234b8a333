"""A client of the query channel: send one command, collect Arrow frames and the end frame."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pynng

from logger.core.errors import Code, QueryError
from logger.query.answer import END_MARK

_SLICE_MS = 10


@dataclass
class Reply:
    tables: list[pa.Table] = field(default_factory=list)
    disk: Code = Code.NONE
    memory: Code = Code.NONE
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.disk in (Code.OK, Code.NONE) and self.memory in (Code.OK, Code.NONE)

    def table(self) -> pa.Table:
        if not self.tables:
            return pa.table({})
        return pa.concat_tables(self.tables, promote_options="permissive")


def parse_end(frame: bytes) -> tuple[Code, Code, str | None]:
    text = frame[len(END_MARK) :].decode("utf-8", "replace")
    parts = text.split(",", 2)
    try:
        disk, memory = Code(int(parts[0])), Code(int(parts[1]))
    except (ValueError, IndexError) as exc:
        raise QueryError(f"malformed end frame {frame[:40]!r}", Code.BAD_COMMAND) from exc
    return disk, memory, parts[2] if len(parts) > 2 else None


def read_frame(frame: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(frame)).read_all()


def query(url: str, command: str, timeout_ms: int = 30000) -> Reply:
    """Send ``command`` to the channel at ``url`` and collect the reply."""
    # Re-dial fast: a connection that fails (the service starting or restarting, see exchange())
    # is retried in milliseconds, not nng's default back-off of up to a second.
    with pynng.Pair0(
        recv_timeout=_SLICE_MS, send_timeout=timeout_ms, reconnect_time_min=2, reconnect_time_max=20
    ) as sock:
        dropped = threading.Event()
        sock.add_post_pipe_remove_cb(lambda _pipe: dropped.set())
        sock.dial(url, block=False)
        return exchange(sock, command, timeout_ms / 1000, dropped)


def exchange(
    sock: pynng.Pair0, command: str, timeout_s: float = 30.0, dropped: threading.Event | None = None
) -> Reply:
    """One request/reply on an open pair0 socket (whose ``recv_timeout`` is short).

    A command sent on a connection that goes away before any answer came (the listener
    restarting, or a plain NNG pair0 listener that holds another peer and refuses ours) is lost;
    ``dropped`` (set when our connection goes away) tells us so, and the command is sent again.
    """
    data = command.encode("utf-8")
    deadline = time.monotonic() + timeout_s
    reply = Reply()
    answered = False
    try:
        sock.send(data)
        while True:
            try:
                frame = sock.recv()
            except pynng.Timeout:
                if time.monotonic() > deadline:
                    raise
                if dropped is not None and dropped.is_set() and not answered:
                    dropped.clear()
                    sock.send(data)
                continue
            answered = True
            if frame[:2] == END_MARK:
                reply.disk, reply.memory, reply.message = parse_end(frame)
                return reply
            reply.tables.append(read_frame(frame))
    except pynng.Timeout as exc:
        raise QueryError("no answer from the query channel in time", Code.NOT_READY) from exc
    except pynng.NNGException as exc:
        raise QueryError(f"query channel failed: {exc}", Code.NOT_READY) from exc


def answer_table(frames: Iterable[bytes]) -> pa.Table | None:
    """The rows of a reply's frames as one table (None when it has none); raises
    :class:`QueryError` with the end frame's codes when the answer failed."""
    tables = []
    for frame in frames:
        if frame[: len(END_MARK)] == END_MARK:
            disk, memory, message = parse_end(frame)
            if disk not in (Code.OK, Code.NONE) or memory not in (Code.OK, Code.NONE):
                raise QueryError(message or "the query failed", disk, memory)
        else:
            tables.append(read_frame(frame))
    return pa.concat_tables(tables, promote_options="permissive") if tables else None
