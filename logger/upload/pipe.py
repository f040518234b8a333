"""Messages between the service and its upload transfer process: length-prefixed pickles on a
pipe. Both ends are this package's own code, started together: nothing else writes to the pipe."""

from __future__ import annotations

import pickle
import struct
import threading
from typing import IO

__all__ = ["Writer", "read_message"]

_HEADER = struct.Struct("!I")


class Writer:
    """Whole messages to ``stream``, one writer at a time."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: tuple[object, ...]) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self._stream.write(_HEADER.pack(len(data)))
            self._stream.write(data)
            self._stream.flush()


def read_message(stream: IO[bytes]) -> tuple[object, ...] | None:
    """The next message, or None at the end of the stream (the other side ended)."""
    header = _read_exactly(stream, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    data = _read_exactly(stream, size)
    if data is None:
        return None
    message = pickle.loads(data)  # our own child's pipe: nothing else writes to it
    if not isinstance(message, tuple):
        raise TypeError(f"unexpected message {type(message).__name__}")
    return message


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
