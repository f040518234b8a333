from __future__ import annotations

import threading
import time

import pytest

from logger.capture.ringbus import FlushReason, PendingBatch, Ringbus, held_size
from logger.core.config import FullOp, RingbusConfig
from tests.support.service import wait_until


class RecordingSink:
    """Collects handed-over batches; ``auto_done`` marks them durable at once."""

    def __init__(self, auto_done: bool = True) -> None:
        self.batches: list[PendingBatch] = []
        self.discarded: list[int] = []
        self.handed = threading.Event()
        self.auto_done = auto_done
        self.pending_unacked = 0

    def submit(self, batch: PendingBatch) -> None:
        self.batches.append(batch)
        if self.auto_done:
            batch.done.set()
        self.handed.set()

    def unacked(self) -> int:
        return self.pending_unacked

    def held_bytes(self) -> int:
        return 0

    def wait(self, batch: PendingBatch) -> None:
        batch.done.wait(10)

    def discard(self, mids: list[int]) -> None:
        self.discarded.extend(mids)


def ring(
    op: FullOp, cap: int = 3, flush_ms: int = 60000, window: int | None = None
) -> tuple[Ringbus, RecordingSink]:
    sink = RecordingSink()
    return Ringbus(
        RingbusConfig(cap=cap, full_op=op, flush_ms=flush_ms), sink, threading.Condition(), window
    ), sink


def fill(r: Ringbus, n: int, start: int = 0, mids: bool = False) -> list[bool]:
    return [r.push(i, "t", b"%d" % i, i if mids else -1) for i in range(start, start + n)]


def keys(batch: PendingBatch) -> list[int]:
    out: list[int] = batch.batch.keys.tolist()
    return out


def test_return_hands_the_whole_batch_and_accepts_the_new_message() -> None:
    r, sink = ring(FullOp.RETURN)
    assert fill(r, 7) == [True] * 7
    assert [keys(b) for b in sink.batches] == [[0, 1, 2], [3, 4, 5]]
    assert all(b.reason is FlushReason.FULL for b in sink.batches)
    assert r.contents().keys.tolist() == [6]
    assert r.counters.accepted == 7 and r.counters.flushed_messages == 6


def test_none_rejects_new_messages_and_counts_them() -> None:
    r, sink = ring(FullOp.NONE)
    assert fill(r, 5, mids=True) == [True, True, True, False, False]
    assert sink.batches == [] and r.contents().keys.tolist() == [0, 1, 2]
    assert r.counters.dropped["full"] == 2
    assert sink.discarded == [3, 4]  # acknowledged: dropped by policy, not to be redelivered


def test_drop_discards_the_buffer_then_accepts() -> None:
    r, sink = ring(FullOp.DROP)
    fill(r, 4, mids=True)
    assert r.contents().keys.tolist() == [3]
    assert r.counters.dropped["discarded"] == 3 and sink.discarded == [0, 1, 2]
    assert sink.batches == []


def test_file_mode_waits_until_the_batch_is_durable() -> None:
    sink = RecordingSink(auto_done=False)
    r = Ringbus(RingbusConfig(cap=2, full_op=FullOp.FILE), sink, threading.Condition())
    fill(r, 2)
    pushed = threading.Event()

    def produce() -> None:
        r.push(2, "t", b"x")
        pushed.set()

    t = threading.Thread(target=produce)
    t.start()
    assert sink.handed.wait(5)
    assert not pushed.wait(0.2)  # back-pressure: the producer is held while the batch is written
    sink.batches[0].done.set()
    assert pushed.wait(5)
    t.join()
    assert keys(sink.batches[0]) == [0, 1] and r.contents().keys.tolist() == [2]


def test_age_flush_hands_a_quiet_ring_over() -> None:
    r, sink = ring(FullOp.RETURN, cap=100, flush_ms=30)
    r.start()
    try:
        r.push(1, "t", b"a")
        assert sink.handed.wait(5)
        assert sink.batches[0].reason is FlushReason.AGE and keys(sink.batches[0]) == [1]
    finally:
        r.stop()


def test_window_flush_before_the_broker_window_is_used_up() -> None:
    r, sink = ring(FullOp.RETURN, cap=1000, window=100)
    fill(r, 95, mids=True)
    assert [b.reason for b in sink.batches] == [FlushReason.WINDOW]
    assert len(sink.batches[0].mids) == 90  # 90 % of the window


def test_window_counts_batches_still_being_written() -> None:
    r, sink = ring(FullOp.RETURN, cap=1000, window=100)
    sink.pending_unacked = 85
    fill(r, 9, mids=True)
    assert sink.batches == []  # the tail waits: flushing 5 messages at a time would make tiny files
    fill(r, 1, 9, mids=True)
    assert len(sink.batches) == 1 and len(sink.batches[0].mids) == 10


def test_shutdown_flushes_what_is_left() -> None:
    r, sink = ring(FullOp.RETURN, cap=10)
    r.start()
    fill(r, 4)
    r.stop()
    assert [b.reason for b in sink.batches] == [FlushReason.SHUTDOWN] and keys(sink.batches[0]) == [
        0,
        1,
        2,
        3,
    ]


def test_small_broker_window_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    r, sink = ring(FullOp.RETURN, cap=1000, flush_ms=40, window=65535)
    r.start()
    try:
        for round_ in range(3):  # a throttled broker: 20 at once, then silence until the flush
            sink.handed.clear()
            fill(r, 20, round_ * 20, mids=True)
            assert sink.handed.wait(5)
    finally:
        r.stop()
    assert "only 20 un-acknowledged messages in flight" in caplog.text


