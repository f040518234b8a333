"""The CANP wire format (DESIGN.md, "Wire formats on MQTT"), encoded and decoded in bulk.

``b"CP" | version u8 (=1) | reserved u8 | count u32`` then per frame
``ts_ns u64 | can_id u32 | flags u8 | len u8 | data[len]``, all little-endian.

Decoding is vectorised across payloads: header fields and checks are gathered for every payload
at once; frame offsets come from arithmetic when every frame of a payload has the same length
(the common case), else from walking every payload's frame chain in lockstep (one numpy step per
frame index, over the payloads that still have frames; the last few chains, where a numpy step
costs more than a Python one per frame, in Python); then every field of every frame of every
payload is gathered at once. Only rejected payloads (rare) get Python work, for their reason; a
single payload (the gateway's own batches) has its header read in Python, cheaper than arrays.

Modules: :mod:`~canp.wire.format` (the layout and :class:`WireError`),
:mod:`~canp.wire.encode`, :mod:`~canp.wire.locate` (where the frames start) and
:mod:`~canp.wire.decode`.
"""

from canp.wire.decode import Decoded, decode_payloads
from canp.wire.encode import encode_columns, encode_frames, encode_messages
from canp.wire.format import (
    FRAME_HEAD,
    FRAME_HEAD_SIZE,
    HEAD_SIZE,
    HEADER,
    MAGIC,
    MAX_DATA,
    VERSION,
    WireError,
)

__all__ = [
    "FRAME_HEAD",
    "FRAME_HEAD_SIZE",
    "HEADER",
    "HEAD_SIZE",
    "MAGIC",
    "MAX_DATA",
    "VERSION",
    "Decoded",
    "WireError",
    "decode_payloads",
    "encode_columns",
    "encode_frames",
    "encode_messages",
]
