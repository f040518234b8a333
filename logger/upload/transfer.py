"""Where an upload's bytes go out from: the seam between the uploader (which decides what to
upload, keeps the ledger and the leases) and the S3 requests themselves.

:class:`Transfer` is what the uploader asks of the bucket. :data:`TRANSFERS` maps ``[upload]
transfer`` to an implementation:

- ``"process"`` (:class:`~logger.upload.transfer_process.ProcessTransfer`): a child process at
  ``nice`` priority hashes the files and runs the requests, so that boto3's Python work never
  holds the capture's interpreter lock, and the capture wins the CPU when both want it;
- ``"thread"`` (:class:`LocalTransfer`): the same requests from the uploader's own threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Protocol

from logger.core.config_upload import TransferKind, UploadConfig
from logger.upload.client import Remote, S3Target
from logger.upload.digest import digests_of
from logger.upload.throttle import Throttle, ThrottledFile
from logger.upload.transfer_process import ProcessTransfer

__all__ = ["TRANSFERS", "LocalTransfer", "Transfer", "open_transfer"]


class Transfer(Protocol):
    """The bucket's operations the uploader uses; each failure is an
    :class:`~logger.upload.client.UploadError`, a file that is gone a ``FileNotFoundError``."""

    def digests(self, path: Path) -> tuple[bytes, str]:
        """SHA-256 (bytes) and MD5 (hex: what S3 gives as a single PUT's ETag), one read."""

    def head(self, key: str) -> Remote | None: ...

    def put_file(
        self, key: str, path: Path, size: int, sha256: bytes, meta: Mapping[str, str]
    ) -> str:
        """Store the file under ``key`` (at ``max_bandwidth``); returns the ETag."""

    def create_multipart(self, key: str, sha256: str, meta: Mapping[str, str]) -> str: ...

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str: ...

    def list_parts(self, key: str, upload_id: str) -> dict[int, str] | None: ...

    def complete_multipart(self, key: str, upload_id: str, etags: list[str]) -> str: ...

    def abort_multipart(self, key: str, upload_id: str) -> None: ...

    def multipart_uploads(self, prefix: str) -> list[tuple[str, str]]: ...

    def close(self) -> None:
        """End what this transfer started; calls under way end first or fail."""


class LocalTransfer(S3Target):
    """The requests from the calling threads of this process."""

    def __init__(self, cfg: UploadConfig, source: Path | None = None) -> None:
        super().__init__(cfg, source)
        self._closed = threading.Event()
        self._throttle = Throttle(cfg.max_bandwidth, self._closed) if cfg.max_bandwidth else None

    def digests(self, path: Path) -> tuple[bytes, str]:
        return digests_of(path)

    def put_file(
        self, key: str, path: Path, size: int, sha256: bytes, meta: Mapping[str, str]
    ) -> str:
        body: IO[bytes] = ThrottledFile(path, self._throttle) if self._throttle else path.open("rb")
        with body:
            return self.put(key, body, size, sha256, meta)

    def close(self) -> None:
        self._closed.set()


#: ``[upload] transfer`` → how the transfer is made.
TRANSFERS: dict[TransferKind, Callable[[UploadConfig, Path | None], Transfer]] = {
    "process": ProcessTransfer,
    "thread": LocalTransfer,
}


def open_transfer(cfg: UploadConfig, source: Path | None = None) -> Transfer:
    """The transfer ``cfg`` asks for; a bad credential setting is a ConfigError here."""
    return TRANSFERS[cfg.transfer](cfg, source)
