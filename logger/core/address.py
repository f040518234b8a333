"""Where the query channel listens: ``tcp://HOST:PORT`` or ``ipc:///PATH``, parsed and checked."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["SCHEMES", "Address", "parse_url"]

SCHEMES = ("tcp", "ipc")


@dataclass(frozen=True)
class Address:
    """Where to listen: ``("tcp", host, port)`` or ``("ipc", path, 0)``."""

    scheme: str
    host: str
    port: int = 0

    @property
    def family(self) -> socket.AddressFamily:
        if self.scheme == "ipc":
            return socket.AF_UNIX
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET


def parse_url(url: str) -> Address:
    """``tcp://HOST:PORT`` (``*`` or nothing for every address, ``[::1]`` for IPv6) or
    ``ipc:///path``; anything else raises :class:`ValueError` saying why."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"{url!r}: the channel listens on tcp://HOST:PORT or ipc:///PATH")
    if parts.scheme == "ipc":
        path = url[len("ipc://") :]
        if not path:
            raise ValueError(f"{url!r}: no socket path")
        return Address("ipc", path)
    netloc = parts.netloc
    host, sep, port_text = netloc.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"{url!r}: expected tcp://HOST:PORT")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"{url!r}: port {port} out of range")
    host = host.strip("[]")
    return Address("tcp", "" if host in ("", "*") else host, port)
