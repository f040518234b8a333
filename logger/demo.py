"""``sdvlog demo``: the main job on the embedded defaults, end to end in one process.

Sample vehicle telemetry is published to the embedded broker at QoS 1, the exchange captures it
into Parquet, and a query over the channel prints what was stored. (The CAN gateway and the
simulated vehicle replace the sample publisher in a later step.)
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from logger import client
from logger.config import (
    BrokerConfig,
    Config,
    ExchangeConfig,
    ParquetConfig,
    QueryConfig,
    RingbusConfig,
)
from logger.errors import ServiceError
from logger.service import Service

log = logging.getLogger(__name__)


def sample_payload(i: int, t: float) -> bytes:
    speed = 60 + 40 * math.sin(i / 200)
    return json.dumps(
        {"seq": i, "t": round(t, 6), "speed_kph": round(speed, 2), "rpm": int(speed * 35)}
    ).encode()


def publish_samples(host: str, port: int, vin: str, count: int) -> None:
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"demo-publisher-{vin}")
    pub.connect(host, port)
    pub.loop_start()
    try:
        infos = [
            pub.publish(f"vehicle/{vin}/telemetry", sample_payload(i, time.time()), qos=1)
            for i in range(count)
        ]
        for info in infos:
            info.wait_for_publish(timeout=30)
    finally:
        pub.disconnect()
        pub.loop_stop()


@dataclass(frozen=True)
class DemoResult:
    published: int
    stored: int
    command: str
    reply: client.Reply


def run_demo(directory: Path, count: int) -> DemoResult:
    cfg = Config(
        broker=BrokerConfig(url="embedded", embedded_port=0),
        exchanges=(
            ExchangeConfig(
                name="telemetry", topic="vehicle/#", ringbus=RingbusConfig(flush_ms=200)
            ),
        ),
        parquet=ParquetConfig(dir=directory),
        query=QueryConfig(url="tcp://127.0.0.1:10000"),
    )
    service = Service(cfg)
    service.start()
    try:
        exchange = service.exchanges["telemetry"]
        if not exchange.subscribed.wait(30):
            raise ServiceError("the exchange did not connect to the embedded broker")
        assert service.broker is not None
        t0 = time.time()
        publish_samples("127.0.0.1", service.broker.port, cfg.vin, count)
        exchange.writer.wait_stored(count, timeout=60)
        command = f"sync-{int(t0 * 1000) - 1}-{int(time.time() * 1000) + 1}"
        reply = client.query(cfg.query.url, command)
        return DemoResult(count, exchange.writer.counters.messages, command, reply)
    finally:
        service.stop()
