"""The pair0 wire of the query channel, against real NNG peers (pynng) and raw sockets."""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pynng
import pytest

from logger.core.address import Address, parse_url
from logger.core.config import parse_config
from logger.core.errors import Code, ConfigError
from logger.query.answer import END_MARK, end_frame, to_ipc
from logger.query.channel import MAX_MESSAGE, ChannelServer, QueryService
from logger.query.client import parse_end, read_frame
from tests.support.ports import free_port
from tests.support.service import wait_until

TABLE = pa.table({"n": pa.array(range(1000), pa.int64()), "blob": [b"x" * 300] * 1000})


class Echo(QueryService):
    """Answers every command with TABLE in two frames and an end frame naming the command."""

    def __init__(self) -> None:
        super().__init__({})
        self.ready.set()

    def reply(self, raw: bytes) -> Iterator[bytes]:
        if raw == b"fail":
            raise RuntimeError("a bug in the answer")
        yield to_ipc(TABLE.slice(0, 500))
        yield to_ipc(TABLE.slice(500))
        yield end_frame(Code.OK, Code.NONE, raw.decode("utf-8", "replace"))


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChannelServer]:
    url = getattr(request, "param", None) or f"tcp://127.0.0.1:{free_port()}"
    if url == "ipc":
        url = f"ipc://{tmp_path / 'query.ipc'}"
    srv = ChannelServer(url, Echo())
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def ask(sock: pynng.Pair0, command: bytes) -> tuple[pa.Table, str | None]:
    sock.send(command)
    tables: list[pa.Table] = []
    while True:
        frame = sock.recv()
        if frame[:2] == END_MARK:
            disk, _, message = parse_end(frame)
            assert disk == Code.OK or message is not None
            return pa.concat_tables(tables) if tables else pa.table({}), message
        tables.append(read_frame(frame))


@pytest.mark.parametrize("server", [None, "ipc"], indirect=True, ids=["tcp", "ipc"])
def test_nng_pair0_peers_are_answered_on_tcp_and_ipc(server: ChannelServer) -> None:
    with pynng.Pair0(dial=server.url, recv_timeout=10_000) as sock:
        for command in (b"one", b"two"):
            table, message = ask(sock, command)
            assert table.equals(TABLE) and message == command.decode()


def test_several_commands_sent_at_once_are_answered_in_order(server: ChannelServer) -> None:
    with pynng.Pair0(dial=server.url, recv_timeout=10_000) as sock:
        for command in (b"a", b"b", b"c"):
            sock.send(command)
        ends: list[str | None] = []
        while len(ends) < 3:
            frame = sock.recv()
            if frame[:2] == END_MARK:
                ends.append(parse_end(frame)[2])
        assert ends == ["a", "b", "c"]


def test_peers_that_are_not_pair0_are_refused_and_counted(server: ChannelServer) -> None:
    host, port = "127.0.0.1", server.port
    with socket.create_connection((host, port), timeout=10) as http:
        http.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert http.recv(8) == b"\x00SP\x00\x00\x10\x00\x00"  # our SP header comes first
        with contextlib.suppress(ConnectionResetError):
            assert http.recv(100) == b""  # then the connection is closed
    with pynng.Pair1() as pair1:  # pair1 dials and keeps retrying
        pair1.dial(server.url, block=False)
        wait_until(lambda: server.stats().refused >= 2, what="two refusals counted")
    with pynng.Pair0(dial=server.url, recv_timeout=10_000) as sock:
        assert ask(sock, b"still serving")[0].equals(TABLE)


def test_an_overlong_command_is_answered_code_5_and_the_connection_goes_on(
    server: ChannelServer,
) -> None:
    with pynng.Pair0(dial=server.url, recv_timeout=10_000) as sock:
        sock.send(b"s" * (MAX_MESSAGE + 1))
        disk, memory, message = parse_end(sock.recv())
        assert (disk, memory) == (Code.BAD_COMMAND, Code.BAD_COMMAND)
        assert message is not None and "longer than" in message
        assert ask(sock, b"next")[1] == "next"


def test_an_answer_that_fails_ends_with_an_error_frame(server: ChannelServer) -> None:
    with pynng.Pair0(dial=server.url, recv_timeout=10_000) as sock:
        sock.send(b"fail")
        disk, memory, message = parse_end(sock.recv())
        assert (disk, memory) == (Code.FILE_SEARCH, Code.MEMORY_DECODE) and message
        assert ask(sock, b"after")[1] == "after"


def test_a_cut_message_closes_only_that_connection(server: ChannelServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(b"\x00SP\x00\x00\x10\x00\x00")
        assert raw.recv(8) == b"\x00SP\x00\x00\x10\x00\x00"
        raw.sendall(struct.pack(">Q", 100) + b"short")
    wait_until(lambda: server.stats().connected == 0, what="the cut connection closed")
    with pynng.Pair0(dial=server.url, recv_timeout=10_000) as sock:
        assert ask(sock, b"fine")[1] == "fine"


def test_stop_returns_with_idle_clients_connected(server: ChannelServer) -> None:
    socks = [pynng.Pair0(dial=server.url) for _ in range(3)]
    try:
        wait_until(lambda: server.stats().connected == 3, what="three clients")
        server.stop()
        assert server.stats().connected == 0
    finally:
        for s in socks:
            s.close()


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("tcp://127.0.0.1:10000", Address("tcp", "127.0.0.1", 10000)),
        ("tcp://*:10000", Address("tcp", "", 10000)),
        ("tcp://[::1]:7", Address("tcp", "::1", 7)),
        ("ipc:///run/sdvlog/q.ipc", Address("ipc", "/run/sdvlog/q.ipc")),
    ],
)
def test_listen_urls(url: str, want: Address) -> None:
    assert parse_url(url) == want


@pytest.mark.parametrize(
    "url", ["ws://127.0.0.1:1", "tcp://127.0.0.1", "tcp://h:99999", "ipc://", "127.0.0.1:10000"]
)
def test_bad_listen_urls_are_config_errors_naming_the_key(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"query": {"url": url}}, source=Path("sdvlog.toml"))
    assert str(info.value).startswith("sdvlog.toml: query.url:"), str(info.value)
