"""The NNG query channel: every command gets an end frame; clients cannot stall capture."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pynng
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logger.core.errors import Code
from logger.query import client
from logger.query.answer import END_MARK
from logger.query.client import parse_end
from logger.service.service import Service
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import BrokerAddress, numbered, publish
from tests.support.service import ALL, WAIT_S, captured, running, service_config

selector = st.one_of(
    st.builds(lambda n: f"limit={n}", st.integers(-5, 10**20)),
    st.builds(lambda s: f"bus={s}", st.text(max_size=8)),
    st.builds(lambda s: f"topic={s}", st.text(alphabet="tes/+#$ ,\x00", max_size=10)),
    st.builds(lambda a, b: f"id=0x{a:X}-0x{b:X}", st.integers(0, 2**29), st.integers(0, 2**29)),
    st.builds(
        lambda s, op, v: f"where={s}{op}{v}",
        st.text(max_size=6),
        st.sampled_from([">", "<=", "==", "!"]),
        st.floats(),
    ),
    st.sampled_from(
        [
            "out=rows",
            "out=intervals",
            "msg=EngineData",
            "sig=A.B",
            "exchange=raw",
            "",
            ";",
            "limit=",
        ]
    ),
    st.text(max_size=12),
)
command = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda mode, a, b, sels: f"{mode}-{a}-{b}" + "".join(";" + s for s in sels),
        st.sampled_from(["sync", "async", "SYNC", "asink", ""]),
        st.one_of(st.integers(-10, 2**64), st.text(max_size=4)),
        st.one_of(st.integers(-10, 2**64), st.text(max_size=4)),
        st.lists(selector, max_size=3),
    ),
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, BrokerAddress]]:
    tmp = tmp_path_factory.mktemp("channel")
    with MosquittoProcess(tmp / "mosquitto") as broker:
        cfg = service_config(tmp, broker.address)
        with running(cfg) as service:
            publish(broker.address, "test/c", numbered(300), qos=1)
            captured(service, 300)
            yield service, broker.address


@pytest.fixture(scope="module")
def sock(live: tuple[Service, BrokerAddress]) -> Iterator[pynng.Pair0]:
    with pynng.Pair0(dial=live[0].cfg.query.url, recv_timeout=10000, send_timeout=10000) as s:
        yield s


@settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=command)
def test_every_generated_command_gets_an_end_frame(sock: pynng.Pair0, text: str) -> None:
    sock.send(text.encode("utf-8", "surrogatepass"))
    while True:
        frame = sock.recv()
        if frame[:2] == END_MARK:
            break
    disk, memory, message = parse_end(frame)
    if disk in (Code.BAD_COMMAND, Code.BAD_KEY_RANGE):
        assert message, f"no message for a bad command {text!r}"
    else:
        assert disk in (Code.OK, Code.NONE) and memory in (Code.OK, Code.NONE), (text, message)


def test_valid_query_still_answers_after_the_fuzzing(sock: pynng.Pair0) -> None:
    reply = client.exchange(sock, ALL)
    assert reply.ok and reply.table().column("payload").to_pylist() == numbered(300)


def test_non_utf8_and_unknown_exchange(sock: pynng.Pair0) -> None:
    sock.send(b"\xff\xfe")
    assert parse_end(sock.recv())[0] == Code.BAD_COMMAND
    sock.send(b"exchange=nope;sync-0-1")
    disk, _, message = parse_end(sock.recv())
    assert disk == Code.BAD_COMMAND and message is not None and "nope" in message


def test_vanished_and_slow_clients_never_stall_capture(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    cfg = service_config(tmp_path, mosquitto.address)
    with running(cfg) as service:
        publish(mosquitto.address, "test/a", [b"x" * 4000] * 3000, qos=1)
        captured(service, 3000)
        exchange = service.exchanges["raw"]
        # A client asks for everything and never reads; another asks and disappears.
        slow = pynng.Pair0(dial=cfg.query.url, recv_buffer_size=1)
        slow.send(ALL.encode())
        gone = pynng.Pair0(dial=cfg.query.url)
        gone.send(ALL.encode())
        gone.close()
        started = time.monotonic()
        publish(mosquitto.address, "test/b", numbered(2000), qos=1)
        assert exchange.writer.wait_stored(5000, WAIT_S)
        assert time.monotonic() - started < WAIT_S
        slow.close()
        reply = client.query(cfg.query.url, ALL, timeout_ms=int(WAIT_S * 1000))
        assert reply.ok and reply.table().num_rows == 5000
