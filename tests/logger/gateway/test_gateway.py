"""The gateway: python-can buses → CANP batches → a real broker → a subscriber that decodes them."""

from __future__ import annotations

import itertools
import logging
import struct
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import can
import numpy as np
import pytest
from can.interfaces.virtual import VirtualBus

from canp.schema import CAN_EFF_FLAG, CAN_ERR_FLAG, CAN_RTR_FLAG, FLAG_BRS, FLAG_ESI, FLAG_FD
from canp.wire import decode_payloads
from hw.bus import BusError, frame_bits
from logger.core.config import BusConfig, Config, GatewayConfig
from logger.core.errors import ConfigError
from logger.gateway.bus_reader import REOPEN_INITIAL_S
from logger.gateway.bus_stats import DOWN, READING, REPLAY_DONE, GatewayStats, RateWindow
from logger.gateway.gateway import Gateway
from logger.mqtt.broker import EmbeddedBroker
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import BrokerAddress, Received, Subscriber
from tests.support.service import run_cli

VIN = "TESTVIN0000000001"
TOPIC = f"vehicle/{VIN}/canp/#"
WAIT_S = 30.0
T0 = 1_700_000_000.0
GENESIS_LOG = (
    Path(__file__).resolve().parents[4]
    / "shared"
    / "data"
    / "logs"
    / "hyundai_genesis_autologgenesis.log"
)

Frame = tuple[int, int, int, bytes]  # ts_ns, can_id with flag bits, flags, data


# ---- helpers ---------------------------------------------------------------------------------
def new_channel() -> str:
    return f"gw-{uuid.uuid4().hex}"


def virtual(name: str, channel: str, **options: Any) -> BusConfig:
    return BusConfig(name=name, interface="virtual", channel=channel, options=options)


def config(address: BrokerAddress, *buses: BusConfig, **gateway: Any) -> Config:
    return Config(
        vin=VIN, broker=address.broker_config(), buses=buses, gateway=GatewayConfig(**gateway)
    )


@contextmanager
def running(cfg: Config, address: BrokerAddress, **kwargs: Any) -> Iterator[Gateway]:
    gw = Gateway(cfg, address.host, address.port, address.protocol, **kwargs)
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


@contextmanager
def sender(channel: str) -> Iterator[can.BusABC]:
    """A second node on the virtual bus; frames keep the timestamps we give them."""
    bus = can.Bus(interface="virtual", channel=channel, preserve_timestamps=True)
    try:
        yield bus
    finally:
        bus.shutdown()


def frame_count(payload: bytes) -> int:
    count: int = struct.unpack_from("<I", payload, 4)[0]
    return count


def wait_frames(sub: Subscriber, n: int, topic: str | None = None) -> list[Received]:
    def enough(got: list[Received]) -> bool:
        return sum(frame_count(r.payload) for r in got if topic in (None, r.topic)) >= n

    return sub.wait_until(enough, WAIT_S, f"{n} frames")


def decoded(received: list[Received]) -> list[Frame]:
    frames = decode_payloads([r.payload for r in received]).frames
    data = frames.data.to_pylist()
    return [
        (int(frames.ts[i]), int(frames.can_id[i]), int(frames.flags[i]), data[i])
        for i in range(len(frames))
    ]


def expected(msgs: list[can.Message]) -> list[Frame]:
    out = []
    for m in msgs:
        can_id = m.arbitration_id
        can_id |= CAN_EFF_FLAG if m.is_extended_id else 0
        can_id |= CAN_RTR_FLAG if m.is_remote_frame else 0
        can_id |= CAN_ERR_FLAG if m.is_error_frame else 0
        flags = (FLAG_FD if m.is_fd else 0) | (FLAG_BRS if m.bitrate_switch else 0)
        flags |= FLAG_ESI if m.error_state_indicator else 0
        out.append((round(m.timestamp * 1e9), can_id, flags, bytes(m.data)))
    return out


