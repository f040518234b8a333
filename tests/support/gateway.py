"""Helpers for the gateway tests: virtual buses and their config, a running gateway, a second node
that sends frames, and the CANP batches a subscriber receives, decoded and compared."""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import can

from canp.schema import CAN_EFF_FLAG, CAN_ERR_FLAG, CAN_RTR_FLAG, FLAG_BRS, FLAG_ESI, FLAG_FD
from canp.wire import decode_payloads
from logger.core.config import BusConfig, Config, GatewayConfig
from logger.gateway.gateway import Gateway
from tests.support.mqtt_clients import BrokerAddress, Received, Subscriber

VIN = "TESTVIN0000000001"
TOPIC = f"vehicle/{VIN}/canp/#"
WAIT_S = 30.0
T0 = 1_700_000_000.0

Frame = tuple[int, int, int, bytes]  # ts_ns, can_id with flag bits, flags, data


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
