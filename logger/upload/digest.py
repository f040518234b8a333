"""A file's SHA-256 and MD5 in one read (the MD5 is what S3 gives as a single PUT's ETag)."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["digests_of"]

_CHUNK = 1 << 20


def digests_of(path: Path) -> tuple[bytes, str]:
    """The file's SHA-256 (bytes) and MD5 (hex)."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return sha.digest(), md5.hexdigest()