def mixed_frames(n: int, t0: float = T0) -> list[can.Message]:
    """Classic, extended, remote, FD (with and without BRS / ESI) and error frames, in turn."""
    out = []
    for i in range(n):
        ts = t0 + i * 1e-4
        kind = i % 6
        if kind == 0:
            m = can.Message(
                timestamp=ts,
                arbitration_id=i % 0x800,
                is_extended_id=False,
                data=struct.pack("<Q", i),
            )
        elif kind == 1:
            m = can.Message(
                timestamp=ts,
                arbitration_id=0x18DA0000 | (i & 0xFFFF),
                is_extended_id=True,
                data=bytes([i % 256] * (i % 9)),
            )
        elif kind == 2:
            m = can.Message(
                timestamp=ts,
                arbitration_id=0x7DF,
                is_extended_id=False,
                is_remote_frame=True,
                dlc=8,
            )
        elif kind == 3:
            m = can.Message(
                timestamp=ts,
                arbitration_id=0x123,
                is_extended_id=False,
                is_fd=True,
                bitrate_switch=True,
                data=bytes((i + k) % 256 for k in range(64)),
            )
        elif kind == 4:
            m = can.Message(
                timestamp=ts,
                arbitration_id=0x1FFFFFFF,
                is_extended_id=True,
                is_fd=True,
                error_state_indicator=True,
                data=bytes(range(12)),
            )
        else:
            m = can.Message(
                timestamp=ts, arbitration_id=0x20000004, is_error_frame=True, data=bytes(8)
            )
        out.append(m)
    return out  # fmt: skip


def send_all(bus: can.BusABC, msgs: list[can.Message]) -> None:
    for m in msgs:
        bus.send(m)


# ---- end to end ------------------------------------------------------------------------------
def test_every_frame_arrives_in_order_with_ids_flags_data_and_timestamps(
    mosquitto: MosquittoProcess,
) -> None:
    address = mosquitto.address
    ch = new_channel()
    msgs = mixed_frames(3000)
    cfg = config(address, virtual("can0", ch), batch_frames=256, batch_ms=10)
    with Subscriber(address, TOPIC) as sub, running(cfg, address) as gw, sender(ch) as tx:
        send_all(tx, msgs)
        got = wait_frames(sub, len(msgs))
        assert gw.wait_until(lambda s: s.buses["can0"].published == len(msgs), WAIT_S)
        stats = gw.stats().buses["can0"]
    assert {r.topic for r in got} == {f"vehicle/{VIN}/canp/can0"}
    assert all(1 <= frame_count(r.payload) <= 256 for r in got)
    assert decoded(got) == expected(msgs)
    assert (stats.frames, stats.dropped, stats.backlog, stats.lost) == (len(msgs), 0, 0, 0)
    assert stats.state in ("stopped", READING)


def test_each_bus_publishes_on_its_own_topic(mosquitto: MosquittoProcess) -> None:
    address = mosquitto.address
    ch_a, ch_b = new_channel(), new_channel()
    front, rear = mixed_frames(500), mixed_frames(700, T0 + 10)
    cfg = config(address, virtual("front", ch_a), virtual("rear", ch_b))
    with Subscriber(address, TOPIC) as sub, running(cfg, address):
        with sender(ch_a) as a, sender(ch_b) as b:
            for ma, mb in itertools.zip_longest(front, rear):
                if ma is not None:
                    a.send(ma)
                if mb is not None:
                    b.send(mb)
        got = wait_frames(sub, len(front) + len(rear))
    by_topic = {
        bus: [r for r in got if r.topic == f"vehicle/{VIN}/canp/{bus}"] for bus in ("front", "rear")
    }
    assert decoded(by_topic["front"]) == expected(front)
    assert decoded(by_topic["rear"]) == expected(rear)


def test_qos_0(mosquitto: MosquittoProcess) -> None:
    address = mosquitto.address
    ch = new_channel()
    msgs = mixed_frames(600)
    cfg = config(address, virtual("can0", ch), qos=0)
    with Subscriber(address, TOPIC, qos=0) as sub, running(cfg, address) as gw, sender(ch) as tx:
        send_all(tx, msgs)
        got = wait_frames(sub, len(msgs))
        assert gw.wait_until(lambda s: s.buses["can0"].published == len(msgs), WAIT_S)
    assert decoded(got) == expected(msgs)
    assert all(r.qos == 0 for r in got)


