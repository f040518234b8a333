"""CANP: CAN and CAN FD frames in batches on MQTT (the wire codec), the ``frames`` table, ``bus=`` / ``id=``
selectors, and the stream plugin that decodes signals through a DBC; CAN log files in :mod:`canp.io`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from canp.plugin import CanpPlugin
    from canp.schema import FRAMES, FrameColumns
    from canp.wire import WireError, decode_payloads, encode_frames

__all__ = ["FRAMES", "CanpPlugin", "FrameColumns", "WireError", "decode_payloads", "encode_frames"]

__getattr__ = lazy_exports(
    __name__,
    {
        "CanpPlugin": "canp.plugin",
        "encode_frames": "canp.wire",
        "decode_payloads": "canp.wire",
        "WireError": "canp.wire",
        "FrameColumns": "canp.schema",
        "FRAMES": "canp.schema",
    },
)
