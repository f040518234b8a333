"""Answers reach only the client that asked: abandoned answers, clients arriving mid-answer."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pynng
import pytest

from logger.core.errors import Code
from logger.query import client
from logger.query.answer import END_MARK
from logger.query.channel import ChannelServer
from logger.query.client import parse_end, read_frame
from logger.service.service import Service
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import publish
from tests.support.ports import free_port
from tests.support.service import ALL, WAIT_S, run_cli, running, service_config, wait_until

ROWS = 5000
PAYLOAD = 4000
LIMITED = ALL + ";limit=10"


@dataclass(frozen=True)
class Expected:
    """What the store answers offline (``sdvlog query --dir``) for one command."""

    table: pa.Table
    disk: Code
    memory: Code


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Path]]:
    """A live service whose RAW exchange holds ROWS messages, all in files (several files)."""
    tmp = tmp_path_factory.mktemp("clients")
    with MosquittoProcess(tmp / "mosquitto") as broker:
        cfg = service_config(tmp, broker.address)
        with running(cfg) as service:
            payloads = [i.to_bytes(4, "big") * (PAYLOAD // 4) for i in range(ROWS)]
            publish(broker.address, "test/big", payloads, qos=1)
            exchange = service.exchanges["raw"]
            assert exchange.writer.wait_stored(ROWS, WAIT_S)
            wait_until(
                lambda: not any(len(b) for b in exchange.memory_snapshot()),
                what="ring and writer empty",
            )
            assert exchange.store.file_count > 3, "want an answer of several frames"
            yield service, cfg.parquet.dir


def offline(store: Path, command: str, tmp: Path) -> Expected:
    out = tmp / "offline.arrow"
    done = run_cli(
        "query", command, "--dir", str(store), "--exchange", "raw", "--format", "arrow",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with pa.ipc.open_stream(out.read_bytes()) as reader:
        table = reader.read_all()
    return Expected(table, Code.OK, Code.NONE)


def check(reply: client.Reply, want: Expected, what: str) -> None:
    got = reply.table()
    assert (reply.disk, reply.memory) == (want.disk, want.memory), (what, reply.message)
    assert got.num_rows == want.table.num_rows, f"{what}: {got.num_rows} rows"
    assert got.column("key").equals(want.table.column("key")), what
    assert got.column("payload").equals(want.table.column("payload")), what


def plain(url: str, command: str) -> client.Reply:
    """A plain pair0 client with no retries: dial, send once, read to the end frame."""
    reply = client.Reply()
    with pynng.Pair0(dial=url, recv_timeout=int(WAIT_S * 1000)) as sock:
        sock.send(command.encode())
        while True:
            frame = sock.recv()
            if frame[:2] == END_MARK:
                reply.disk, reply.memory, reply.message = parse_end(frame)
                return reply
            reply.tables.append(read_frame(frame))


def leave_after(url: str, frames: int, *, wait_answering: Callable[[], None] | None = None) -> None:
    """Ask for everything, read ``frames`` reply frames (none: optionally wait until the server
    is answering), then disconnect."""
    with pynng.Pair0(dial=url, recv_timeout=int(WAIT_S * 1000), recv_buffer_size=1) as sock:
        sock.send(ALL.encode())
        if wait_answering is not None:
            wait_answering()
        for _ in range(frames):
            assert sock.recv()[:2] != END_MARK


def test_abandoned_answers_never_reach_the_next_clients(
    stored: tuple[Service, Path], tmp_path: Path
) -> None:
    service, store = stored
    url = service.cfg.query.url
    everything = offline(store, ALL, tmp_path)
    limited = offline(store, LIMITED, tmp_path)
    assert everything.table.num_rows == ROWS and limited.table.num_rows == 10
    channel = service.channel

    def answering() -> None:
        wait_until(lambda: channel.stats().answering >= 1, what="the answer to start")

    leavers: list[tuple[str, Callable[[], None]]] = [
        ("closes without reading", lambda: leave_after(url, 0)),
        ("reads 0 frames", lambda: leave_after(url, 0, wait_answering=answering)),
        ("reads 1 frame", lambda: leave_after(url, 1)),
        ("reads 1 frame again", lambda: leave_after(url, 1)),
        ("reads 2 frames", lambda: leave_after(url, 2)),
        ("reads 3 frames", lambda: leave_after(url, 3)),
    ]

    def counted(field: str, least: int) -> Callable[[], bool]:
        return lambda: bool(channel.stats().as_dict()[field] >= least)

    for number, (what, leave) in enumerate(leavers, start=1):
        before = channel.stats()
        leave()
        wait_until(
            counted("abandoned", before.abandoned + 1),
            what=f"answer {number} ({what}) counted as abandoned",
        )
        check(plain(url, LIMITED), limited, f"limit=10 after a client that {what}")
        check(plain(url, ALL), everything, f"everything after a client that {what}")
        check(client.query(url, LIMITED), limited, f"client.query after a client that {what}")
        wait_until(  # the counter moves just after the end frame is sent
            counted("answered", before.answered + 3), what=f"three answers after {what} counted"
        )
        after = channel.stats()
        assert after.abandoned == before.abandoned + 1, what
        assert after.answered == before.answered + 3, what
    assert service.stats()["channel"] == channel.stats().as_dict()


def test_a_client_arriving_mid_answer_gets_its_own_answer_at_once(
    stored: tuple[Service, Path], tmp_path: Path
) -> None:
    service, store = stored
    url = service.cfg.query.url
    everything = offline(store, ALL, tmp_path)
    limited = offline(store, LIMITED, tmp_path)
    with pynng.Pair0(dial=url, recv_timeout=int(WAIT_S * 1000), recv_buffer_size=1) as first:
        first.send(ALL.encode())
        frames = [first.recv()]  # the first answer is under way, and held up by its reader
        assert frames[0][:2] != END_MARK
        check(plain(url, LIMITED), limited, "second client while the first is answered")
        check(plain(url, ALL), everything, "third client while the first is answered")
        while frames[-1][:2] != END_MARK:
            frames.append(first.recv())
    reply = client.Reply(tables=[read_frame(f) for f in frames[:-1]])
    reply.disk, reply.memory, reply.message = parse_end(frames[-1])
    check(reply, everything, "the first client, read slowly to the end")


@contextlib.contextmanager
def one_slot(service: Service) -> Iterator[ChannelServer]:
    """A second channel on the same exchanges that computes one answer at a time."""
    server = ChannelServer(f"tcp://127.0.0.1:{free_port()}", service.queries, max_clients=1)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_with_one_slot_a_waiting_command_is_served_when_the_first_is_done(
    stored: tuple[Service, Path], tmp_path: Path
) -> None:
    service, store = stored
    everything = offline(store, ALL, tmp_path)
    limited = offline(store, LIMITED, tmp_path)
    with one_slot(service) as server:
        with (
            pynng.Pair0(
                dial=server.url, recv_timeout=int(WAIT_S * 1000), recv_buffer_size=1
            ) as first,
            pynng.Pair0(dial=server.url, recv_timeout=int(WAIT_S * 1000)) as second,
        ):
            first.send(ALL.encode())
            frames = [first.recv()]
            second.send(LIMITED.encode())  # queued: the only slot is taken
            wait_until(lambda: server.stats().connected == 2, what="both clients connected")
            assert server.stats().answering == 1
            while frames[-1][:2] != END_MARK:
                frames.append(first.recv())
            reply = client.Reply()
            while True:
                frame = second.recv()
                if frame[:2] == END_MARK:
                    reply.disk, reply.memory, reply.message = parse_end(frame)
                    break
                reply.tables.append(read_frame(frame))
        check(reply, limited, "the waiting client")
        first_reply = client.Reply(tables=[read_frame(f) for f in frames[:-1]])
        first_reply.disk, first_reply.memory, _ = parse_end(frames[-1])
        check(first_reply, everything, "the first client")
        wait_until(lambda: server.stats().answered == 2, what="both answers counted")
        assert server.stats().abandoned == 0