def test_embedded_broker(embedded_broker: EmbeddedBroker) -> None:
    address = BrokerAddress("embedded", embedded_broker.host, embedded_broker.port)
    ch = new_channel()
    msgs = mixed_frames(300)
    cfg = config(address, virtual("can0", ch))
    with Subscriber(address, TOPIC) as sub, running(cfg, address), sender(ch) as tx:
        send_all(tx, msgs)
        got = wait_frames(sub, len(msgs))
    assert decoded(got) == expected(msgs)


# ---- batching --------------------------------------------------------------------------------
def test_batches_close_at_batch_frames_and_stop_flushes_the_rest(
    mosquitto: MosquittoProcess,
) -> None:
    address = mosquitto.address
    ch = new_channel()
    msgs = mixed_frames(35)
    cfg = config(address, virtual("can0", ch), batch_frames=10, batch_ms=600_000)
    with Subscriber(address, TOPIC) as sub:
        with running(cfg, address) as gw, sender(ch) as tx:
            send_all(tx, msgs)
            full = sub.wait_for(3, WAIT_S)
            assert [frame_count(r.payload) for r in full] == [10, 10, 10]
            # 5 frames held: too few and too young
            assert gw.wait_until(
                lambda s: (s.buses["can0"].frames, s.buses["can0"].published) == (35, 30), WAIT_S
            )
            assert gw.stats().buses["can0"].backlog == 0
        got = sub.wait_for(4, WAIT_S)  # stop() published the last 5
    assert [frame_count(r.payload) for r in got] == [10, 10, 10, 5]
    assert decoded(got) == expected(msgs)


def test_a_batch_closes_when_its_first_frame_is_batch_ms_old(mosquitto: MosquittoProcess) -> None:
    address = mosquitto.address
    ch = new_channel()
    msgs = mixed_frames(5)
    cfg = config(address, virtual("can0", ch), batch_frames=1000, batch_ms=300)
    with Subscriber(address, TOPIC) as sub, running(cfg, address), sender(ch) as tx:
        t0 = time.monotonic()
        send_all(tx, msgs)
        got = sub.wait_for(1, WAIT_S)
        elapsed = time.monotonic() - t0
    assert elapsed >= 0.3  # not before the batch was batch_ms old (a lower bound only)
    assert [frame_count(r.payload) for r in got] == [5]
    assert decoded(got) == expected(msgs)


# ---- broker away -----------------------------------------------------------------------------
class PersistentMosquitto(MosquittoProcess):
    """Mosquitto that keeps sessions across a restart (persistence file in its directory)."""

    def config_text(self) -> str:
        return (
            super()
            .config_text()
            .replace("persistence false", f"persistence true\npersistence_location {self.tmp_dir}/")
        )


@dataclass
class OfflineSubscription:
    """A broker that is down, holding a persistent subscription to :data:`TOPIC`: whatever is
    published once it is back reaches the subscriber, whoever connects first."""

    broker: PersistentMosquitto
    client_id: str

    def come_back(self) -> Subscriber:
        self.broker.start()
        return Subscriber(
            self.broker.address, TOPIC, client_id=self.client_id, clean_start=False
        ).start()


@pytest.fixture
def broker_down(tmp_path: Path) -> Iterator[OfflineSubscription]:
    broker = PersistentMosquitto(tmp_path / "mosquitto")
    client_id = f"gw-test-{uuid.uuid4().hex[:8]}"
    with broker:
        Subscriber(broker.address, TOPIC, client_id=client_id, clean_start=False).start().stop()
    try:
        yield OfflineSubscription(broker, client_id)
    finally:
        broker.stop()


def test_frames_are_buffered_while_the_broker_is_down_then_delivered(
    broker_down: OfflineSubscription,
) -> None:
    address = broker_down.broker.address
    ch = new_channel()
    msgs = mixed_frames(2000)
    cfg = config(address, virtual("can0", ch))
    with running(cfg, address) as gw, sender(ch) as tx:
        send_all(tx, msgs)
        assert gw.wait_until(lambda s: s.buses["can0"].backlog == len(msgs), WAIT_S)
        assert not gw.connected
        sub = broker_down.come_back()
        try:
            got = wait_frames(sub, len(msgs))
            assert gw.wait_until(lambda s: s.buses["can0"].backlog == 0, WAIT_S)
        finally:
            sub.stop()
        stats = gw.stats().buses["can0"]
    assert decoded(got) == expected(msgs)
    assert (stats.published, stats.dropped) == (len(msgs), 0)