def test_steady_traffic_is_not_mistaken_for_a_small_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r, sink = ring(FullOp.RETURN, cap=1000, flush_ms=40, window=65535)
    r.start()
    try:
        i = 0
        deadline = time.monotonic() + 30
        while len(sink.batches) < 4:  # messages keep coming right up to every age flush
            assert time.monotonic() < deadline, "the ring did not flush by age"
            fill(r, 1, i, mids=True)
            i += 1
            time.sleep(0.001)  # the traffic's own pace, not synchronisation
    finally:
        r.stop()
    assert "un-acknowledged messages in flight" not in caplog.text


class HoldingSink(RecordingSink):
    """A writer that holds every batch until the test marks it stored (``store_first``)."""

    def __init__(self, cond: threading.Condition) -> None:
        super().__init__(auto_done=False)
        self.cond = cond

    def held_bytes(self) -> int:
        return sum(b.nbytes for b in self.batches if not b.done.is_set())

    def store_first(self) -> None:
        with self.cond:
            next(b for b in self.batches if not b.done.is_set()).done.set()
            self.cond.notify_all()


PAYLOAD = b"p" * 1000
SIZE = held_size("t", PAYLOAD)  # 1129 bytes counted per message


def memory_ring(memory: int) -> tuple[Ringbus, HoldingSink]:
    cond = threading.Condition()
    sink = HoldingSink(cond)
    cfg = RingbusConfig(cap=1000, full_op=FullOp.RETURN, flush_ms=60000)
    return Ringbus(cfg, sink, cond, memory=memory), sink


def test_the_ring_hands_over_at_half_its_memory_share() -> None:
    r, sink = memory_ring(10 * SIZE)  # hands over above 5 messages
    for i in range(6):
        r.push(i, "t", PAYLOAD)
    assert [keys(b) for b in sink.batches] == [[0, 1, 2, 3, 4]]
    assert sink.batches[0].reason is FlushReason.MEMORY
    assert sink.batches[0].nbytes == 5 * SIZE
    assert r.held_bytes == SIZE and r.counters.flushed_batches["memory"] == 1


def test_push_waits_while_ring_and_writer_hold_the_whole_share() -> None:
    r, sink = memory_ring(10 * SIZE)
    for i in range(10):  # five with the writer, five in the ring
        r.push(i, "t", PAYLOAD)
    assert len(sink.batches) == 1 and r.held_bytes == 5 * SIZE
    done = threading.Event()

    def push() -> None:
        r.push(10, "t", PAYLOAD)
        done.set()

    pusher = threading.Thread(target=push)
    pusher.start()
    wait_until(lambda: r.counters.memory_waits == 1, 10, "the push to wait for memory")
    assert not done.is_set() and len(sink.batches) == 2  # the ring handed over, then waited
    assert sink.held_bytes() == 10 * SIZE
    sink.store_first()
    assert done.wait(10), "push did not go on once the writer stored a batch"
    pusher.join()
    assert r.contents().keys.tolist() == [10]
    assert r.counters.accepted == 11 and r.counters.memory_wait_s > 0


def test_stop_releases_a_push_waiting_for_memory() -> None:
    r, sink = memory_ring(10 * SIZE)
    for i in range(10):
        r.push(i, "t", PAYLOAD)
    pusher = threading.Thread(target=r.push, args=(10, "t", PAYLOAD))
    pusher.start()
    wait_until(lambda: r.counters.memory_waits == 1, 10, "the push to wait for memory")
    r.stop()
    pusher.join(10)
    assert not pusher.is_alive(), "a push waiting for memory blocked the stop"
    taken = sorted(k for b in sink.batches for k in keys(b)) + r.contents().keys.tolist()
    stopped = r.counters.dropped["stopped"]
    assert sorted(taken) == list(range(10 + (1 - stopped)))  # stored, or refused and counted
    assert len(r) == 0, "a message was left in a stopped ring"


def test_a_stopped_ring_refuses_and_counts_without_acknowledging() -> None:
    r, sink = ring(FullOp.RETURN)
    r.stop()
    assert not r.push(1, "t", b"late", mid=7)
    assert r.counters.dropped["stopped"] == 1
    assert sink.discarded == [] and len(r) == 0


def test_one_message_larger_than_the_share_is_still_taken() -> None:
    r, _ = memory_ring(2 * SIZE)
    big = b"b" * (5 * SIZE)
    assert r.push(0, "t", big)
    assert r.contents().payloads[0] == big


def test_topics_seen_are_remembered_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("logger.capture.ringbus.MAX_SEEN_TOPICS", 5)
    r, _sink = ring(FullOp.RETURN, cap=4)
    for i in range(4):  # one handed-over batch of four topics
        r.push(i, f"a/{i}", b"x", -1)
    r.push(4, "b/held", b"x", -1)
    assert r.topics() == ["a/0", "a/1", "a/2", "a/3", "b/held"]
    for i in range(5, 13):  # two batches of eight new topics: one more fits the bound
        r.push(i, f"c/{i:02d}", b"x", -1)
    assert r.topics() == ["a/0", "a/1", "a/2", "a/3", "b/held", "c/12"]  # 5 kept + 1 held
