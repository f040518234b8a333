"""Message planning and encoding: when each DBC message goes out, and its frame at a time ``t``.

Each message is sent at its ``GenMsgCycleTime`` (``default_cycle_ms`` when the DBC has none), with
a small per-message phase offset so that messages do not all fall on the same millisecond.
Multiplexed messages send their pages in turn; checksums are the byte sum of the frame; FD
messages go out with ``is_fd`` and ``bitrate_switch``, 29-bit ids with ``is_extended_id``.

A message whose values cantools refuses to encode strictly is encoded without the range check
(one warning), and one that cannot be encoded at all is packed bit by bit (one warning).
"""

from __future__ import annotations

import heapq
import logging
import random
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import can
from cantools.database.can import Message, Signal
from cantools.database.errors import EncodeError

from hw.simulate.scenario import DrivingScenario
from hw.simulate.signals import Gen, make_generator, raw_limits, signal_kind

log = logging.getLogger("hw.simulate")  # the package's logger: records keep the name they had

#: Payload sizes a CAN FD frame can have.
FD_LENGTHS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64)
ENCODE_ERRORS = (EncodeError, ValueError, OverflowError, TypeError, KeyError)


class WarnOnce(Protocol):
    """Logs a warning the first time ``key`` comes up (:meth:`Simulator.warn_once`)."""

    def __call__(self, key: str, fmt: str, *args: object) -> None: ...


@dataclass(frozen=True)
class MessagePlan:
    """How one DBC message is sent: period, phase, frame format."""

    message: Message
    cycle_s: float
    offset_s: float
    is_fd: bool
    length: int


def plan_messages(
    messages: Iterable[Message], default_cycle_ms: int, warn_once: WarnOnce
) -> list[MessagePlan]:
    """A plan for every message that can be sent; the others are left out with a warning."""
    plans: list[MessagePlan] = []
    for msg in messages:
        if msg.is_container:
            warn_once(f"skip:{msg.name}", "message %s is a container message; left out", msg.name)
            continue
        length = msg.length
        is_fd = msg.is_fd or length > 8
        if is_fd:
            fitting = [n for n in FD_LENGTHS if n >= length]
            if not fitting:
                warn_once(
                    f"skip:{msg.name}",
                    "message %s is %d bytes, more than a CAN FD frame holds; left out",
                    msg.name,
                    length,
                )
                continue
            if not msg.is_fd:
                log.info("message %s has %d bytes: sent as CAN FD", msg.name, length)
            length = fitting[0]
        cycle_ms = msg.cycle_time if msg.cycle_time and msg.cycle_time > 0 else default_cycle_ms
        cycle_s = cycle_ms / 1000.0
        offset_s = min((len(plans) % 10) * 0.001, cycle_s / 2)
        plans.append(MessagePlan(msg, cycle_s, offset_s, is_fd, length))
    return plans


def _signal_bits(sig: Signal) -> frozenset[int]:
    """The bit positions (``byte * 8 + bit``) ``sig`` occupies."""
    return frozenset(_bit_positions(sig))


def _bit_positions(sig: Signal) -> list[int]:
    """Positions of the signal's bits, least significant first."""
    if sig.byte_order == "little_endian":
        return [sig.start + j for j in range(sig.length)]
    msb_first = []
    pos = sig.start
    for _ in range(sig.length):
        msb_first.append(pos)
        pos = pos + 15 if pos % 8 == 0 else pos - 1
    return msb_first[::-1]


