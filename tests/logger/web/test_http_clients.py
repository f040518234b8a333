"""Several HTTP clients asking for everything, over and over, while messages arrive: every
message is captured and stored, and every client gets complete answers."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import httpx
import pyarrow as pa

from logger.core.config import HttpConfig
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import numbered, publish
from tests.support.service import WAIT_S, running, service_config

ALL = "sync-0-9223372036854775807"
CLIENTS, MESSAGES = 4, 3000


def test_clients_at_once_never_cost_a_message(tmp_path: Path) -> None:
    with MosquittoProcess(tmp_path / "mosquitto") as mosquitto:
        cfg = dataclasses.replace(
            service_config(tmp_path, mosquitto.address), http=HttpConfig(listen="127.0.0.1:0")
        )
        with running(cfg) as service:
            assert service.http is not None
            url = service.http.url
            stop = threading.Event()
            answers: list[list[int]] = [[] for _ in range(CLIENTS)]
            failures: list[str] = []

            def ask_again(mine: list[int]) -> None:
                with httpx.Client(base_url=url, timeout=WAIT_S) as client:
                    while not stop.is_set():
                        got = client.get("/api/query", params={"command": ALL})
                        if got.status_code != 200:
                            failures.append(got.text)
                            return
                        rows = pa.ipc.open_stream(got.content).read_all() if got.content else None
                        keys = [] if rows is None else rows.column("key").to_pylist()
                        if keys != sorted(set(keys)):
                            failures.append("an answer out of order or with a duplicate")
                        mine.append(len(keys))

            threads = [threading.Thread(target=ask_again, args=(a,)) for a in answers]
            for t in threads:
                t.start()
            publish(mosquitto.address, "test/a", numbered(MESSAGES), qos=1)
            stored = service.exchanges["raw"].writer.wait_stored(MESSAGES, WAIT_S)
            stop.set()
            for t in threads:
                t.join(WAIT_S)
            assert stored and not failures, failures[:3]
            assert all(answers), "every client was answered"
            final = httpx.get(f"{url}/api/query", params={"command": ALL}, timeout=WAIT_S)
            assert pa.ipc.open_stream(final.content).read_all().num_rows == MESSAGES
            ring = service.exchanges["raw"].stats()["ring"]
            assert isinstance(ring, dict) and ring["accepted"] == MESSAGES
