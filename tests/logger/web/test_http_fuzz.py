"""1,000+ generated requests to the query routes: each gets an answer or a 4xx with the
channel's codes and a message, never a 500, and the service answers normally afterwards."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logger.core.config import HttpConfig
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import numbered, publish
from tests.support.service import WAIT_S, running, service_config

ALL = "sync-0-9223372036854775807"
PIECES = [
    "sync", "async", "-", "0", "1", "9223372036854775807", "99999999999999999999", ";",
    "limit=", "limit=3", "bus=can0", "id=0x100", "id=0x1-0x0", "sig=A", "where=A>1", "out=",
    "out=intervals", "topic=a/#", "topic=test/+", "topic=a/#/b", "topic=", "+", "#", "/",
    "exchange=raw", "exchange=", "=", ",", "\x00", "é", "%", " ",
]  # fmt: skip
commands = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(PIECES), max_size=12).map("".join),
    st.builds(lambda s, e, tail: f"sync-{s}-{e}{tail}", st.integers(-5, 2**64),
              st.integers(-5, 2**64), st.sampled_from(["", ";limit=2", ";bus=", ";id=zz"])),
)  # fmt: skip
formats = st.one_of(st.none(), st.sampled_from(["arrow", "json", "csv", "parquet", "", "xml"]))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    tmp = tmp_path_factory.mktemp("http-fuzz")
    with MosquittoProcess(tmp / "mosquitto") as mosquitto:
        cfg = dataclasses.replace(
            service_config(tmp, mosquitto.address), http=HttpConfig(listen="127.0.0.1:0")
        )
        with running(cfg) as service:
            publish(mosquitto.address, "test/a", numbered(20), qos=1)
            assert service.exchanges["raw"].writer.wait_stored(20, WAIT_S)
            assert service.http is not None
            with httpx.Client(base_url=service.http.url, timeout=WAIT_S) as http:
                yield http


def check(response: httpx.Response) -> None:
    assert response.status_code in (200, 400, 404, 503), (response.status_code, response.text)
    if response.status_code != 200:
        body = response.json()
        assert {"disk", "memory", "message"} <= set(body) and body["message"]


@settings(
    max_examples=700, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(command=commands, fmt=formats, exchange=st.one_of(st.none(), st.text(max_size=8)))
def test_query_route_never_fails_on_bad_input(
    client: httpx.Client, command: str, fmt: str | None, exchange: str | None
) -> None:
    params = {"command": command}
    if fmt is not None:
        params["format"] = fmt
    if exchange is not None:
        params["exchange"] = exchange
    check(client.get("/api/query", params=params))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(command=commands, fmt=st.sampled_from(["blf", "asc", "csv", "xyz"]))
def test_export_route_never_fails_on_bad_input(
    client: httpx.Client, command: str, fmt: str
) -> None:
    check(client.get("/api/export", params={"command": command, "format": fmt}))


def test_the_service_answers_after_the_fuzzing(client: httpx.Client) -> None:
    got = client.get("/api/query", params={"command": ALL, "format": "json"}).json()
    assert len(got["rows"]) == 20 and got["disk"] == 0