def test_frames_beyond_the_buffer_bound_are_dropped_counted_and_logged_once(
    broker_down: OfflineSubscription, caplog: pytest.LogCaptureFixture
) -> None:
    address = broker_down.broker.address
    ch = new_channel()
    msgs = mixed_frames(1500)
    cfg = config(address, virtual("can0", ch), batch_frames=100, buffer_frames=1000)
    caplog.set_level(logging.WARNING, logger="logger.gateway.bus_reader")
    with running(cfg, address) as gw, sender(ch) as tx:
        send_all(tx, msgs)

        def settled(s: GatewayStats) -> bool:
            b = s.buses["can0"]
            return b.frames == 1500 and b.backlog == 1000 and b.dropped == 500

        assert gw.wait_until(settled, WAIT_S), gw.stats()
        sub = broker_down.come_back()
        try:
            got = wait_frames(sub, 1000)
            assert gw.wait_until(lambda s: s.buses["can0"].backlog == 0, WAIT_S)
        finally:
            sub.stop()
        stats = gw.stats().buses["can0"]
    assert decoded(got) == expected(msgs[:1000])  # the first 1000; those beyond, dropped
    assert (stats.published, stats.dropped) == (1000, 500)
    drops = [r for r in caplog.records if "new frames dropped" in r.getMessage()]
    assert len(drops) == 1


# ---- counters --------------------------------------------------------------------------------
def test_bus_load_counts_the_bits_of_a_known_frame_mix(mosquitto: MosquittoProcess) -> None:
    address = mosquitto.address
    ch = new_channel()

    def std(**kw: Any) -> can.Message:
        return can.Message(timestamp=T0, is_extended_id=False, **kw)

    msgs = (
        [std(arbitration_id=0x100, data=bytes(8))] * 100
        + [can.Message(timestamp=T0, arbitration_id=0x1000, is_extended_id=True, data=bytes(8))]
        * 50
        + [std(arbitration_id=0x101, is_remote_frame=True, dlc=8)] * 20
        + [std(arbitration_id=0x102, is_fd=True, bitrate_switch=True, data=bytes(64))] * 10
        + [std(arbitration_id=0x103, is_fd=True, data=bytes(12))] * 5
    )
    nominal = 100 * 111 + 50 * 131 + 20 * 47 + 10 * 30 + 5 * (30 + 32 + 96)
    data = 10 * (37 + 512)
    assert sum(frame_bits(m)[0] for m in msgs) == nominal
    cfg = config(address, virtual("can0", ch, bitrate=250_000, data_bitrate=1_000_000))
    with running(cfg, address) as gw, sender(ch) as tx:
        send_all(tx, msgs)
        assert gw.wait_until(lambda s: s.buses["can0"].published == len(msgs), WAIT_S)
        stats = gw.stats().buses["can0"]
    assert (stats.bits_nominal, stats.bits_data) == (nominal, data)
    assert stats.bus_time_s == pytest.approx(nominal / 250_000 + data / 1_000_000)


def test_rate_window_gives_frames_per_second_and_load_over_the_last_window() -> None:
    rates = RateWindow(500_000, 2_000_000, now=100.0, window_s=1.0)
    assert not rates.roll(100.5, 400, 400 * 111, 0)  # window still open
    assert rates.roll(101.0, 1000, 1000 * 111, 0)
    assert rates.current(101.2) == pytest.approx((1000.0, 22.2))
    assert rates.roll(103.0, 1500, 1500 * 111, 10 * 549)  # a 2 s window
    fps, load = rates.current(103.0)
    assert fps == pytest.approx(250.0)
    assert load == pytest.approx(100 * (500 * 111 / 500_000 + 5490 / 2_000_000) / 2.0)
    assert rates.current(106.0) == (0.0, 0.0)  # nothing closed lately: the reader is not reading


