"""The gateway's configuration errors: unknown interfaces and missing drivers at start, bad
topics, bad settings."""

from __future__ import annotations

from typing import Any

import pytest

from hw.bus import BusError
from logger.core.config import BusConfig, Config, GatewayConfig
from logger.core.errors import ConfigError
from logger.gateway.gateway import Gateway
from tests.support.gateway import config, new_channel, virtual
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import BrokerAddress


def test_start_fails_for_an_unknown_interface_or_a_missing_driver(
    mosquitto: MosquittoProcess,
) -> None:
    address = mosquitto.address
    good = virtual("ok", new_channel())
    unknown = BusConfig(name="bad", interface="nosuchcan")
    gw = Gateway(config(address, good, unknown), address.host, address.port, address.protocol)
    with pytest.raises(ConfigError, match=r"bus\[bad\]\.interface"):
        gw.start()
    gw.stop()  # nothing to do
    missing = BusConfig(name="diag", interface="pcan", channel="PCAN_USBBUS1")
    gw = Gateway(config(address, good, missing), address.host, address.port, address.protocol)
    try:
        gw.start()
    except BusError as exc:
        assert not exc.retryable and "'diag'" in str(exc) and "'pcan'" in str(exc)
    else:  # pragma: no cover - a machine with the PCAN library
        gw.stop()
        pytest.skip("the PCAN-Basic library is installed here")


@pytest.mark.parametrize(
    ("topic", "bus"),
    [("vehicle/{vin}/{nope}", "can0"), ("v/{0}", "can0"), ("v/{bus}", "a+b"), ("v/#/{bus}", "c")],
)
def test_a_bad_topic_is_a_config_error(topic: str, bus: str) -> None:
    cfg = Config(buses=(virtual(bus, new_channel()),), gateway=GatewayConfig(topic=topic))
    with pytest.raises(ConfigError, match=r"gateway\.topic"):
        Gateway(cfg, "127.0.0.1", 1883, BrokerAddress("mosquitto", "h", 1).protocol)


def test_bad_gateway_settings_are_config_errors() -> None:
    mqtt5 = BrokerAddress("mosquitto", "h", 1).protocol
    cases: list[tuple[dict[str, Any], str]] = [
        ({"batch_frames": 0}, "gateway.batch_frames"),
        ({"batch_ms": -1}, "gateway.batch_ms"),
        ({"buffer_frames": 0}, "gateway.buffer_frames"),
        ({"qos": 2}, "gateway.qos"),
    ]
    for settings, key in cases:
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            Gateway(Config(gateway=GatewayConfig(**settings)), "127.0.0.1", 1883, mqtt5)
    dup = Config(buses=(virtual("a", "x"), virtual("a", "y")))
    with pytest.raises(ConfigError, match="duplicate"):
        Gateway(dup, "127.0.0.1", 1883, mqtt5)
