"""``[upload]`` in the service: a live service's files reach the bucket as they are sealed; the
counters are in ``Service.stats()["upload"]`` and in /metrics under Prometheus' names; config
errors (a key in the clear, a template that could collide, a missing variable) stop the start."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from logger.core.config import ExchangeConfig, RingbusConfig, parse_config
from logger.core.errors import ConfigError
from logger.service.service import Service
from logger.web.metrics import prometheus_text
from tests.logger.upload.conftest import SECRET_ENV, VIN, downloaded, local_digests, upload_config
from tests.support.mqtt_clients import BrokerAddress, numbered, publish
from tests.support.s3 import MotoServer
from tests.support.service import WAIT_S, running, service_config, wait_until


def test_a_live_services_files_are_uploaded(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    cfg = service_config(tmp_path, None)
    cfg = dataclasses.replace(cfg, vin=VIN, upload=upload_config(bucket))
    with running(cfg) as service:
        assert service.broker is not None and service.uploader is not None
        address = BrokerAddress("embedded", "127.0.0.1", service.broker.port)
        exchange = service.exchanges["raw"]
        for i in range(5):
            publish(address, "test/vehicle/telemetry", numbered(200, f"b{i}-"), qos=1)
            assert exchange.writer.wait_stored(200 * (i + 1), WAIT_S)
        written = exchange.writer.counters.files
        assert written >= 1

        def uploaded() -> bool:
            up = service.stats()["upload"]
            assert isinstance(up, dict)
            backlog = up["backlog"]
            assert isinstance(backlog, dict)
            return bool(up["files"] == exchange.store.file_count and backlog["pending_files"] == 0)

        wait_until(uploaded, what="every sealed file uploaded")
        stats = service.stats()["upload"]
        assert isinstance(stats, dict) and stats["lost"] == {"files": 0, "bytes": 0}
        text = prometheus_text(service.stats(), frozenset(service.exchanges))
    for name in (
        "sdvlog_upload_files_total",
        "sdvlog_upload_bytes_total",
        "sdvlog_upload_attempts_total",
        'sdvlog_upload_failures_total{reason="auth"}',
        "sdvlog_upload_backlog_pending_files",
        "sdvlog_upload_backlog_pending_bytes",
        "sdvlog_upload_lost_files_total",
        "sdvlog_upload_lost_bytes_total",
        "sdvlog_upload_retention_blocked_total",
    ):
        assert f"\n{name} " in "\n" + text, name
    assert "# TYPE sdvlog_upload_backlog_pending_files gauge" in text
    assert "# TYPE sdvlog_upload_files_total counter" in text
    assert downloaded(bucket, tmp_path / "got") == local_digests(tmp_path / "store", exchange="raw")


@pytest.mark.parametrize(
    ("upload", "key", "problem"),
    [
        ({"access_key": "AKIA..."}, "upload.access_key", "never written in the file"),
        ({"secret_key": "x"}, "upload.secret_key", "never written in the file"),
        ({"key": "{vin}/{table}/{seq}.parquet"}, "upload.key", "lacks {first_ns}"),
        ({"prefix": "{nope}"}, "upload.prefix", "unknown placeholder {nope}"),
        ({"part_size": "1MB"}, "upload.part_size", "at least 5MB"),
        ({"order": "random"}, "upload.order", "expected one of"),
        ({"on_full": "wait"}, "upload.on_full", "expected one of"),
        ({"max_bandwidth": "fast"}, "upload.max_bandwidth", "expected a size"),
        ({"access_key_env": "A"}, "upload.secret_key_env", "both"),
        ({"colour": 1}, "upload.colour", "unknown key"),
    ],
)
def test_config_errors_name_the_file_and_key(
    upload: dict[str, object], key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"upload": {"bucket": "b", **upload}}, source=Path("vehicle.toml"))
    assert caught.value.key == key and caught.value.file == Path("vehicle.toml")
    assert problem in str(caught.value)


def test_two_exchanges_need_the_exchange_in_the_key() -> None:
    exchanges = [{"name": "a"}, {"name": "b"}]
    with pytest.raises(ConfigError, match=r"upload\.key: .*no \{exchange\}"):
        parse_config(
            {"exchange": exchanges, "upload": {"bucket": "b", "key": "{table}/{first_ns}-{seq}"}}
        )
    parse_config({"exchange": exchanges, "upload": {"bucket": "b"}})  # the default has it


def test_a_missing_credential_variable_stops_the_start(
    bucket: MotoServer, credentials: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV)
    ex = ExchangeConfig(name="raw", topic="test/#", ringbus=RingbusConfig(cap=10, flush_ms=100))
    cfg = dataclasses.replace(
        service_config(tmp_path, None, exchange=ex), upload=upload_config(bucket)
    )
    service = Service(cfg)
    with pytest.raises(
        ConfigError, match=f"upload.secret_key_env: environment variable {SECRET_ENV}"
    ):
        service.start()
    assert service.broker is None and not service.exchanges
