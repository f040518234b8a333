"""A client of the query channel: send one command, collect Arrow frames and the end frame."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pynng

from logger.errors import Code, QueryError
from logger.query import END_MARK


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
    with pynng.Pair0(dial=url, recv_timeout=timeout_ms, send_timeout=timeout_ms) as sock:
        return exchange(sock, command)


def exchange(sock: pynng.Pair0, command: str) -> Reply:
    """One request/reply on an open pair0 socket."""
    try:
        sock.send(command.encode("utf-8"))
        reply = Reply()
        while True:
            frame = sock.recv()
            if frame[:2] == END_MARK:
                reply.disk, reply.memory, reply.message = parse_end(frame)
                return reply
            reply.tables.append(read_frame(frame))
    except pynng.Timeout as exc:
        raise QueryError("no answer from the query channel in time", Code.NOT_READY) from exc
    except pynng.NNGException as exc:
        raise QueryError(f"query channel failed: {exc}", Code.NOT_READY) from exc
