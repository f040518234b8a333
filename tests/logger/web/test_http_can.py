"""The HTTP API over a CANP exchange with the demo DBC: the signals it defines and the frames a
query answers downloaded as log files that python-can reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import can
import httpx
import pytest

from canp.wire import encode_columns
from logger.core.config import ExchangeConfig, HttpConfig, RingbusConfig
from logger.service.service import Service
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import publish
from tests.support.service import WAIT_S, ask, running, service_config
from tests.support.streams import DEMO, demo_frames

ALL = "sync-0-9223372036854775807"
T0 = 1_700_000_000_000_000_000
BATCHES, FRAMES = 4, 50


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, httpx.Client]]:
    tmp = tmp_path_factory.mktemp("http-can")
    with MosquittoProcess(tmp / "mosquitto") as mosquitto:
        exchange = ExchangeConfig(
            name="can",
            topic="vehicle/+/canp/#",
            stream="canp",
            dbc=DEMO,
            qos=1,
            ringbus=RingbusConfig(cap=1000, flush_ms=100),
        )
        cfg = dataclasses.replace(
            service_config(tmp, mosquitto.address, exchange=exchange),
            http=HttpConfig(listen="127.0.0.1:0"),
        )
        with running(cfg) as service:
            payloads = [encode_columns(demo_frames(T0 + i * 10**9, FRAMES, i)) for i in range(4)]
            publish(mosquitto.address, "vehicle/V1/canp/can0", payloads, qos=1)
            assert service.exchanges["can"].writer.wait_stored(BATCHES, WAIT_S)
            assert service.http is not None
            with httpx.Client(base_url=service.http.url, timeout=WAIT_S) as client:
                yield service, client


def test_signals_lists_the_database(live: tuple[Service, httpx.Client]) -> None:
    _service, client = live
    messages = {m["name"]: m for m in client.get("/api/signals").json()["can"]}
    engine = {s["name"]: s for s in messages["EngineData"]["signals"]}
    assert messages["EngineData"]["id"] == 0x100
    assert engine["EngineSpeed"]["unit"] == "rpm"
    gear = {s["name"]: s for s in messages["TransmissionData"]["signals"]}["Gear"]
    assert gear["choices"], "a value table becomes the signal's choices"


@pytest.mark.parametrize("suffix", ["blf", "asc", "log", "csv"])
def test_export_downloads_a_log_python_can_reads(
    live: tuple[Service, httpx.Client], tmp_path: Path, suffix: str
) -> None:
    service, client = live
    want = ask(service, f"exchange=can;{ALL}").table()
    got = client.get("/api/export", params={"command": f"exchange=can;{ALL}", "format": suffix})
    assert got.status_code == 200, got.text
    assert f"sdvlog-export.{suffix}" in got.headers["content-disposition"]
    path = tmp_path / f"drive.{suffix}"
    path.write_bytes(got.content)
    read = list(can.LogReader(str(path)))
    assert len(read) == want.num_rows == BATCHES * FRAMES
    assert [m.arbitration_id for m in read] == want.column("id").to_pylist()


def test_export_refuses_what_it_cannot_do(live: tuple[Service, httpx.Client]) -> None:
    _service, client = live
    bad = client.get("/api/export", params={"command": ALL, "format": "xyz"})
    assert bad.status_code == 400 and "format=" in bad.json()["message"]
    empty = client.get("/api/export", params={"command": "sync-0-1", "format": "blf"})
    assert empty.status_code == 404 and "no frames" in empty.json()["message"]


def test_series_keeps_every_extreme_in_at_most_the_points_asked(
    live: tuple[Service, httpx.Client],
) -> None:
    service, client = live
    got = client.get(
        "/api/series", params={"sig": "EngineSpeed,VehicleSpeed", "points": "8", "exchange": "can"}
    )
    assert got.status_code == 200, got.text
    for sig in ("EngineSpeed", "VehicleSpeed"):
        rows = ask(service, f"exchange=can;{ALL};sig={sig}").table()
        values = [v for v in rows.column(sig).to_pylist() if v is not None]
        points = got.json()["signals"][sig]
        assert 0 < len(points["values"]) <= 8
        assert set(points["values"]) <= set(values)
        assert min(values) in points["values"] and max(values) in points["values"]
        assert points["ts"] == sorted(points["ts"])


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"sig": "EngineSpeed", "points": "0"}, "points="),
        ({"sig": "EngineSpeed", "points": "x"}, "points="),
        ({"sig": "EngineSped"}, "EngineSpeed"),
        ({}, "sig= is required"),
        ({"sig": "EngineSpeed", "start": "10", "end": "5"}, "before start"),
    ],
)
def test_series_refuses_bad_requests(
    live: tuple[Service, httpx.Client], params: dict[str, str], says: str
) -> None:
    _service, client = live
    got = client.get("/api/series", params={**params, "exchange": "can"})
    assert got.status_code == 400 and says in got.json()["message"], got.text


def test_series_without_a_window_spans_the_samples(live: tuple[Service, httpx.Client]) -> None:
    _service, client = live
    got = client.get(
        "/api/series", params={"sig": "EngineSpeed", "points": "40", "exchange": "can"}
    )
    points = got.json()["signals"]["EngineSpeed"]
    assert len(points["values"]) > 8  # several buckets used, not one bucket for all of time


def sql(client: httpx.Client, text: str, **extra: object) -> httpx.Response:
    return client.post("/api/sql", params={"format": "json"}, json={"sql": text, **extra})


def test_sql_answers_over_live_views(live: tuple[Service, httpx.Client]) -> None:
    service, client = live
    frames = ask(service, f"exchange=can;{ALL}").table()
    got = sql(client, "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM can_frames")
    assert got.status_code == 200, got.text
    (row,) = got.json()["rows"]
    assert row == {"n": frames.num_rows, "ids": len(set(frames.column("id").to_pylist()))}
    engine = ask(service, f"exchange=can;{ALL};sig=EngineSpeed").table().column("EngineSpeed")
    top = sql(client, "SELECT max(EngineSpeed) AS top FROM can_EngineData").json()["rows"][0]
    assert top["top"] == pytest.approx(max(v for v in engine.to_pylist() if v is not None))
    cut = sql(client, "SELECT * FROM can_frames", limit=7)
    assert len(cut.json()["rows"]) == 7 and cut.headers["x-sdvlog-truncated"] == "true"


def test_sql_makes_the_views_a_query_names_or_all(live: tuple[Service, httpx.Client]) -> None:
    _service, client = live
    joined = sql(
        client,
        "SELECT count(*) AS n FROM can_EngineData e JOIN can_frames f ON e.ts = f.ts",
    )
    assert joined.status_code == 200 and joined.json()["rows"][0]["n"] > 0, joined.text
    listed = sql(client, "SELECT table_name FROM information_schema.tables")
    names = {r["table_name"] for r in listed.json()["rows"]}
    assert {"can_frames", "can_EngineData"} <= names
    typo = sql(client, "SELECT * FROM can_frame")
    assert typo.status_code == 400 and "can_frame " in typo.json()["message"], typo.text


@pytest.mark.parametrize(
    "text",
    [
        "COPY (SELECT 1) TO '/tmp/sdvlog-escape.csv'",
        "ATTACH ':memory:' AS other",
        "SELECT * FROM read_csv('/etc/passwd')",
        "INSTALL httpfs",
        "SET enable_external_access = true",
        "CREATE TABLE t AS SELECT 1",
        "SELEC 1",
        "SELECT * FROM no_such_view",
    ],
)
def test_sql_that_could_escape_or_is_wrong_is_refused(
    live: tuple[Service, httpx.Client], text: str
) -> None:
    _service, client = live
    got = sql(client, text)
    assert got.status_code == 400 and got.json()["message"], got.text
    assert sql(client, "SELECT 1 AS one").json()["rows"] == [{"one": 1}]


def test_sql_bodies_that_are_not_a_query(live: tuple[Service, httpx.Client]) -> None:
    _service, client = live
    assert client.post("/api/sql", content=b"not json").status_code == 400
    assert client.post("/api/sql", json={"query": "SELECT 1"}).status_code == 400
    assert client.post("/api/sql", json={"sql": "SELECT 1", "limit": -1}).status_code == 400
    lone = client.post("/api/sql", content=b'{"sql": "SELECT \'\\ud800\'"}')
    assert lone.status_code == 400 and "not valid Unicode" in lone.json()["message"], lone.text


def test_odd_inputs_are_4xx_not_500(live: tuple[Service, httpx.Client]) -> None:
    _service, client = live
    series = client.get("/api/series", params={"sig": "EngineSpeed", "points": "²"})
    assert series.status_code == 400 and "points=" in series.json()["message"]
    query = client.get("/api/query", params={"command": f"{ALL};limit=²"})
    assert query.status_code == 400
    deep = client.post("/api/sql", content=b"[" * 60_000)
    assert deep.status_code == 400
    big = client.post("/api/sql", content=b" " * 200_000)
    assert big.status_code == 413 and "body" in big.json()["message"]
