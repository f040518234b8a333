"""SPI wire format: round trips of every type, malformed payloads and records refused with reasons."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from spi.types import SpiType
from spi.wire import HEADER, Record, WireError, decode_payloads, encode_batch

T0 = 1_710_072_000_000_000_000

EXAMPLES: list[Record] = [
    Record(0, SpiType.BOOL, True),
    Record(1, SpiType.BOOL, False, update=False),
    Record(2, SpiType.U8, 255),
    Record(3, SpiType.I8, -128),
    Record(4, SpiType.U16, 65535),
    Record(5, SpiType.I16, -32768),
    Record(6, SpiType.U32, 4_294_967_295),
    Record(7, SpiType.I32, -2_147_483_648),
    Record(8, SpiType.U64, 2**64 - 1),
    Record(9, SpiType.I64, -(2**63)),
    Record(10, SpiType.F32, 1.5),
    Record(11, SpiType.F64, math.pi),
    Record(12, SpiType.UTF8, "grüß 🚗"),
    Record(13, SpiType.UTF8, ""),
    Record(0xFFF, SpiType.U8, 7),
]


def test_every_type_round_trips() -> None:
    payload = encode_batch(T0, EXAMPLES)
    decoded = decode_payloads([payload])
    assert decoded.rejected == [] and decoded.dropped == []
    assert [r for _, r in decoded.records()] == EXAMPLES
    assert decoded.ts.tolist() == [T0] * len(EXAMPLES)
    assert {t: v.values.dtype for t, v in decoded.values.items() if t is not SpiType.UTF8}[
        SpiType.U64
    ] == np.uint64


def test_layout_is_as_documented() -> None:
    payload = encode_batch(T0, [Record(0x123, SpiType.U16, 0x0102, update=True)])
    assert payload[:4] == b"SP\x01\x00"
    assert struct.unpack_from("<QH", payload, 4) == (T0, 1)
    # sync, big-endian (type 3 << 12 | id 0x123), update bit | len 2, little-endian value
    assert payload[14:] == bytes([0x55, 0x31, 0x23, 0x82, 0x02, 0x01])


def test_many_payloads_of_mixed_lengths_decode_in_order() -> None:
    rng = np.random.default_rng(3)
    payloads: list[bytes] = []
    expected: list[tuple[int, Record]] = []
    for i in range(200):
        records = []
        for j in range(int(rng.integers(0, 40))):
            kind = int(rng.integers(0, 3))
            rec = (
                Record(j, SpiType.U32, int(rng.integers(0, 2**32)))
                if kind == 0
                else Record(j, SpiType.UTF8, "x" * int(rng.integers(0, 127)))
                if kind == 1
                else Record(j, SpiType.F64, float(rng.normal()), bool(j % 2))
            )
            records.append(rec)
            expected.append((i, rec))
        payloads.append(encode_batch(T0 + i, records))
    decoded = decode_payloads(payloads)
    assert decoded.rejected == []
    assert decoded.records() == expected


def test_payloads_split_into_groups_still_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    import spi.wire.locate  # noqa: PLC0415

    monkeypatch.setattr(spi.wire.locate, "GROUP_BYTES", 64)
    payloads = [encode_batch(T0 + i, [Record(i, SpiType.U64, i)] * 5) for i in range(20)]
    payloads[7] = payloads[7][:-1]
    decoded = decode_payloads(payloads)
    assert [i for i, _ in decoded.rejected] == [7]
    assert decoded.source.tolist() == [i for i in range(20) if i != 7 for _ in range(5)]


def _header(count: int, ts: int = T0) -> bytes:
    return HEADER.pack(b"SP", 1, 0, ts, count)


GOOD = encode_batch(T0, [Record(1, SpiType.U16, 5), Record(2, SpiType.UTF8, "ok")])


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "shorter than the 14-byte header"),
        (b"SP\x01", "shorter than the 14-byte header"),
        (b"XP" + GOOD[2:], "magic"),
        (b"SP\x02" + GOOD[3:], "version 2"),
        (HEADER.pack(b"SP", 1, 0, 2**63, 0), "does not fit int64"),
        (GOOD[:-1], "ends at byte"),
        (GOOD + b"\x00", "1 bytes after 2 records"),
        (_header(3) + GOOD[14:], "truncated: record 2 of 3"),
        (_header(1) + b"\x55\x30", "truncated: record 0 of 1"),
        (_header(1) + b"\x54\x30\x01\x02\x00\x00", "sync byte 0x54"),
        (_header(0) + b"\x00", "1 bytes after 0 records"),
    ],
)
def test_malformed_payload_is_rejected_whole_and_the_others_decode(
    payload: bytes, reason: str
) -> None:
    decoded = decode_payloads([GOOD, payload, GOOD])
    assert len(decoded.rejected) == 1
    index, why = decoded.rejected[0]
    assert index == 1 and reason in why
    assert decoded.source.tolist() == [0, 0, 2, 2]
    assert decoded.value_list() == [5, "ok", 5, "ok"]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (bytes([0x55, 0xC0, 0x01, 0x81, 0x00]), "type code 12 is not defined"),
        (bytes([0x55, 0x30, 0x01, 0x83, 1, 2, 3]), "u16 needs 2 value bytes, has 3"),
        (bytes([0x55, 0x90, 0x01, 0x80]), "f32 needs 4 value bytes, has 0"),
        (bytes([0x55, 0x00, 0x01, 0x81, 0x02]), "bool value 0x02 is not 0 or 1"),
        (bytes([0x55, 0xB0, 0x01, 0x82, 0xC3, 0x28]), "not valid UTF-8"),
    ],
)
def test_bad_record_is_dropped_alone(record: bytes, reason: str) -> None:
    payload = _header(3) + GOOD[14:20] + record + GOOD[20:]
    decoded = decode_payloads([payload])
    assert decoded.rejected == []
    [(index, why)] = decoded.dropped
    assert index == 0 and reason in why and "record 1 (id 0x001)" in why
    assert [r for _, r in decoded.records()] == [
        Record(1, SpiType.U16, 5),
        Record(2, SpiType.UTF8, "ok"),
    ]


def test_empty_inputs() -> None:
    assert len(decode_payloads([])) == 0
    decoded = decode_payloads([_header(0)])
    assert len(decoded) == 0 and decoded.rejected == []


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (Record(4096, SpiType.U8, 1), "12 bits"),
        (Record(1, SpiType.U8, 256), "out of range"),
        (Record(1, SpiType.I16, 1.5), "needs an integer"),
        (Record(1, SpiType.BOOL, 2), "bool"),
        (Record(1, SpiType.UTF8, "x" * 128), "at most 127"),
        (Record(1, SpiType.UTF8, 3), "needs a str"),
        (Record(1, SpiType.F32, "1"), "needs a number"),
    ],
)
def test_encode_refuses_values_that_do_not_fit(record: Record, message: str) -> None:
    with pytest.raises(WireError, match=message):
        encode_batch(T0, [record])
