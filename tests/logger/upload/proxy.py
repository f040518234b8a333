"""A small TCP proxy for fault tests: passes bytes on, or drops new connections, delays every
chunk, and cuts the connections under way."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from tests.support.ports import LOOPBACK

_CHUNK = 65536
_ERRORS = {"503": ("SlowDown", "Slow Down"), "500": ("InternalError", "Internal Error")}


class Proxy:
    """``127.0.0.1:port`` → ``upstream``; ``mode`` is ``"pass"``, ``"drop"`` (accept, then close at
    once), ``"delay"`` (each chunk ``delay_s`` late), or an HTTP status (``"503"``: S3's SlowDown,
    ``"500"``: InternalError) answered to every request without passing it on."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.delay_s = 0.0
        self.accepted = 0
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port = self._listener.getsockname()[1]
        self._live: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def cut(self) -> None:
        """Close every connection under way (mid-request)."""
        with self._lock:
            live, self._live = self._live, set()
        for s in live:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.mode == "drop":
                client.close()
                continue
            if self.mode in _ERRORS:
                threading.Thread(target=self._refuse, args=(client, self.mode), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection((LOOPBACK, self.upstream_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._live.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _refuse(self, client: socket.socket, status: str) -> None:
        """Read each request whole, answer it with the error ``status``; until the peer closes."""
        code, reason = _ERRORS[status]
        body = f"<Error><Code>{code}</Code><Message>{reason}</Message></Error>".encode()
        answer = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = client.recv(_CHUNK)
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                while len(buffer) < length:
                    data = client.recv(_CHUNK)
                    if not data:
                        return
                    buffer += data
                buffer = buffer[length:]
                client.sendall(answer)
                if self.mode != status:  # the next request on a connection of the new mode
                    return
        except OSError:
            pass
        finally:
            client.close()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(_CHUNK):
                if self.mode == "delay":
                    time.sleep(self.delay_s)
                if self.mode == "drop":
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
