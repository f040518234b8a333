"""Per-signal decode plans, compiled once per message: bits → raw → physical value, and the
multiplexer tree (which multiplexer values select which signals, nested muxes included)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from cantools.database.can import Message

from dbc.bits import BitField, Words, bit_field
from dbc.schema import SignalType, signal_type

__all__ = ["MuxNode", "MuxPath", "SignalPlan", "compile_signals"]

#: The multiplexer conditions on the way to a signal: ((mux signal, value), ...), outermost first.
MuxPath = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class SignalPlan:
    """How to decode one signal; ``paths`` is None for signals every frame carries."""

    name: str
    field: BitField
    length: int
    signed: bool
    is_float: bool
    scale: float
    offset: float
    stype: SignalType
    paths: tuple[MuxPath, ...] | None

    def decode(self, words: Words) -> npt.NDArray[np.generic]:
        """Physical values for every row of ``words``, in the signal's numpy dtype."""
        raw = words.extract(self.field)
        stype = self.stype
        if self.is_float:
            number: npt.NDArray[np.generic] = (
                raw.astype(np.uint32).view(np.float32)
                if self.length == 32
                else raw.view(np.float64)
            )
            if stype.identity:
                return number.astype(stype.dtype, copy=False)
            return number.astype(np.float64) * self.scale + self.offset
        if self.signed:
            if self.length == 64:
                ints: npt.NDArray[np.generic] = raw.view(np.int64)
            else:
                sign = np.int64(1 << (self.length - 1))
                ints = (raw.view(np.int64) ^ sign) - sign
        else:
            ints = raw
        if stype.kind == "bool":
            return ints.astype(np.bool_)
        if stype.identity:
            return ints.astype(stype.dtype, copy=False)
        if stype.kind == "int":
            scale, offset = int(self.scale), int(self.offset)
            if stype.dtype.kind == "u" and scale >= 0 and offset >= 0:
                return (ints.astype(np.uint64) * np.uint64(scale) + np.uint64(offset)).astype(
                    stype.dtype, copy=False
                )
            return (ints.astype(np.int64) * scale + offset).astype(stype.dtype, copy=False)
        return ints.astype(np.float64) * self.scale + self.offset


@dataclass(frozen=True)
class MuxNode:
    """One multiplexer: its signal, the path that reaches it, and the values the DBC defines."""

    name: str
    path: MuxPath
    ids: npt.NDArray[np.int64]


def compile_signals(message: Message) -> tuple[tuple[SignalPlan, ...], tuple[MuxNode, ...]]:
    """Plans for every signal of ``message`` (in its signal order) and its multiplexers."""
    paths: dict[str, list[MuxPath]] = {}
    muxes: list[MuxNode] = []

    def walk(nodes: list[object], path: MuxPath) -> None:
        for node in nodes:
            if isinstance(node, str):
                paths.setdefault(node, []).append(path)
                continue
            assert isinstance(node, dict)
            for mux_name, branches in node.items():
                paths.setdefault(mux_name, []).append(path)
                muxes.append(MuxNode(mux_name, path, np.array(sorted(branches), np.int64)))
                for mux_id, children in branches.items():
                    walk(children, (*path, (mux_name, int(mux_id))))

    walk(list(message.signal_tree), ())
    plans = []
    for signal in message.signals:
        where = paths.get(signal.name, [()])
        plans.append(
            SignalPlan(
                name=signal.name,
                field=bit_field(signal.start, signal.length, signal.byte_order == "big_endian"),
                length=signal.length,
                signed=signal.is_signed,
                is_float=signal.is_float,
                scale=signal.scale,
                offset=signal.offset,
                stype=signal_type(signal),
                paths=None if () in where else tuple(where),
            )
        )
    return tuple(plans), tuple(muxes)
