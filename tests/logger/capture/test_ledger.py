from __future__ import annotations

import string
import zlib

import numpy as np
import pytest

from logger.capture.ledger import RedeliveryFilter, Seen, decode_ledger, digest, encode_ledger


def test_ledger_round_trip() -> None:
    mids, hashes = [1, 65535, 7], [0, 2**32 - 1, 12345]
    assert decode_ledger(encode_ledger(mids, hashes)) == (mids, hashes)
    assert decode_ledger(encode_ledger([], [])) == ([], [])


def test_ledger_costs_about_five_bytes_per_message_with_consecutive_ids() -> None:
    mids = [(60000 + i) % 65535 + 1 for i in range(10000)]  # wraps past 65535
    hashes = [digest("t", i.to_bytes(4, "little")) for i in range(10000)]
    blob = encode_ledger(mids, hashes)
    assert decode_ledger(blob) == (mids, hashes)
    assert len(blob) < 5.1 * len(mids)  # 4 B of digest, 1 B of base85 text


def test_first_format_ledgers_still_read_and_bad_ones_are_skipped() -> None:
    old = np.asarray([3, 4], "<u2").tobytes() + np.asarray([30, 40], "<u4").tobytes()
    assert decode_ledger(old) == ([3, 4], [30, 40])
    with pytest.raises(ValueError, match="no known form"):
        decode_ledger(b"\x02\x00garbage")
    f = RedeliveryFilter()
    assert f.load([b"\x02\x00garbage", old]) == 2


def binary_ledger(mids: list[int], hashes: list[int]) -> bytes:
    """The binary form ledgers had before the text form: version byte 2, count u32, digests u32,
    zlib-compressed u16 packet id steps (as files written by earlier releases hold it)."""
    steps = np.diff(np.asarray(mids, np.int64), prepend=0).astype("<u2")
    head = bytes([2]) + len(mids).to_bytes(4, "little")
    return head + np.asarray(hashes, "<u4").tobytes() + zlib.compress(steps.tobytes(), 6)


def first_format_ledger(mids: list[int], hashes: list[int]) -> bytes:
    """The first format: u16 packet ids, then u32 digests."""
    return np.asarray(mids, "<u2").tobytes() + np.asarray(hashes, "<u4").tobytes()


def test_ledger_is_printable_ascii_text() -> None:
    mids = [*range(1, 2000), 65535, 1, 40000]
    hashes = [digest("t", i.to_bytes(4, "little")) for i in range(len(mids))]
    text = encode_ledger(mids, hashes).decode("ascii")  # strict: raises on any other byte
    allowed = set(string.ascii_letters + string.digits + "!#$%&()*+-;<=>?@^_`{|}~:")
    assert set(text) <= allowed
    assert decode_ledger(text.encode("utf-8")) == (mids, hashes)


def test_every_older_form_is_still_read_and_all_forms_seed_the_filter() -> None:
    mids, hashes = [65535, 1, 2, 9], [7, 2**32 - 1, 0, 123456789]
    binary = binary_ledger(mids, hashes)
    with pytest.raises(UnicodeDecodeError):
        binary.decode("utf-8")  # what polars refused to read
    assert decode_ledger(binary) == (mids, hashes)
    assert decode_ledger(first_format_ledger(mids, hashes)) == (mids, hashes)
    assert decode_ledger(binary_ledger([], [])) == ([], [])
    f = RedeliveryFilter()
    newest = encode_ledger([1], [11])
    assert f.load([newest, binary_ledger([1, 2], [10, 20]), first_format_ledger([3], [30])]) == 3
    assert f.check(1, 11, dup=True) is Seen.STORED  # the newest ledger wins for id 1
    assert f.check(2, 20, dup=True) is Seen.STORED
    assert f.check(3, 30, dup=True) is Seen.STORED


def test_a_damaged_text_ledger_is_refused_not_misread() -> None:
    good = encode_ledger([1, 2, 3], [4, 5, 6])
    for bad in (good[:-3], good[:3] + b'"' + good[4:], b"v3:", b"v3:00000"):
        with pytest.raises(ValueError, match="no known form"):
            decode_ledger(bad)


def test_redelivery_of_a_stored_message_is_recognised_after_a_restart() -> None:
    before_crash = RedeliveryFilter()
    d1, d2 = digest("t/a", b"one"), digest("t/a", b"two")
    assert before_crash.check(1, d1, dup=False) is Seen.NEW
    assert before_crash.check(2, d2, dup=False) is Seen.NEW
    ledger = encode_ledger([1, 2], [d1, d2])  # written with the batch; the acks never made it

    after = RedeliveryFilter()
    assert after.load([ledger]) == 2
    assert after.check(1, d1, dup=True) is Seen.STORED  # acknowledge, do not store again
    assert after.check(2, digest("t/a", b"other"), dup=True) is Seen.NEW  # same id, other message
    assert (
        after.check(1, d1, dup=False) is Seen.NEW
    )  # not a redelivery: a new message reusing the id


def test_newest_ledger_wins_and_held_messages_are_not_acknowledged_twice() -> None:
    f = RedeliveryFilter()
    old, new = digest("t", b"old"), digest("t", b"new")
    f.load([encode_ledger([5], [new]), encode_ledger([5], [old])])  # newest first
    assert f.check(5, old, dup=True) is Seen.NEW
    g = RedeliveryFilter()
    assert g.check(9, new, dup=False) is Seen.NEW
    assert g.check(9, new, dup=True) is Seen.HELD  # reconnect while the original is still in memory
    g.acked([9])
    assert g.check(9, new, dup=True) is Seen.STORED
