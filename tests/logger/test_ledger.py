from __future__ import annotations

import numpy as np
import pytest

from logger.ledger import RedeliveryFilter, Seen, decode_ledger, digest, encode_ledger


def test_ledger_round_trip() -> None:
    mids, hashes = [1, 65535, 7], [0, 2**32 - 1, 12345]
    assert decode_ledger(encode_ledger(mids, hashes)) == (mids, hashes)
    assert decode_ledger(encode_ledger([], [])) == ([], [])


def test_ledger_costs_about_four_bytes_per_message_with_consecutive_ids() -> None:
    mids = [(60000 + i) % 65535 + 1 for i in range(10000)]  # wraps past 65535
    hashes = [digest("t", i.to_bytes(4, "little")) for i in range(10000)]
    blob = encode_ledger(mids, hashes)
    assert decode_ledger(blob) == (mids, hashes)
    assert len(blob) < 4.1 * len(mids)


def test_first_format_ledgers_still_read_and_bad_ones_are_skipped() -> None:
    old = np.asarray([3, 4], "<u2").tobytes() + np.asarray([30, 40], "<u4").tobytes()
    assert decode_ledger(old) == ([3, 4], [30, 40])
    with pytest.raises(ValueError, match="neither known format"):
        decode_ledger(b"\x02\x00garbage")
    f = RedeliveryFilter()
    assert f.load([b"\x02\x00garbage", old]) == 2


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
