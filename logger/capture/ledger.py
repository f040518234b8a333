"""Redelivery detection for QoS 1 capture.

A message is acknowledged to the broker only after the file holding it is durable, so a crash
between the rename and the acknowledgement makes the broker redeliver messages that are already
stored. Each batch's first file carries a ledger (packet id and payload digest of every QoS 1
message in it), as ASCII text in the footer key ``sdvlog.ledger`` (Parquet key-value metadata
is UTF-8 text, and readers such as polars refuse a file whose metadata is not); at start-up the newest ledgers say what the last messages with each packet id
were. A redelivery (DUP flag) whose packet id and digest match is acknowledged, not stored again.

The broker reuses a packet id only after it received our acknowledgement for the previous
message with that id, so "the latest message we stored with this id" is the only candidate.
The one ambiguity left is a redelivered message identical in topic and payload to the previous
message that used the same packet id; CANP and SPI payloads carry timestamps, so that cannot
happen for them.
"""

from __future__ import annotations

import base64
import enum
import logging
import zlib
from collections.abc import Iterable

import numpy as np

log = logging.getLogger(__name__)

LEDGER_KEY = "sdvlog.ledger"


class Seen(enum.Enum):
    NEW = "new"  # store it
    HELD = "held"  # the original is in memory, not yet acknowledged: ignore the copy
    STORED = "stored"  # the original is on disk: acknowledge the copy, do not store it


def digest(topic: str, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(topic.encode("utf-8", "surrogateescape")))


_TEXT = b"v3:"  # the current form: ASCII text, as Parquet key-value metadata must be UTF-8
_BINARY = 2  # the binary form before it (version byte 2, then the same body)
_COUNT = 4  # count u32 at the start of a body


def encode_ledger(mids: list[int], hashes: list[int]) -> bytes:
    """``v3:`` then base85 (RFC 1924 alphabet) of: count (u32), the digests (u32 each), the packet
    ids as zlib-compressed u16 steps. Consecutive ids cost almost nothing, so a ledger is about
    5 bytes per message (4 of digest, 1 of base85)."""
    steps = np.diff(np.asarray(mids, np.int64), prepend=0).astype("<u2")  # wraps mod 2**16
    body = (
        len(mids).to_bytes(_COUNT, "little")
        + np.asarray(hashes, "<u4").tobytes()
        + zlib.compress(steps.tobytes(), 6)
    )
    return _TEXT + base64.b85encode(body)


def _decode_body(body: bytes) -> tuple[list[int], list[int]] | None:
    """Packet ids and digests of a body (count, digests, compressed steps), None if it is not one."""
    n = int.from_bytes(body[:_COUNT], "little") if len(body) >= _COUNT else -1
    if n < 0 or _COUNT + 4 * n > len(body):
        return None
    try:
        raw = zlib.decompress(body[_COUNT + 4 * n :])
    except zlib.error:
        return None
    if len(raw) != 2 * n:
        return None
    mids = (np.cumsum(np.frombuffer(raw, "<u2").astype(np.int64)) % 65536).tolist()
    return mids, np.frombuffer(body, "<u4", n, offset=_COUNT).tolist()


def decode_ledger(blob: bytes) -> tuple[list[int], list[int]]:
    """Packet ids and digests of a ledger in any form written so far: the text form, the binary
    form before it (version byte 2, then the body unencoded), and the first format (u16 ids then
    u32 digests)."""
    if blob.startswith(_TEXT):
        try:
            body = base64.b85decode(blob[len(_TEXT) :])
        except ValueError:
            body = None  # not base85 text: one of the binary forms
        if body is not None:
            found = _decode_body(body)
            if found is None:
                raise ValueError(f"a text ledger of {len(blob)} bytes in no known form (damaged)")
            return found
    if blob[:1] == bytes([_BINARY]):
        found = _decode_body(blob[1:])
        if found is not None:
            return found
    n = len(blob) // 6
    if n * 6 != len(blob):
        raise ValueError(f"a ledger of {len(blob)} bytes in no known form")
    return np.frombuffer(blob, "<u2", n).tolist(), np.frombuffer(blob, "<u4", n, 2 * n).tolist()


class RedeliveryFilter:
    """Tracks the latest message per packet id and whether it is still un-acknowledged."""

    def __init__(self) -> None:
        self._latest: dict[int, int] = {}
        self._held: set[int] = set()

    def load(self, ledgers_newest_first: Iterable[bytes]) -> int:
        """Seed from stored ledgers (newest first); returns how many packet ids were learnt."""
        for blob in ledgers_newest_first:
            try:
                mids, hashes = decode_ledger(blob)
            except ValueError as exc:
                log.warning("a stored QoS 1 ledger is unreadable (%s): skipped", exc)
                continue
            for mid, h in zip(reversed(mids), reversed(hashes), strict=True):
                self._latest.setdefault(mid, h)
            if len(self._latest) >= 65535:
                break
        return len(self._latest)

    def check(self, mid: int, digest_: int, dup: bool) -> Seen:
        """Classify a QoS 1 message; a NEW one is recorded as held until :meth:`acked`."""
        if dup and self._latest.get(mid) == digest_:
            return Seen.HELD if mid in self._held else Seen.STORED
        self._latest[mid] = digest_
        self._held.add(mid)
        return Seen.NEW

    def acked(self, mids: Iterable[int]) -> None:
        self._held.difference_update(mids)
