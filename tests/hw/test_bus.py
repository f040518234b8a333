"""The bus factory: python-can interfaces by name, errors naming bus and interface, frame bits."""

from __future__ import annotations

import ctypes.util
import random
import uuid
from pathlib import Path

import can
import numpy as np
import pytest
from can.interfaces.virtual import VirtualBus

from canp.wire import decode_payloads, encode_messages
from hw.bus import (
    DEFAULT_BITRATE,
    DEFAULT_DATA_BITRATE,
    BusError,
    bitrates,
    frame_bits,
    frame_bits_sum,
    frame_time,
    open_bus,
)
from hw.replay import ReplayBus
from logger.core.config import BusConfig, parse_config
from logger.core.errors import ConfigError
from logger.gateway.bus_stats import load_percent


def channel() -> str:
    return f"test-bus-{uuid.uuid4().hex}"


def test_virtual_bus_opens_with_its_options_and_carries_frames() -> None:
    ch = channel()
    cfg = BusConfig(
        name="body",
        interface="virtual",
        channel=ch,
        options={"bitrate": 250_000, "receive_own_messages": True},
    )
    bus = open_bus(cfg)
    try:
        assert isinstance(bus, VirtualBus)
        assert bus.receive_own_messages is True
        bus.send(can.Message(arbitration_id=0x123, data=b"\x01\x02"))
        got = bus.recv(5)
        assert got is not None
        assert (got.arbitration_id, bytes(got.data)) == (0x123, b"\x01\x02")
        assert got.timestamp > 0  # the interface's time
    finally:
        bus.shutdown()
    assert bitrates(cfg) == (250_000, DEFAULT_DATA_BITRATE)


def test_fd_options_open_the_bus_in_fd_mode() -> None:
    for options in ({"fd": True}, {"data_bitrate": 4_000_000}):
        bus = open_bus(
            BusConfig(name="fd", interface="virtual", channel=channel(), options=options)
        )
        try:
            assert bus.protocol == can.CanProtocol.CAN_FD
        finally:
            bus.shutdown()
    classic = open_bus(
        BusConfig(
            name="classic",
            interface="virtual",
            channel=channel(),
            options={"fd": False, "data_bitrate": 4_000_000},
        )
    )
    try:
        assert classic.protocol == can.CanProtocol.CAN_20
    finally:
        classic.shutdown()


def test_a_bus_from_a_toml_section() -> None:
    cfg = parse_config(
        {"bus": [{"name": "chassis", "interface": "virtual", "channel": channel(), "bitrate": 1}]}
    )
    bus = open_bus(cfg.buses[0])
    try:
        assert bitrates(cfg.buses[0]) == (1, DEFAULT_DATA_BITRATE)
    finally:
        bus.shutdown()


def test_unknown_interface_is_a_config_error_naming_bus_and_interface() -> None:
    with pytest.raises(ConfigError) as err:
        open_bus(BusConfig(name="powertrain", interface="nosuchcan", channel="x"))
    assert err.value.key == "bus[powertrain].interface"
    assert "'nosuchcan'" in str(err.value) and "socketcan" in str(err.value)


def test_missing_driver_is_a_bus_error_naming_bus_and_interface() -> None:
    if ctypes.util.find_library("pcanbasic"):
        pytest.skip("the PCAN-Basic library is installed here")
    with pytest.raises(BusError) as err:
        open_bus(BusConfig(name="diag", interface="pcan", channel="PCAN_USBBUS1"))
    assert not err.value.retryable
    text = str(err.value)
    assert "'diag'" in text and "'pcan'" in text and "driver" in text
    assert err.value.__cause__ is not None


def test_an_interface_whose_python_package_is_missing_is_a_driver_error() -> None:
    try:
        import usb  # type: ignore[import-not-found]  # noqa: F401, PLC0415
    except ImportError:
        pass
    else:
        pytest.skip("pyusb is installed here")
    with pytest.raises(BusError) as err:
        open_bus(BusConfig(name="usb", interface="gs_usb", channel="0"))
    assert not err.value.retryable
    assert "'usb'" in str(err.value) and "'gs_usb'" in str(err.value)


@pytest.mark.parametrize("value", [0, -5, "fast", 1.5, True])
def test_a_bad_bitrate_is_a_config_error(value: object) -> None:
    cfg = BusConfig(name="b", interface="virtual", channel=channel(), options={"bitrate": value})  # type: ignore[dict-item]
    with pytest.raises(ConfigError) as err:
        open_bus(cfg)
    assert err.value.key == "bus[b].bitrate"


def test_open_bus_with_replay_gives_a_replay_bus(tmp_path: Path) -> None:
    path = tmp_path / "one.log"
    path.write_text("(1700000000.000001) can0 123#01\n", encoding="utf-8")
    bus = open_bus(BusConfig(name="r", replay=path, pace="fast"))
    try:
        assert isinstance(bus, ReplayBus)
        msg = bus.recv(1)
        assert msg is not None and msg.arbitration_id == 0x123
    finally:
        bus.shutdown()


