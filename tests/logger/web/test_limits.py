"""The row limit of the HTTP answers: a small answer is held and sent, a large one that fits is
counted and then asked for again, one over the limit is refused before anything is sent."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from logger.core.errors import Code, QueryError
from logger.query.answer import end_frame, to_ipc
from logger.web.limits import answer_within, limited_command

ROWS_PER_FRAME = 10


class Channel:
    """A reply function over ``frames`` frames of ten rows each, recording what it was asked and
    whether each answer was read to its end or closed early."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.asked: list[str] = []
        self.closed: list[bool] = []
        self.read: list[int] = []  # frames taken from each answer

    def reply(self, raw: bytes) -> Iterator[bytes]:
        self.asked.append(raw.decode())
        self.closed.append(False)
        self.read.append(0)
        index = len(self.closed) - 1
        try:
            for i in range(self.frames):
                self.read[index] += 1
                start = i * ROWS_PER_FRAME
                yield to_ipc(pa.table({"key": pa.array(range(start, start + ROWS_PER_FRAME))}))
            yield end_frame(Code.OK, Code.OK)
        except GeneratorExit:
            self.closed[index] = True
            raise


def _rows(frames: Iterator[bytes]) -> int:
    return sum(
        pa.ipc.open_stream(f).read_all().num_rows for f in frames if not f.startswith(b"\x0b\xad")
    )


def test_an_own_limit_within_max_rows_streams_as_asked() -> None:
    assert limited_command("sync-0-9;limit=5", 10) == ("sync-0-9;limit=5", False)
    assert limited_command("sync-0-9;bus=a;limit=50", 10) == ("sync-0-9;bus=a;limit=11", True)
    assert limited_command("sync-0-9;limit=x", 10) == ("sync-0-9;limit=x", False)  # the channel
    channel = Channel(3)
    assert _rows(answer_within(channel.reply, "exchange=a;", "sync-0-9;limit=20", 100)) == 30
    assert channel.asked == ["exchange=a;sync-0-9;limit=20"]


def test_a_small_answer_is_held_and_asked_once() -> None:
    channel = Channel(3)
    assert _rows(answer_within(channel.reply, "", "sync-0-9", 100)) == 30
    assert channel.asked == ["sync-0-9;limit=101"] and channel.closed == [False]


def test_a_large_answer_within_the_limit_is_counted_then_asked_again() -> None:
    channel = Channel(8)
    frames = answer_within(channel.reply, "", "sync-0-9", 100, hold_bytes=1)
    assert channel.read == [8] and channel.closed == [False]  # read to its end, counting
    assert _rows(frames) == 80
    assert channel.asked == ["sync-0-9;limit=101", "sync-0-9;limit=100"]


@pytest.mark.parametrize("hold_bytes", [1, 1 << 20])
def test_a_window_over_the_limit_is_refused_and_its_answer_closed(hold_bytes: int) -> None:
    channel = Channel(50)
    with pytest.raises(QueryError, match="more than 100 rows") as err:
        answer_within(channel.reply, "", "sync-0-9", 100, hold_bytes=hold_bytes)
    assert err.value.disk == Code.BAD_KEY_RANGE
    assert channel.asked == ["sync-0-9;limit=101"] and channel.closed == [True]


def test_exactly_max_rows_is_within_the_limit() -> None:
    channel = Channel(10)
    assert _rows(answer_within(channel.reply, "", "sync-0-9", 100)) == 100
    assert channel.read == [10] and channel.closed == [False]
