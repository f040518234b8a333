"""The HTTP API of a running service (Mosquitto, a RAW exchange, uvicorn on a free port): the
channel's answers in four formats, exchanges, health, metrics, the token, and bad requests."""

from __future__ import annotations

import dataclasses
import io
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logger.core.config import HttpConfig, RingbusConfig, parse_config
from logger.core.errors import ConfigError
from logger.service.service import Service
from logger.web.app import make_app
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import BrokerAddress, numbered, publish
from tests.support.ports import free_port
from tests.support.service import (
    WAIT_S,
    ServiceProcess,
    ask,
    captured,
    running,
    service_config,
    wait_until,
)

ALL = "sync-0-9223372036854775807"
TOKEN = "s3cret-token"
N = 120


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, httpx.Client]]:
    tmp = tmp_path_factory.mktemp("http")
    with MosquittoProcess(tmp / "mosquitto") as mosquitto:
        yield from _serving(tmp, mosquitto)


def _serving(tmp: Path, mosquitto: MosquittoProcess) -> Iterator[tuple[Service, httpx.Client]]:
    token_file = tmp / "token"
    token_file.write_text(TOKEN + "\n")
    http = HttpConfig(listen="127.0.0.1:0", token_file=token_file, max_rows=100)
    cfg = dataclasses.replace(service_config(tmp, mosquitto.address), http=http)
    with running(cfg) as service:
        publish(mosquitto.address, "test/a", numbered(N), qos=1)
        assert service.exchanges["raw"].writer.wait_stored(N, WAIT_S)
        assert service.http is not None
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=service.http.url, headers=headers, timeout=WAIT_S) as client:
            yield service, client


