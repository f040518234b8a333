"""Captured MQTT messages as a column batch: what the Ringbus hands to a stream plugin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from logger.core.payloads import Payloads


@dataclass(frozen=True)
class MessageBatch:
    """Messages in capture order: ``keys[i]`` (ns, strictly increasing), ``topics[i]``, ``payloads[i]``.

    ``payloads`` is a list, or :class:`~logger.core.payloads.Payloads` (back to back in one buffer) as
    the Ringbus hands them over.
    """

    keys: npt.NDArray[np.int64]
    topics: list[str]
    payloads: Sequence[bytes]

    def __post_init__(self) -> None:
        if not len(self.keys) == len(self.topics) == len(self.payloads):
            raise ValueError("keys, topics and payloads differ in length")

    def __len__(self) -> int:
        return len(self.topics)

    @property
    def nbytes(self) -> int:
        if isinstance(self.payloads, Payloads):
            return self.payloads.nbytes
        return sum(map(len, self.payloads))

    @classmethod
    def empty(cls) -> MessageBatch:
        return cls(np.empty(0, np.int64), [], [])

    @classmethod
    def concat(cls, batches: list[MessageBatch]) -> MessageBatch:
        if not batches:
            return cls.empty()
        if len(batches) == 1:
            return batches[0]
        topics: list[str] = []
        payloads: list[bytes] = []
        for b in batches:
            topics.extend(b.topics)
            payloads.extend(b.payloads)
        return cls(np.concatenate([b.keys for b in batches]), topics, payloads)
