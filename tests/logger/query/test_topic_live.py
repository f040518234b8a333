"""``topic=`` on a running service (Mosquitto; RAW, CANP with a DBC and SPI exchanges; HTTP): rows
in files and in the ring answer once each, over the channel, ``sdvlog query --url`` and
``/api/query``; ``/api/sql`` sees the topic column."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import httpx
import pyarrow as pa
import pytest

from logger.core.config import ExchangeConfig, HttpConfig, RingbusConfig
from logger.core.errors import Code
from logger.service.demo import demo_dbc
from logger.service.service import Service
from spi.plugin import SpiPlugin
from spi.wire import Record, encode_batch
from tests.logger.core.test_topics import reference_match
from tests.logger.query.test_topic_store import FRAMES_EACH, SOURCES, engine_batch
from tests.support.canp_plugin import MS, T0
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import publish
from tests.support.service import ALL, WAIT_S, ask, captured, run_cli, running, service_config

RAW_TOPICS = ["test/a", "test/a/x", "test/a/y", "test/b/x", "test/a/x/deep"]
PER_TOPIC = 50
RAW_CAP = 100  # 250 messages: 200 written in two batches, 50 left in the ring
SPI_TOPICS = ["vehicle/V1/spi/adas", "vehicle/V1/spi/gw", "vehicle/V2/spi/gw"]


def raw_published() -> list[tuple[str, bytes]]:
    return [(t, f"{t}#{i}".encode()) for t in RAW_TOPICS for i in range(PER_TOPIC)]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, httpx.Client]]:
    tmp = tmp_path_factory.mktemp("topic-live")
    never = 600_000  # rings are written when full, never by age: files and memory both answer
    exchanges = (
        ExchangeConfig(
            name="raw", topic="test/#", ringbus=RingbusConfig(cap=RAW_CAP, flush_ms=never)
        ),
        ExchangeConfig(
            name="can",
            topic="vehicle/+/canp/#",
            stream="canp",
            dbc=demo_dbc(),
            ringbus=RingbusConfig(cap=4, flush_ms=never),
        ),
        ExchangeConfig(
            name="spi",
            topic="vehicle/+/spi/#",
            stream="spi",
            dbc=demo_dbc(),
            ringbus=RingbusConfig(cap=4, flush_ms=never),
        ),
    )
    with MosquittoProcess(tmp / "mosquitto") as mosquitto:
        cfg = dataclasses.replace(
            service_config(tmp, mosquitto.address),
            exchanges=exchanges,
            http=HttpConfig(listen="127.0.0.1:0"),
        )
        with running(cfg) as service:
            for name in RAW_TOPICS:
                payloads = [p for t, p in raw_published() if t == name]
                publish(mosquitto.address, name, payloads, qos=1)
            for b in range(3):  # 9 CANP messages: 8 written, 1 in the ring
                batch = engine_batch(T0 + b * 100 * MS)
                for name, payload in zip(batch.topics, batch.payloads, strict=True):
                    publish(mosquitto.address, name, [bytes(payload)], qos=1)
            speed = SpiPlugin(cfg.exchanges[2]).catalog.by_name["EngineData.EngineSpeed"]
            for i in range(9):  # 9 SPI messages: 8 written, 1 in the ring
                record = Record(speed.id, speed.type, float(i), True)
                payload = encode_batch(T0 + i * MS, [record])
                publish(mosquitto.address, SPI_TOPICS[i % 3], [payload], qos=1)
            captured(service, len(RAW_TOPICS) * PER_TOPIC)
            captured(service, 9, "can")
            captured(service, 9, "spi")
            assert service.exchanges["raw"].writer.wait_stored(2 * RAW_CAP, WAIT_S)
            assert service.exchanges["can"].writer.wait_stored(8, WAIT_S)
            assert service.exchanges["spi"].writer.wait_stored(8, WAIT_S)
            assert service.http is not None
            with httpx.Client(base_url=service.http.url, timeout=WAIT_S) as client:
                yield service, client


@pytest.mark.parametrize(
    "filters",
    ["#", "test/a/#", "test/+/x", "test/a", "test/a/x/+", "test/+/x,test/a", "+/+", "test/c/#"],
)
def test_raw_rows_from_files_and_ring_once_each(
    live: tuple[Service, httpx.Client], filters: str
) -> None:
    service, _client = live
    reply = ask(service, f"exchange=raw;{ALL};topic={filters}")
    table = reply.table()
    want = [p for t, p in raw_published() if any(reference_match(f, t) for f in filters.split(","))]
    got = table.column("payload").to_pylist() if table.num_columns else []
    assert sorted(got) == sorted(want) and len(got) == len(want)  # no gap, no duplicate
    if got:
        keys = table.column("key").to_pylist()
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        in_files = {t for t, _ in raw_published()[: 2 * RAW_CAP]}
        in_ring = {t for t, _ in raw_published()[2 * RAW_CAP :]}
        matched = {t for t in RAW_TOPICS if any(reference_match(f, t) for f in filters.split(","))}
        assert reply.disk == (Code.OK if matched & in_files else Code.NONE)
        assert reply.memory == (Code.OK if matched & in_ring else Code.NONE)
    else:
        assert (reply.disk, reply.memory) == (Code.NONE, Code.NONE)


def test_raw_bad_filter_is_a_bad_command(live: tuple[Service, httpx.Client]) -> None:
    service, _client = live
    reply = ask(service, f"exchange=raw;{ALL};topic=test/a+")
    assert reply.disk == Code.BAD_COMMAND and "'+' must be a whole level" in (reply.message or "")


def test_canp_frames_and_signals_by_topic(live: tuple[Service, httpx.Client]) -> None:
    service, _client = live
    for filters in ("vehicle/V1/#", "vehicle/+/canp/can0", "vehicle/V2/canp/can0,+/+/+/can1"):
        reply = ask(service, f"exchange=can;{ALL};topic={filters}")
        assert reply.ok, reply.message
        frames = reply.table()
        sources = [
            (v, b)
            for v, b, _ in SOURCES
            if any(reference_match(f, f"vehicle/{v}/canp/{b}") for f in filters.split(","))
        ]
        assert frames.num_rows == 3 * FRAMES_EACH * len(sources)
        assert set(frames.column("topic").to_pylist()) == {
            f"vehicle/{v}/canp/{b}" for v, b in sources
        }
        ts = frames.column("ts").to_pylist()
        assert ts == sorted(ts) and len(set(ts)) == len(ts)
    signals = ask(service, f"exchange=can;{ALL};sig=EngineSpeed;topic=vehicle/V2/#").table()
    assert signals.column("EngineSpeed").to_pylist() == [3000.0] * 3 * FRAMES_EACH
    where = ask(service, f"exchange=can;{ALL};where=EngineSpeed>1500;topic=+/V1/+/+").table()
    assert where.column("EngineSpeed").to_pylist() == [2000.0] * 3 * FRAMES_EACH
    buses = ask(service, f"exchange=can;{ALL};bus=can1").table()  # bus= as before
    assert set(buses.column("bus").to_pylist()) == {"can1"}
    assert buses.num_rows == 3 * FRAMES_EACH


def test_spi_rows_by_topic(live: tuple[Service, httpx.Client]) -> None:
    service, _client = live
    reply = ask(service, f"exchange=spi;{ALL};topic=vehicle/+/spi/gw;sig=EngineSpeed")
    assert (reply.disk, reply.memory) == (Code.OK, Code.OK), reply.message
    table = reply.table()
    gw = [1, 2, 4, 5, 7, 8]  # the last one is still in the ring
    assert table.column("EngineData.EngineSpeed").to_pylist() == [float(i) for i in gw]
    assert table.column("topic").to_pylist() == [SPI_TOPICS[i % 3] for i in gw]


def test_the_cli_passes_topic_through(live: tuple[Service, httpx.Client]) -> None:
    service, _client = live
    url = service.cfg.query.url
    done = run_cli(
        "query", "--url", url, "--exchange", "raw", "--format", "jsonl", f"{ALL};topic=test/+/x"
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted({r["topic"] for r in rows}) == ["test/a/x", "test/b/x"]
    assert len(rows) == 2 * PER_TOPIC
    bad = run_cli("query", "--url", url, "--exchange", "raw", f"{ALL};topic=a/#/b")
    assert bad.returncode == 1 and "'#' must be a whole level" in bad.stderr


def test_http_query_passes_topic_through(live: tuple[Service, httpx.Client]) -> None:
    service, client = live
    command = f"exchange=raw;{ALL};topic=test/a/+"
    arrow = client.get("/api/query", params={"command": command})
    assert arrow.status_code == 200, arrow.text
    table = pa.ipc.open_stream(arrow.content).read_all()
    assert table.equals(ask(service, command).table())
    assert sorted(set(table.column("topic").to_pylist())) == ["test/a/x", "test/a/y"]
    js = client.get("/api/query", params={"command": command, "format": "json"}).json()
    assert len(js["rows"]) == 2 * PER_TOPIC
    bad = client.get("/api/query", params={"command": f"exchange=raw;{ALL};topic=a/#/b"})
    assert bad.status_code == 400 and bad.json()["disk"] == Code.BAD_COMMAND
    assert "'#' must be a whole level" in bad.json()["message"]


def test_sql_views_show_the_topic_column(live: tuple[Service, httpx.Client]) -> None:
    _service, client = live
    text = "SELECT topic, count(*) AS n FROM can_frames GROUP BY topic ORDER BY topic"
    got = client.post("/api/sql", params={"format": "json"}, json={"sql": text})
    assert got.status_code == 200, got.text
    assert got.json()["rows"] == [
        {"topic": f"vehicle/{v}/canp/{b}", "n": 3 * FRAMES_EACH}
        for v, b, _ in sorted(SOURCES, key=lambda s: f"vehicle/{s[0]}/canp/{s[1]}")
    ]
    text = "SELECT DISTINCT topic FROM can_EngineData ORDER BY topic"
    signals = client.post("/api/sql", params={"format": "json"}, json={"sql": text})
    assert [r["topic"] for r in signals.json()["rows"]] == sorted(
        f"vehicle/{v}/canp/{b}" for v, b, _ in SOURCES
    )


def test_http_series_narrows_by_topic_and_bus(live: tuple[Service, httpx.Client]) -> None:
    _service, client = live
    params = {"sig": "EngineSpeed", "exchange": "can", "points": "1000"}
    got = client.get("/api/series", params={**params, "topic": "vehicle/V2/#"})
    assert got.status_code == 200, got.text
    assert set(got.json()["signals"]["EngineSpeed"]["values"]) == {3000.0}
    both = client.get("/api/series", params={**params, "topic": "+/V1/#", "bus": "can1"})
    assert set(both.json()["signals"]["EngineSpeed"]["values"]) == {2000.0}
    bad = client.get("/api/series", params={**params, "topic": "vehicle/#/x"})
    assert bad.status_code == 400 and "'#' must be a whole level" in bad.json()["message"]
    sneaky = client.get("/api/series", params={**params, "topic": "a;limit=1"})
    assert sneaky.status_code == 400 and "cannot hold ';'" in sneaky.json()["message"]


def test_http_export_of_some_topics(live: tuple[Service, httpx.Client]) -> None:
    _service, client = live
    command = f"exchange=can;{ALL};topic=vehicle/V2/#"
    got = client.get("/api/export", params={"command": command, "format": "log"})
    assert got.status_code == 200, got.text
    lines = got.text.strip().splitlines()  # candump -L: one frame per line, "(ts) bus id#data"
    assert len(lines) == 3 * FRAMES_EACH and all(" can0 100#" in line for line in lines)