def test_query_answers_as_the_channel_in_every_format(live: tuple[Service, httpx.Client]) -> None:
    service, client = live
    command = f"{ALL};limit=50"
    reply = ask(service, command)
    channel = reply.table()
    arrow = client.get("/api/query", params={"command": command})
    assert arrow.status_code == 200, arrow.text
    assert arrow.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(arrow.content).read_all()
    assert table.equals(channel)
    js = client.get("/api/query", params={"command": command, "format": "json"}).json()
    assert (js["disk"], js["memory"]) == (reply.disk, reply.memory) and len(js["rows"]) == 50
    assert [r["key"] for r in js["rows"]] == channel.column("key").to_pylist()
    csv = client.get("/api/query", params={"command": command}, headers={"Accept": "text/csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.strip().splitlines()) == 51  # a header and 50 rows
    parquet = client.get("/api/query", params={"command": command, "format": "parquet"})
    assert pq.read_table(io.BytesIO(parquet.content)).equals(channel)


def test_a_window_over_the_row_limit_is_refused_and_limit_takes_its_first_rows(
    live: tuple[Service, httpx.Client],
) -> None:
    service, client = live  # N rows stored, the limit is 100
    for route, extra in (("/api/query", {"format": "json"}), ("/api/export", {"format": "csv"})):
        refused = client.get(route, params={"command": ALL, **extra})
        assert refused.status_code == 413, refused.text
        assert refused.json()["disk"] == 4 and "more than 100 rows" in refused.json()["message"]
        too_far = client.get(route, params={"command": f"{ALL};limit=101", **extra})
        assert too_far.status_code == 413, too_far.text
    got = client.get("/api/query", params={"command": f"{ALL};limit=100", "format": "json"})
    assert got.headers["x-sdvlog-row-limit"] == "100"
    keys = [r["key"] for r in got.json()["rows"]]
    assert keys == ask(service, f"{ALL};limit=100").table().column("key").to_pylist()
    exact = client.get("/api/query", params={"command": f"{ALL};limit=50", "format": "csv"})
    assert exact.status_code == 200 and len(exact.text.strip().splitlines()) == 51


@pytest.mark.parametrize(
    ("params", "status", "code", "says"),
    [
        ({}, 400, 5, "command= is required"),
        ({"command": "sync-10-5"}, 400, 4, "before start"),
        ({"command": "hello"}, 400, 5, "expected"),
        ({"command": f"exchange=nosuch;{ALL}"}, 400, 5, "no exchange named"),
        ({"command": ALL, "exchange": "nosuch"}, 400, 5, "no exchange named"),
        ({"command": ALL, "format": "xml"}, 400, 5, "format="),
        ({"command": f"{ALL};id=0x100"}, 400, 5, "id="),
    ],
)
def test_bad_requests_get_4xx_with_the_channel_codes(
    live: tuple[Service, httpx.Client], params: dict[str, str], status: int, code: int, says: str
) -> None:
    _service, client = live
    got = client.get("/api/query", params=params)
    assert got.status_code == status, got.text
    body = got.json()
    assert body["disk"] == code and says in body["message"]


def test_exchanges_health_and_metrics(live: tuple[Service, httpx.Client]) -> None:
    _service, client = live
    (raw,) = client.get("/api/exchanges").json()
    assert raw["name"] == "raw" and raw["stream"] == "raw" and raw["tables"]["raw"]["files"] >= 1
    assert raw["topic"] == "test/#" and raw["topics"] == ["test/a"]
    health = client.get("/api/health").json()
    assert health["raw"]["writer"]["messages"] == N
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert f'sdvlog_exchange_writer_messages_total{{exchange="raw"}} {N}' in metrics.text
    assert "# TYPE sdvlog_exchange_ring_size gauge" in metrics.text
    raw_health = health["raw"]
    assert raw_health["ring_cap"] == 1000 and raw_health["flush_lag_seconds"] >= 0
    assert raw_health["disk_free_bytes"] > 0
    assert raw_health["retention"] == {"max_files": 100000, "max_bytes": 10 << 30}
    for gauge in ("ring_cap", "flush_lag_seconds", "disk_free_bytes", "retention_max_bytes"):
        assert f"# TYPE sdvlog_exchange_{gauge} gauge" in metrics.text


def test_flush_lag_is_the_age_of_the_oldest_message_not_yet_durable(tmp_path: Path) -> None:
    cfg = service_config(tmp_path, None)  # the ring flushes after 100 ms or 1,000 messages
    slow = dataclasses.replace(cfg.exchanges[0], ringbus=RingbusConfig(cap=1000, flush_ms=60_000))
    with running(dataclasses.replace(cfg, exchanges=(slow,))) as service:
        assert service.exchanges["raw"].stats()["flush_lag_seconds"] == 0.0
        assert service.broker is not None
        address = BrokerAddress("embedded", "127.0.0.1", service.broker.port)
        publish(address, "test/a", numbered(3), qos=1)
        captured(service, 3)
        first = service.exchanges["raw"].stats()["flush_lag_seconds"]
        assert isinstance(first, float) and 0.0 < first < 60.0
        wait_until(lambda: service.exchanges["raw"].stats()["flush_lag_seconds"] != first)
        later = service.exchanges["raw"].stats()["flush_lag_seconds"]
        assert isinstance(later, float) and later > first  # it grows while nothing is written


def test_every_route_wants_the_token(live: tuple[Service, httpx.Client]) -> None:
    service, _client = live
    assert service.http is not None
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        got = httpx.get(f"{service.http.url}/api/health", headers=headers, timeout=WAIT_S)
        assert got.status_code == 401 and "token" in got.json()["message"]


def test_off_loopback_needs_a_token_and_a_missing_token_starts_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"http\.token_env: listening on 0\.0\.0\.0:8080"):
        parse_config({"http": {"listen": "0.0.0.0:8080"}})
    with pytest.raises(ConfigError, match=r"http\.listen"):
        parse_config({"http": {"listen": "8080"}})
    http = HttpConfig(listen="127.0.0.1:0", token_env="SDVLOG_TEST_NO_SUCH_TOKEN")
    cfg = dataclasses.replace(service_config(tmp_path, None), http=http)
    service = Service(cfg)
    with pytest.raises(
        ConfigError, match=r"http\.token_env: the variable SDVLOG_TEST_NO_SUCH_TOKEN"
    ):
        service.start()
    assert service.channel.port == 0 and service.exchanges == {} and service.http is None


def test_sdvlog_serve_runs_the_service_with_its_api(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "sdvlog.toml"
    config.write_text(
        f'[broker]\nurl = "embedded"\nembedded_port = 0\n[parquet]\ndir = "{tmp_path / "store"}"\n'
        f'[query]\nurl = "tcp://127.0.0.1:{free_port()}"\n[http]\nlisten = "127.0.0.1:{port}"\n'
    )
    service = ServiceProcess(config, "serve")
    try:
        assert service.serving.wait(WAIT_S), "".join(service.log)
        health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=WAIT_S)
        assert health.status_code == 200 and "raw" in health.json()
    finally:
        assert service.terminate() == 0, "".join(service.log)


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_sdvlog_run_on_the_embedded_defaults_serves_http_on_loopback(tmp_path: Path) -> None:
    busy = [port for port in (1883, 8080, 10000) if not _free(port)]
    if busy:
        pytest.skip(f"the embedded defaults' ports {busy} are taken on this machine")
    service = ServiceProcess(None, "run", cwd=tmp_path)
    try:
        assert service.serving.wait(WAIT_S), "".join(service.log)
        assert any("HTTP API on http://127.0.0.1:8080" in line for line in service.log)
        health = httpx.get("http://127.0.0.1:8080/api/health", timeout=WAIT_S)
        assert health.status_code == 200 and "raw" in health.json()
    finally:
        assert service.terminate() == 0, "".join(service.log)


def test_openapi_and_docs_describe_every_route(live: tuple[Service, httpx.Client]) -> None:
    service, client = live
    spec = client.get("/openapi.json").json()
    page = client.get("/docs").text
    app = make_app(service, HttpConfig())
    routes = {getattr(r, "path", "") for r in app.routes} - {"/openapi.json", "/docs"}
    assert routes and routes <= set(spec["paths"])
    assert all(path in page for path in routes)
