"""Quarantined messages are counted per exchange and reason kind, once each, with the service's
counters."""

from __future__ import annotations

import time
from pathlib import Path

import can
import pyarrow as pa

from canp.wire import encode_messages
from logger.capture.quarantine_stats import MAX_KINDS, OTHER, QuarantineCounter, reason_kinds
from logger.core.config import ExchangeConfig, RingbusConfig
from logger.store.chunk import TableChunk
from logger.streams.plugin import quarantine_chunk
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import publish
from tests.support.service import ALL, ask, running, service_config, wait_until


def test_reasons_reduce_to_kinds() -> None:
    reasons = pa.array(
        [
            "truncated: frame 3 of 9 starts at byte 40 of 52",
            "truncated: frame 1 of 2 starts at byte 12 of 20",
            "magic b'XY' is not b'CP'",
            "5 bytes: shorter than the 8-byte header",
        ]
    )
    assert reason_kinds(reasons).to_pylist() == [
        "truncated: frame N of N starts at byte N of N",
        "truncated: frame N of N starts at byte N of N",
        "magic … is not …",
        "N bytes: shorter than the N-byte header",
    ]


def test_kinds_past_the_bound_count_as_other() -> None:
    counter = QuarantineCounter()
    reasons = [f"reason {chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(MAX_KINDS + 5)]
    counter.count([quarantine_chunk(list(range(len(reasons))), ["t"] * len(reasons),
                                    [b""] * len(reasons), reasons)])  # fmt: skip
    counts = counter.as_dict()
    assert counts["total"] == MAX_KINDS + 5
    by_reason = counts["by_reason"]
    assert isinstance(by_reason, dict) and len(by_reason) == MAX_KINDS + 1
    assert by_reason[OTHER] == 5
    counter.count([TableChunk("frames", pa.table({"ts": [1]}), "ts")])  # not quarantine
    assert counter.as_dict()["total"] == MAX_KINDS + 5


def test_a_live_exchange_counts_what_it_quarantines_once(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    exchange = ExchangeConfig(
        name="can", topic="vehicle/+/canp/#", stream="canp",
        ringbus=RingbusConfig(cap=100_000, flush_ms=60_000),
    )  # fmt: skip
    cfg = service_config(tmp_path, mosquitto.address, exchange=exchange)
    now = time.time()
    good = encode_messages([can.Message(timestamp=now, arbitration_id=0x100, data=b"\x01\x02")])
    bad = [b"CP\x01", b"XY" + good[2:], good[:-1], b"CP\x01\x00\x02\x00\x00\x00" + good[8:]]
    with running(cfg) as service:
        publish(mosquitto.address, "vehicle/V1/canp/can0", [good, *bad, good], qos=1)
        ring = service.exchanges["can"].ring
        wait_until(lambda: ring.counters.accepted >= 6, what="six messages captured")
        for _ in range(3):  # queries encode the ring: that is not quarantining again
            assert ask(service, ALL).ok
        assert service.stats()["can"]["quarantined"] == {"total": 0, "by_reason": {}}  # type: ignore[index]
    stats = service.exchanges["can"].stats()  # after stop: flushed and stored
    quarantined = stats["quarantined"]
    assert isinstance(quarantined, dict)
    assert quarantined["total"] == 4, quarantined
    assert sum(quarantined["by_reason"].values()) == 4
    assert any("shorter than" in k for k in quarantined["by_reason"]), quarantined
    assert any(k.startswith("magic") for k in quarantined["by_reason"]), quarantined