# ---- bus trouble ----------------------------------------------------------------------------
DOWN_CHANNELS: set[str] = set()


class FlakyBus(VirtualBus):
    """A virtual bus whose channel a test can take down: opening and reading fail meanwhile."""

    def __init__(self, channel: str, **kwargs: Any) -> None:
        if channel in DOWN_CHANNELS:
            raise can.CanInitializationError(f"{channel}: no such device")
        super().__init__(channel, **kwargs)

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        if self.channel_id in DOWN_CHANNELS:
            raise can.CanOperationError("[Errno 100] Network is down")
        return super()._recv_internal(timeout)


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A channel of the ``flaky`` interface (registered with python-can for this test)."""
    monkeypatch.setitem(can.interfaces.BACKENDS, "flaky", (__name__, "FlakyBus"))
    channel = new_channel()
    yield channel
    DOWN_CHANNELS.discard(channel)


def flaky_bus(channel: str) -> BusConfig:
    return BusConfig(name="can0", interface="flaky", channel=channel)


def test_a_failed_bus_is_reopened_and_the_gap_reported(
    mosquitto: MosquittoProcess, flaky: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="logger.gateway.bus_reader")
    address = mosquitto.address
    before, after = mixed_frames(20), mixed_frames(20, T0 + 60)
    cfg = config(address, flaky_bus(flaky), batch_ms=1)
    with Subscriber(address, TOPIC) as sub, running(cfg, address) as gw, sender(flaky) as tx:
        send_all(tx, before)
        wait_frames(sub, 20)
        DOWN_CHANNELS.add(flaky)
        assert gw.wait_until(
            lambda s: s.buses["can0"].state == DOWN and s.buses["can0"].read_errors == 1, WAIT_S
        )
        DOWN_CHANNELS.discard(flaky)
        assert gw.wait_until(
            lambda s: s.buses["can0"].state == READING and s.buses["can0"].reopens == 1, WAIT_S
        )
        send_all(tx, after)
        got = wait_frames(sub, 40)
        assert gw.wait_until(lambda s: s.buses["can0"].gaps == 1, WAIT_S)
        stats = gw.stats().buses["can0"]
    assert decoded(got) == expected(before + after)
    assert stats.last_gap_s is not None and stats.last_gap_s >= REOPEN_INITIAL_S
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "read failed" in text and "reopened after" in text and "frames again after" in text


def test_a_device_missing_at_start_is_waited_for(mosquitto: MosquittoProcess, flaky: str) -> None:
    address = mosquitto.address
    msgs = mixed_frames(10)
    DOWN_CHANNELS.add(flaky)
    cfg = config(address, flaky_bus(flaky), batch_ms=1)
    with Subscriber(address, TOPIC) as sub, running(cfg, address) as gw:
        assert gw.stats().buses["can0"].state == DOWN
        DOWN_CHANNELS.discard(flaky)
        assert gw.wait_until(lambda s: s.buses["can0"].state == READING, WAIT_S)
        with sender(flaky) as tx:
            send_all(tx, msgs)
            got = wait_frames(sub, 10)
    assert decoded(got) == expected(msgs)


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


# ---- replay through the gateway ------------------------------------------------------------
def test_a_real_log_replayed_fast_arrives_whole_and_in_order(mosquitto: MosquittoProcess) -> None:
    if not GENESIS_LOG.is_file():
        pytest.skip(f"{GENESIS_LOG} is not on this machine (shared sample logs)")
    reader = can.LogReader(GENESIS_LOG)
    try:
        want = list(reader)
    finally:
        reader.stop()
    address = mosquitto.address
    cfg = config(address, BusConfig(name="genesis", replay=GENESIS_LOG, pace="fast"))
    with Subscriber(address, TOPIC) as sub, running(cfg, address) as gw:
        assert gw.wait_replayed(120), gw.stats()
        got = wait_frames(sub, len(want))
        stats = gw.stats().buses["genesis"]
    assert stats.state == REPLAY_DONE
    assert (stats.frames, stats.published, stats.dropped) == (len(want), len(want), 0)
    frames = decode_payloads([r.payload for r in got]).frames
    assert len(frames) == len(want) == 55314
    assert np.array_equal(frames.ts, np.array([round(m.timestamp * 1e9) for m in want]))
    assert frames.can_id.tolist() == [m.arbitration_id for m in want]
    assert frames.data.to_pylist() == [bytes(m.data) for m in want]


def test_a_replay_that_hits_a_malformed_frame_delivers_what_came_before(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    path = tmp_path / "broken.log"
    path.write_text(
        "".join(f"({T0 + i / 1000:.6f}) can0 {0x100 + i:03X}#{i:02X}\n" for i in range(50))
        + "this is not a frame\n(1700000001.000000) can0 7FF#00\n",
        encoding="utf-8",
    )
    address = mosquitto.address
    cfg = config(address, BusConfig(name="r", replay=path, pace="fast"))
    with Subscriber(address, TOPIC) as sub, running(cfg, address) as gw:
        assert gw.wait_replayed(WAIT_S)
        got = wait_frames(sub, 50)
        stats = gw.stats().buses["r"]
    assert stats.state == "failed" and stats.failure is not None and str(path) in stats.failure
    assert [cid for _, cid, _, _ in decoded(got)] == [0x100 + i for i in range(50)]


# ---- sdvlog gateway ----------------------------------------------------------------------------
def write_log(path: Path, msgs: list[can.Message]) -> Path:
    with can.Logger(path) as writer:
        for m in msgs:
            writer.on_message_received(m)
    return path


def test_cli_replays_a_log_to_the_broker_until_replayed(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    msgs = [m for m in mixed_frames(600) if not m.is_error_frame]
    log = write_log(tmp_path / "drive.log", msgs)
    conf = tmp_path / "gw.toml"
    conf.write_text(
        f'vin = "{VIN}"\n[broker]\nurl = "{mosquitto.url}"\n'
        f'[[bus]]\nname = "can1"\nreplay = "{log}"\npace = "fast"\n',
        encoding="utf-8",
    )
    with Subscriber(mosquitto.address, TOPIC) as sub:
        done = run_cli("gateway", "-c", str(conf), "--until-replayed")
        assert done.returncode == 0, done.stderr
        got = wait_frames(sub, len(msgs))
    assert f"can1: {len(msgs)} frames replayed, {len(msgs)} confirmed" in done.stdout
    assert decoded(got) == expected(msgs)


def test_cli_with_the_embedded_broker(tmp_path: Path) -> None:
    log = write_log(tmp_path / "drive.log", mixed_frames(50)[:5])
    conf = tmp_path / "gw.toml"
    conf.write_text(
        f'[broker]\nurl = "embedded"\nembedded_port = 0\n'
        f'[[bus]]\nname = "can0"\nreplay = "{log}"\npace = "fast"\n',
        encoding="utf-8",
    )
    refused = run_cli("gateway", "-c", str(conf), "--until-replayed")
    assert refused.returncode == 1 and "embedded_port" in refused.stderr
    started = run_cli("gateway", "-c", str(conf), "--until-replayed", "--start-broker")
    assert started.returncode == 0, started.stderr
    assert "5 frames replayed, 5 confirmed" in started.stdout


def test_cli_without_buses_says_so(tmp_path: Path) -> None:
    conf = tmp_path / "gw.toml"
    conf.write_text('[broker]\nurl = "mqtt://127.0.0.1:1"\n', encoding="utf-8")
    done = run_cli("gateway", "-c", str(conf))
    assert done.returncode == 1 and "no [[bus]]" in done.stderr


def test_stop_is_prompt_while_the_broker_never_came(tmp_path: Path) -> None:
    """No broker: stop() does not wait for one, and counts what it held as lost."""
    address = MosquittoProcess(tmp_path / "never").address  # never started
    ch = new_channel()
    cfg = config(address, virtual("can0", ch))
    gw = Gateway(cfg, address.host, address.port, address.protocol)
    gw.start()
    with sender(ch) as tx:
        send_all(tx, mixed_frames(10))
        assert gw.wait_until(lambda s: s.buses["can0"].backlog == 10, WAIT_S)
    gw.stop()  # returns at once: nothing can be delivered
    stats = gw.stats().buses["can0"]
    assert (stats.lost, stats.backlog, stats.published) == (10, 0, 0)
