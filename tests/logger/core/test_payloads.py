from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pytest

from logger.core.payloads import MIN_MAP, PayloadBuffer, Payloads, binary_array


def filled(payloads: list[bytes], capacity: int = MIN_MAP) -> PayloadBuffer:
    buf = PayloadBuffer(capacity)
    for p in payloads:
        buf.append(p)
    return buf


def test_payloads_read_back_as_they_were_appended() -> None:
    given = [b"a", b"", b"\x00\xff" * 10, b"xyz"]
    view = filled(given).view()
    assert len(view) == 4 and list(view) == given
    assert [view[i] for i in range(-4, 4)] == given + given
    assert view.nbytes == sum(map(len, given))
    with pytest.raises(IndexError):
        view[4]


def test_slices_are_payloads_too_and_keep_their_bytes() -> None:
    given = [bytes([i]) * i for i in range(10)]
    view = filled(given).view()
    part = view[3:7]
    assert isinstance(part, Payloads) and list(part) == given[3:7]
    assert part.nbytes == sum(map(len, given[3:7]))
    assert list(view[::3]) == given[::3]
    assert list(view[8:2]) == []


def test_the_arrow_array_is_the_same_memory_and_the_same_values() -> None:
    given = [b"one", b"two", b"", b"three"]
    view = filled(given).view()
    arr = binary_array(view)
    assert arr.equals(pa.array(given, pa.binary()))
    data = arr.buffers()[2]
    assert data is not None and data.address == view.array().buffers()[2].address
    sliced = binary_array(view[1:3])
    assert sliced.to_pylist() == [b"two", b""]
    assert binary_array(given).equals(arr)  # plain lists are converted


def test_a_view_is_not_changed_by_appends_that_follow_even_when_the_map_grows() -> None:
    buf = PayloadBuffer(MIN_MAP)
    buf.append(b"first")
    before = buf.view()
    big = b"x" * (3 * MIN_MAP)  # forces a new, larger map
    buf.append(big)
    assert list(before) == [b"first"]
    assert list(buf.view()) == [b"first", big]


def test_take_hands_everything_over_and_starts_empty() -> None:
    buf = filled([b"a", b"b"])
    taken = buf.take()
    assert list(taken) == [b"a", b"b"]
    assert len(buf) == 0 and buf.nbytes == 0 and list(buf.view()) == []
    buf.append(b"c")
    assert list(taken) == [b"a", b"b"] and list(buf.view()) == [b"c"]
    assert list(PayloadBuffer().take()) == []


SMALL_BATCHES = """
import sys
from logger.core.payloads import PayloadBuffer

def rss() -> int:
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) * 1024

before = rss()
kept = []
for _ in range(50):
    buf = PayloadBuffer(16 << 20)
    buf.append(b"x" * 200)
    kept.append(buf.take())
big = PayloadBuffer(16 << 20)
for _ in range(4096):
    big.append(b"y" * 2048)  # 8 MiB: past the first 2 MiB, huge pages may back the rest
assert list(big.view())[-1] == b"y" * 2048
print(rss() - before - 8 * 2**20)
"""


def test_small_batches_hold_resident_only_about_what_they_count() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SMALL_BATCHES],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    extra = int(out.stdout.split()[-1])
    # 50 batches of 200 bytes: a page each, not a 2 MiB huge page each (100 MiB)
    assert extra < 12 * 2**20, f"{extra / 2**20:.1f} MiB resident beyond the payloads"