def msg(
    n: int,
    *,
    ext: bool = False,
    fd: bool = False,
    brs: bool = False,
    remote: bool = False,
    error: bool = False,
) -> can.Message:
    return can.Message(
        arbitration_id=0x1ABCDE if ext else 0x123,
        is_extended_id=ext,
        data=None if remote else bytes(n),
        dlc=n if remote else None,
        is_fd=fd,
        bitrate_switch=brs,
        is_remote_frame=remote,
        is_error_frame=error,
    )


@pytest.mark.parametrize(
    ("frame", "bits"),
    [
        (msg(0), (47, 0)),
        (msg(8), (47 + 64, 0)),
        (msg(8, ext=True), (67 + 64, 0)),
        (msg(4, remote=True), (47, 0)),
        (msg(8, ext=True, remote=True), (67, 0)),
        (msg(0, error=True), (0, 0)),
        (msg(8, fd=True, brs=True), (30, 32 + 64)),
        (msg(12, fd=True), (30 + 32 + 96, 0)),
        (msg(13, fd=True, brs=True), (30, 32 + 128)),  # padded to 16 bytes
        (msg(64, fd=True, brs=True, ext=True), (49, 37 + 512)),
        (msg(20, fd=True, brs=True), (30, 37 + 160)),
    ],
)
def test_frame_bits(frame: can.Message, bits: tuple[int, int]) -> None:
    assert frame_bits(frame) == bits


def test_bus_load_of_a_known_mix() -> None:
    frames = [msg(8)] * 100 + [msg(8, ext=True)] * 50 + [msg(64, fd=True, brs=True)] * 10
    busy = sum(frame_time(f, 500_000, 2_000_000) for f in frames)
    nominal = 100 * 111 + 50 * 131 + 10 * 30
    data = 10 * (37 + 512)
    assert busy == pytest.approx(nominal / 500_000 + data / 2_000_000)
    # 100 ms of such traffic: 22.2 + 13.1 + 0.6 + 2.745 ms busy = 38.645 %
    assert load_percent(nominal, data, 0.1, 500_000, 2_000_000) == pytest.approx(38.645)
    assert load_percent(nominal, data, 0.0, 500_000, 2_000_000) == 0.0
    assert DEFAULT_BITRATE == 500_000


def test_frame_bits_summed_over_columns_are_frame_bits_of_each_frame() -> None:
    rng = random.Random(7)
    msgs = []
    for _ in range(2000):
        fd = rng.random() < 0.4
        remote = not fd and rng.random() < 0.1
        error = not fd and not remote and rng.random() < 0.05
        n = rng.choice([0, 1, 8, 12, 20, 48, 64]) if fd else rng.randint(0, 8)
        msgs.append(
            can.Message(
                arbitration_id=rng.randrange(0x800),
                is_extended_id=rng.random() < 0.3,
                is_remote_frame=remote,
                is_error_frame=error,
                is_fd=fd,
                bitrate_switch=fd and rng.random() < 0.5,
                error_state_indicator=fd and rng.random() < 0.5,
                data=bytes(n),
            )
        )
    cols = decode_payloads([encode_messages(msgs)]).frames
    lengths = cols.lengths.astype(np.int64)
    expected = tuple(map(sum, zip(*(frame_bits(m) for m in msgs), strict=True)))
    assert frame_bits_sum(cols.can_id, cols.flags, lengths) == expected
    assert frame_bits_sum(cols.can_id[:0], cols.flags[:0], lengths[:0]) == (0, 0)


@pytest.mark.parametrize(
    ("value", "size"),
    [("256KB", 256 << 10), ("32MB", 32 << 20), (65536, 65536), (" 1.5 MB", 1572864)],
)
def test_rcvbuf_of_a_socketcan_bus_is_bytes_or_a_size(value: object, size: int) -> None:
    section = {"name": "can0", "interface": "socketcan", "channel": "can0", "rcvbuf": value}
    bus = parse_config({"bus": [section]}).buses[0]
    assert bus.rcvbuf == size
    assert "rcvbuf" not in bus.options  # never handed to python-can


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("lots", "expected a size like '512MB'"),
        ("-1MB", "expected a size like '512MB'"),
        (0, "must be 1 byte to 2 GB"),
        (-4096, "must be 1 byte to 2 GB"),
        ("3GB", "must be 1 byte to 2 GB"),
        (True, "expected bytes as an integer or a size like '32MB'"),
        (1.5, "expected bytes as an integer or a size like '32MB'"),
    ],
)
def test_a_bad_rcvbuf_is_an_error_naming_the_key(value: object, problem: str) -> None:
    section = {"name": "can0", "interface": "socketcan", "channel": "can0", "rcvbuf": value}
    with pytest.raises(ConfigError) as err:
        parse_config({"bus": [{"name": "a", "interface": "virtual"}, section]})
    assert err.value.key == "bus[1].rcvbuf" and problem in err.value.problem


@pytest.mark.parametrize(
    "section", [{"interface": "virtual", "channel": "x"}, {"replay": "drive.asc"}]
)
def test_rcvbuf_on_a_bus_that_is_not_socketcan_is_an_error(section: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"bus": [{"name": "body", "rcvbuf": "1MB", **section}]})
    assert err.value.key == "bus[0].rcvbuf"
    assert "only a socketcan bus has a kernel receive buffer" in err.value.problem
