"""Window sizes, window starts and which windows are final."""

from __future__ import annotations

import numpy as np
import pytest

from logger.core.errors import ConfigError
from logger.rollup import final_before, is_final, parse_window, window_name
from logger.rollup.windows import window_starts

S = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1s", S),
        ("1m", 60 * S),
        ("1h", 3600 * S),
        ("15m", 900 * S),
        ("1d", 86400 * S),
        (" 2h", 7200 * S),
    ],
)
def test_sizes_that_divide_a_day(text: str, ns: int) -> None:
    assert parse_window(text) == ns
    assert parse_window(window_name(ns)) == ns


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("7s", "does not divide a day"),
        ("7h", "does not divide a day"),
        ("2d", "does not divide a day"),
        ("0s", "expected a window"),
        ("1.5s", "expected a window"),
        ("1ms", "expected a window"),
        ("", "expected a window"),
        ("m", "expected a window"),
    ],
)
def test_other_sizes_are_config_errors_naming_the_value(text: str, problem: str) -> None:
    with pytest.raises(
        ConfigError, match=rf"sdvlog.toml: exchange\.rollup\[1\]\.window: .*{problem}"
    ) as caught:
        parse_window(text, "exchange.rollup[1].window", "sdvlog.toml")
    assert repr(text) in str(caught.value)


def test_window_starts_floor_before_1970_too() -> None:
    ts = np.array([-1, 0, S - 1, S, -S, -S - 1], np.int64)
    assert window_starts(ts, S).tolist() == [-S, 0, 0, S, -S, -2 * S]


def test_final_before_is_the_first_window_not_final() -> None:
    w, hold = 10, 25
    for horizon in range(-40, 120):
        bound = final_before(horizon, w, hold)
        assert bound % w == 0
        assert not is_final(bound, w, hold, horizon)
        assert is_final(bound - w, w, hold, horizon)
