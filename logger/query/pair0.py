"""NNG's pair0 protocol on TCP and IPC, spoken by a listener that holds many peers at once.

The wire (NNG's and nanomsg's ``sp-tcp-mapping`` / ``sp-ipc-mapping``): once connected, each side
sends an 8-byte header ``00 'S' 'P' 00``, its protocol number (u16, big-endian) and two zero
bytes; pair0 is protocol 0x10 and pairs only with pair0. Every message after that is a u64
big-endian length and the bytes (TCP), or a byte 0x01, the length and the bytes (IPC). Pair0
puts no header of its own inside a message.

An NNG pair0 socket holds one peer and refuses every other connection (whatever the refused peer
sent first is lost). Speaking the wire directly, :class:`Listener` hands out one
:class:`Connection` per peer, and each peer sees an ordinary pair0 partner however many others
are connected. Any pair0 socket (pynng, NNG, nanomsg, mangos) is a client.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import stat
import struct
from pathlib import Path

from logger.core.address import parse_url
from logger.core.errors import SdvLoggerError

PAIR0 = 0x10
_HEADER = struct.Struct(">BccBHH")
_LENGTH = struct.Struct(">Q")
_IPC_MESSAGE = 0x01


class WireError(SdvLoggerError):
    """The peer broke the SP wire protocol (bad header, wrong protocol, cut message)."""


class MessageTooLong(WireError):
    """A message longer than the receiver takes; it was skipped, the connection is usable."""


def header(protocol: int = PAIR0) -> bytes:
    return _HEADER.pack(0, b"S", b"P", 0, protocol, 0)


def check_header(data: bytes, want: int = PAIR0) -> None:
    """Raise :class:`WireError` unless ``data`` is an SP header of protocol ``want``."""
    if len(data) != _HEADER.size:
        raise WireError("connection closed during the SP handshake")
    zero, s, p, version, protocol, _ = _HEADER.unpack(data)
    if (zero, s, p, version) != (0, b"S", b"P", 0):
        raise WireError(f"not an SP peer (header {data.hex()})")
    if protocol != want:
        raise WireError(f"peer speaks SP protocol 0x{protocol:x}, not pair0 (0x{want:x})")


class Connection:
    """One peer after the handshake: whole messages in and out, and whether the peer left."""

    def __init__(self, sock: socket.socket, ipc: bool, peer: str) -> None:
        self._sock = sock
        self._ipc = ipc
        self.peer = peer

    def handshake(self, timeout_s: float) -> None:
        self._sock.settimeout(timeout_s)
        try:
            self._sock.sendall(header())
            check_header(self._read_exactly(_HEADER.size))
        except OSError as exc:
            raise WireError(f"SP handshake failed: {exc}") from exc

    def receive(self, max_size: int) -> bytes | None:
        """The next message (None when the peer closed between messages).

        A message longer than ``max_size`` is read and thrown away, then
        :class:`MessageTooLong` says so; the connection stays usable.
        """
        self._sock.settimeout(None)
        if self._ipc:
            kind = self._read_exactly(1)
            if not kind:
                return None
            if kind[0] != _IPC_MESSAGE:
                raise WireError(f"unknown IPC message type 0x{kind[0]:02x}")
        prefix = self._read_exactly(_LENGTH.size)
        if not prefix and not self._ipc:
            return None
        if len(prefix) != _LENGTH.size:
            raise WireError("connection closed inside a message")
        (size,) = _LENGTH.unpack(prefix)
        if size > max_size:
            self._discard(size)
            raise MessageTooLong(f"message of {size} bytes, longer than {max_size}")
        body = self._read_exactly(size)
        if len(body) != size:
            raise WireError("connection closed inside a message")
        return body

    def send(self, data: bytes, timeout_s: float) -> None:
        """Send one message; :class:`TimeoutError` when the peer takes none of it for
        ``timeout_s``, :class:`OSError` when it has gone."""
        self._sock.settimeout(timeout_s)
        prefix = _LENGTH.pack(len(data))
        if self._ipc:
            prefix = bytes([_IPC_MESSAGE]) + prefix
        if len(data) < 65536:
            self._sock.sendall(prefix + data)
        else:
            self._sock.sendall(prefix)
            self._sock.sendall(data)

    def gone(self) -> bool:
        """True when the peer has closed (or reset) the connection; never blocks."""
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
            if not readable:
                return False
            return self._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    def _read_exactly(self, size: int) -> bytes:
        """``size`` bytes, or fewer when the peer closed first."""
        chunks: list[bytes] = []
        left = size
        while left:
            chunk = self._sock.recv(min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _discard(self, size: int) -> None:
        left = size
        while left:
            chunk = self._sock.recv(min(left, 1 << 16))
            if not chunk:
                return
            left -= len(chunk)


class Listener:
    """A listening socket for :class:`Connection` peers."""

    def __init__(self, url: str, backlog: int = 64) -> None:
        self.address = parse_url(url)
        self._path: Path | None = None
        if self.address.scheme == "ipc":
            self._path = Path(self.address.host)
            _remove_stale_socket(self._path)
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self._sock.bind(str(self._path))
                self._sock.listen(backlog)
            except OSError:
                self._sock.close()
                raise
        else:
            self._sock = socket.create_server(
                (self.address.host, self.address.port),
                family=self.address.family,
                backlog=backlog,
                reuse_port=False,
            )

    @property
    def port(self) -> int:
        """The TCP port listened on (0 for IPC)."""
        if self._path is not None:
            return 0
        return int(self._sock.getsockname()[1])

    def accept(self, timeout_s: float) -> Connection | None:
        """The next peer, not yet handshaken (None when none came within ``timeout_s``)."""
        readable, _, _ = select.select([self._sock], [], [], timeout_s)
        if not readable:
            return None
        try:
            sock, peer = self._sock.accept()
        except BlockingIOError:
            return None
        if self._path is None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            name = f"{peer[0]}:{peer[1]}"
        else:
            name = str(self._path)
        return Connection(sock, self._path is not None, name)

    def close(self) -> None:
        self._sock.close()
        if self._path is not None:
            _remove_stale_socket(self._path)


def _remove_stale_socket(path: Path) -> None:
    """Remove a socket file left by an earlier run (never any other kind of file)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISSOCK(mode):
        path.unlink()
