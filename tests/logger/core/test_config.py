from __future__ import annotations

from pathlib import Path

import pytest

from logger.core.config import Config, FullOp, load_config, parse_config
from logger.core.errors import ConfigError

FULL = """
vin = "WVWZZZ1JZXW000001"
[broker]
url = "mqtt://127.0.0.1:1884"
username = "u"
password_env = "SDVLOG_MQTT_PASSWORD"
[[bus]]
name = "can0"
interface = "socketcan"
channel = "can0"
bitrate = 500000
fd = true
[gateway]
batch_frames = 128
[[exchange]]
name = "can"
topic = "vehicle/+/canp/#"
stream = "canp"
qos = 1
dbc = "dbc/examples/demo.dbc"
[exchange.ringbus]
cap = 500
fullOp = 3
flush_ms = 250
[[exchange]]
name = "raw"
topic = "vehicle/#"
streamType = 0
qos = 0
[parquet]
dir = "store"
compress = "lz4"
file_count = 10
file_size = "512MB"
[parquet.encryption]
key_id = "k1"
key_env = "SDVLOG_PARQUET_KEY"
type = "aes_gcm_ctr_v1"
[query]
url = "tcp://127.0.0.1:10001"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sdvlog.toml"
    path.write_text(text)
    return path


def test_full_config_parses_every_contract_key(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL))
    assert cfg.vin == "WVWZZZ1JZXW000001"
    assert (cfg.broker.host, cfg.broker.port, cfg.broker.username) == ("127.0.0.1", 1884, "u")
    assert cfg.buses[0].options == {"bitrate": 500000, "fd": True}
    assert cfg.gateway.batch_frames == 128
    can, raw = cfg.exchanges
    assert (
        can.ringbus.full_op is FullOp.FILE
        and can.ringbus.cap == 500
        and can.dbc == Path("dbc/examples/demo.dbc")
    )
    assert raw.stream == "raw" and raw.qos == 0
    assert cfg.parquet.compress == "lz4" and cfg.parquet.file_size == 512 << 20
    assert cfg.parquet.encryption is not None and cfg.parquet.encryption.type == "aes_gcm_ctr_v1"
    assert cfg.query.url == "tcp://127.0.0.1:10001"


def test_defaults_are_embedded() -> None:
    cfg = Config()
    assert (
        cfg.broker.embedded and cfg.exchanges[0].stream == "raw" and cfg.parquet.compress == "zstd"
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("colour = 1", "colour"),
        ("[broker]\nurl = 5", "broker.url"),
        ("[broker]\nurl = 'http://x'", "broker.url"),
        ("[[exchange]]\nname='a'\n[exchange.ringbus]\ncap = 0", "exchange[0].ringbus.cap"),
        (
            "[[exchange]]\nname='a'\n[exchange.ringbus]\nfull_op = 'sometimes'",
            "exchange[0].ringbus.full_op",
        ),
        ("[[exchange]]\nname='a'\n[exchange.ringbus]\nfullOp = 7", "exchange[0].ringbus.fullOp"),
        (
            "[[exchange]]\nname='a'\n[exchange.ringbus]\nfull_op = 1\nfullOp = 1",
            "exchange[0].ringbus.full_op",
        ),
        ("[[exchange]]\nname='a'\nqos = 2", "exchange[0].qos"),
        ("[[exchange]]\nname='a'\nbogus = 2", "exchange[0].bogus"),
        ("[[exchange]]\nname='a'\ntime_unit = 'ps'", "exchange[0].time_unit"),
        ("[[exchange]]\nname='a'\ntime_unit = 1", "exchange[0].time_unit"),
        ("[[exchange]]\nname='a'\n[[exchange]]\nname='a'", "exchange.name"),
        ("[parquet]\ncompress = 'zip'", "parquet.compress"),
        ("[parquet]\nfile_size = 'lots'", "parquet.file_size"),
        ("[parquet]\nfile_count = true", "parquet.file_count"),
        ("[parquet.encryption]\nkey_id = 'k'", "parquet.encryption.key_file"),
        ("[parquet.encryption]\nkey_id='k'\nkey_env='E'\ntype='rot13'", "parquet.encryption.type"),
        ("[[bus]]\nname = 'can0'", "bus[0].interface"),
        ("[[bus]]\ninterface = 'virtual'", "bus[0].name"),
        ("[query]\nport = 1", "query.port"),
        ("vin = 'x'\n[gateway]\nqos = 3", "gateway.qos"),
        ("[gateway]\nspi = true", "gateway.spi_catalog"),
        ("[gateway]\nspi_mode = 'often'", "gateway.spi_mode"),
        ("[gateway]\nspi_interval_ms = 0", "gateway.spi_interval_ms"),
    ],
)
def test_broken_values_name_their_key_and_file(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == key, str(err.value)
    assert str(path) in str(err.value)


def test_unreadable_and_invalid_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "vin = "))


def test_sizes_and_stream_ids() -> None:
    cfg = parse_config(
        {"parquet": {"file_size": "1.5KB"}, "exchange": [{"name": "s", "streamType": 2}]}
    )
    assert cfg.parquet.file_size == 1536
    assert cfg.exchanges[0].stream == "canp"