def _pack_signal(buf: bytearray, sig: Signal, raw: int | float) -> None:
    if sig.is_float:
        fmt = ">f" if sig.length == 32 else ">d"
        bits = int.from_bytes(struct.pack(fmt, raw), "big")
    else:
        bits = int(raw) & ((1 << sig.length) - 1)
    for j, pos in enumerate(_bit_positions(sig)):
        if bits >> j & 1 and 0 <= pos < len(buf) * 8:
            buf[pos // 8] |= 1 << (pos % 8)


def _mux_names(tree: Sequence[object]) -> Iterator[tuple[str, list[int]]]:
    for node in tree:
        if isinstance(node, dict):
            for name, branches in node.items():
                yield name, sorted(branches)
                for sub in branches.values():
                    yield from _mux_names(sub)


class MessageState:
    """One message's generators inside one session."""

    def __init__(self, plan: MessagePlan, rng: random.Random, scenario: DrivingScenario) -> None:
        self.plan = plan
        msg = plan.message
        self.tree: Sequence[object] = msg.signal_tree
        self.mux_ids = dict(_mux_names(self.tree))
        self.mux_cursor = dict.fromkeys(self.mux_ids, 0)
        self.gens: dict[str, Gen] = {}
        self.checksums: dict[str, tuple[int, int]] = {}
        self.mode: Literal["strict", "lenient", "packed"] = "strict"
        self.covering: set[str] | None = None
        muxes = set(self.mux_ids)
        for sig in msg.signals:
            kind = signal_kind(sig, muxes)
            if kind == "mux":
                continue
            if kind == "checksum":
                lo, hi = raw_limits(sig)
                self.checksums[sig.name] = (int(lo), int(hi))
            self.gens[sig.name] = make_generator(sig, kind, rng, scenario)

    def pack(self, data: Mapping[str, int | float]) -> bytes:
        """Bit-by-bit packing for layouts cantools cannot encode (overlapping signals).

        A signal whose bits cover another signal's (a "group" signal) is left 0.
        """
        if self.covering is None:
            bits = {sig.name: _signal_bits(sig) for sig in self.plan.message.signals}
            self.covering = {
                a for a, ba in bits.items() if any(b != a and bb < ba for b, bb in bits.items())
            }
        buf = bytearray(self.plan.message.length)
        for sig in self.plan.message.signals:
            value = data.get(sig.name)
            if value is not None and sig.name not in self.covering:
                _pack_signal(buf, sig, value)
        return bytes(buf)

    def signal_values(self, t: float) -> dict[str, int | float]:
        data: dict[str, int | float] = {}
        self._collect(self.tree, t, data)
        return data

    def _collect(self, tree: Sequence[object], t: float, data: dict[str, int | float]) -> None:
        for node in tree:
            if isinstance(node, str):
                data[node] = self.gens[node].value(t)
            elif isinstance(node, dict):
                for name, branches in node.items():
                    ids = self.mux_ids[name]
                    chosen = ids[self.mux_cursor[name] % len(ids)]
                    self.mux_cursor[name] += 1
                    data[name] = chosen
                    self._collect(branches[chosen], t, data)


class Session:
    """One run of the simulation from the seed: scenario, generators and mux cursors."""

    def __init__(self, seed: int, plans: Sequence[MessagePlan], warn_once: WarnOnce) -> None:
        self._warn_once = warn_once
        rng = random.Random(seed)
        scenario = DrivingScenario(random.Random(seed ^ 0x5D1))
        self.states = [MessageState(plan, rng, scenario) for plan in plans]
        self.disabled: set[int] = set()

    def frame(self, index: int, t: float, timestamp: float) -> can.Message | None:
        """The frame of message ``index`` at simulation time ``t``, or None if it cannot be made."""
        if index in self.disabled:
            return None
        state = self.states[index]
        plan = state.plan
        data = state.signal_values(t)
        payload = self._encode(state, data)
        if payload is None:
            self.disabled.add(index)
            return None
        present = [name for name in state.checksums if name in data]
        if present:
            for name in present:
                lo, hi = state.checksums[name]
                data[name] = lo + (sum(payload) - lo) % (hi - lo + 1)
            payload = self._encode(state, data) or payload
        if len(payload) < plan.length:
            payload = payload + bytes(plan.length - len(payload))
        msg = plan.message
        return can.Message(
            timestamp=timestamp,
            arbitration_id=msg.frame_id,
            is_extended_id=msg.is_extended_frame,
            is_fd=plan.is_fd,
            bitrate_switch=plan.is_fd,
            dlc=len(payload),
            data=payload,
        )

    def _encode(self, state: MessageState, data: dict[str, int | float]) -> bytes | None:
        """Strictly if cantools agrees, else without the range check, else signal by signal."""
        msg = state.plan.message
        reasons: list[str] = []
        if state.mode == "strict":
            try:
                return bytes(msg.encode(data, scaling=False, padding=False, strict=True))
            except ENCODE_ERRORS as exc:
                reasons.append(f"strict encoding failed ({exc})")
                state.mode = "lenient"
        if state.mode == "lenient":
            try:
                payload = bytes(msg.encode(data, scaling=False, padding=False, strict=False))
            except ENCODE_ERRORS as exc:
                reasons.append(f"encoding without the range check failed ({exc})")
                state.mode = "packed"
            else:
                if reasons:
                    self._warn_once(
                        f"encode:{msg.name}",
                        "message %s: %s; sent without the range check",
                        msg.name,
                        "; ".join(reasons),
                    )
                return payload
        if reasons:
            self._warn_once(
                f"encode:{msg.name}",
                "message %s: %s; packing its bits directly (signals covering others left 0)",
                msg.name,
                "; ".join(reasons),
            )
        return state.pack(data)


def schedule(plans: Sequence[MessagePlan]) -> Iterator[tuple[float, int]]:
    """``(t, message index)`` in time order, forever: message i at ``offset + k * cycle``."""
    heap = [(p.offset_s, i, 0) for i, p in enumerate(plans)]
    heapq.heapify(heap)
    while heap:
        t, i, k = heap[0]
        yield t, i
        k += 1
        heapq.heapreplace(heap, (plans[i].offset_s + k * plans[i].cycle_s, i, k))
