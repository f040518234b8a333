"""The ``frames`` table: one row per CAN / CAN FD frame, and its columns as numpy arrays.

Schema version 2 added ``topic`` (last): the MQTT topic of the batch the frame came in, for the
``topic=`` selector; null for frames that never came through MQTT (imported log files). Files of
version 1 have no such column."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from logger.core.topics import TOPIC_COLUMN
from logger.store.split import time_metadata

FRAMES = "frames"
TIME_COLUMN = "ts"
#: ``sdvlog.schema_version`` of the files the CANP stream writes (2: ``topic`` added).
SCHEMA_VERSION = 2

#: SocketCAN flag bits in ``can_id`` on the wire.
CAN_EFF_FLAG = 0x80000000
CAN_RTR_FLAG = 0x40000000
CAN_ERR_FLAG = 0x20000000
CAN_EFF_MASK = 0x1FFFFFFF
#: ``flags`` byte on the wire.
FLAG_FD, FLAG_BRS, FLAG_ESI = 0x01, 0x02, 0x04

FRAMES_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.int64(), nullable=False, metadata=time_metadata(doc="frame time")),
        pa.field("bus", pa.string(), nullable=False),
        pa.field(
            "id", pa.uint32(), nullable=False, metadata={"doc": "arbitration id, without flag bits"}
        ),
        pa.field("extended", pa.bool_(), nullable=False),
        pa.field("remote", pa.bool_(), nullable=False),
        pa.field("error", pa.bool_(), nullable=False),
        pa.field("fd", pa.bool_(), nullable=False),
        pa.field("brs", pa.bool_(), nullable=False),
        pa.field("esi", pa.bool_(), nullable=False),
        pa.field(
            "dlc", pa.uint8(), nullable=False, metadata={"doc": "data length in bytes (0..64)"}
        ),
        pa.field("data", pa.binary(), nullable=False),
        pa.field(
            TOPIC_COLUMN,
            pa.string(),
            metadata={"doc": "MQTT topic of the frame's batch; null: not from MQTT (imported)"},
        ),
    ]
)


@dataclass(frozen=True)
class FrameColumns:
    """Frames as parallel arrays (what the wire codec, importers and the simulator exchange).

    ``can_id`` carries SocketCAN's flag bits (31 extended, 30 remote, 29 error) and ``flags`` the
    wire flags (bit 0 FD, 1 BRS, 2 ESI); ``data`` is a pyarrow binary array of the payloads.
    """

    ts: npt.NDArray[np.int64]
    can_id: npt.NDArray[np.uint32]
    flags: npt.NDArray[np.uint8]
    data: pa.BinaryArray

    def __post_init__(self) -> None:
        n = len(self.ts)
        if not (len(self.can_id) == len(self.flags) == len(self.data) == n):
            raise ValueError("frame columns differ in length")

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def lengths(self) -> npt.NDArray[np.int32]:
        offsets = np.frombuffer(
            self.data.buffers()[1], np.int32, len(self.data) + 1, self.data.offset * 4
        )
        return np.diff(offsets).astype(np.int32)

    def to_table(self, bus: pa.Array | str, topic: pa.Array | None = None) -> pa.Table:
        """The ``frames`` table; ``bus`` is one name for all frames or a string array per frame,
        ``topic`` a string array per frame (None: all null, frames that came without one)."""
        n = len(self)
        cid = self.can_id
        bus_col = (
            pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([bus])).cast(
                pa.string()
            )
            if isinstance(bus, str)
            else bus
        )
        cols = [
            pa.array(self.ts, pa.int64()),
            bus_col,
            pa.array(
                np.where(cid & CAN_EFF_FLAG, cid & CAN_EFF_MASK, cid & 0x7FF).astype(np.uint32)
            ),
            pa.array((cid & CAN_EFF_FLAG) != 0),
            pa.array((cid & CAN_RTR_FLAG) != 0),
            pa.array((cid & CAN_ERR_FLAG) != 0),
            pa.array((self.flags & FLAG_FD) != 0),
            pa.array((self.flags & FLAG_BRS) != 0),
            pa.array((self.flags & FLAG_ESI) != 0),
            pa.array(self.lengths.astype(np.uint8)),
            self.data.cast(pa.binary()),
            pa.nulls(n, pa.string()) if topic is None else topic,
        ]
        return pa.Table.from_arrays(cols, schema=FRAMES_SCHEMA)

    @classmethod
    def from_table(cls, table: pa.Table) -> FrameColumns:
        """Back from a ``frames`` table (for export and re-publishing)."""
        cid = table.column("id").to_numpy().astype(np.uint32)
        cid = cid | np.where(
            table.column("extended").to_numpy(zero_copy_only=False), CAN_EFF_FLAG, 0
        ).astype(np.uint32)
        cid |= np.where(
            table.column("remote").to_numpy(zero_copy_only=False), CAN_RTR_FLAG, 0
        ).astype(np.uint32)
        cid |= np.where(
            table.column("error").to_numpy(zero_copy_only=False), CAN_ERR_FLAG, 0
        ).astype(np.uint32)
        flags = np.zeros(table.num_rows, np.uint8)
        for name, bit in (("fd", FLAG_FD), ("brs", FLAG_BRS), ("esi", FLAG_ESI)):
            flags |= np.where(table.column(name).to_numpy(zero_copy_only=False), bit, 0).astype(
                np.uint8
            )
        data = (
            table.column("data").combine_chunks() if table.num_rows else pa.array([], pa.binary())
        )
        return cls(table.column("ts").to_numpy().astype(np.int64), cid, flags, data)
