"""Upload to S3-compatible storage (``[upload]``): sealed store files, each exactly once, with a
durable ledger; the store's retention guard; ``sdvlog upload`` and its status."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from logger.upload.client import S3Target, UploadError
    from logger.upload.ledger import Ledger
    from logger.upload.standalone import run_upload, upload_status
    from logger.upload.uploader import Uploader

__all__ = ["Ledger", "S3Target", "UploadError", "Uploader", "run_upload", "upload_status"]

__getattr__ = lazy_exports(
    __name__,
    {
        "S3Target": "logger.upload.client",
        "UploadError": "logger.upload.client",
        "Ledger": "logger.upload.ledger",
        "run_upload": "logger.upload.standalone",
        "upload_status": "logger.upload.standalone",
        "Uploader": "logger.upload.uploader",
    },
)
