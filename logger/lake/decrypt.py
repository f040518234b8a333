"""Encrypted uploads (Parquet modular encryption) on the fleet side: decrypted at registration.

The engines cannot read a file whose footer is encrypted, and the key stays with whoever owns the
vehicle's data, so ``sdvlog lake register --keys DIR`` (``DIR/<VIN>.key``, the vehicle's master
key in any form :func:`logger.store.crypto.parse_key` takes) decrypts each encrypted object once
with its vehicle's key, writes the plaintext copy beside it under ``decrypted/`` (same layout and
name, same rows, schema and ``sdvlog.*`` metadata; in a bucket stored with server-side encryption,
``AES256``) and registers the copy. The uploaded object is never changed. Without a key the file
is reported and not registered.
"""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from logger.core.errors import EncryptionError, LakeError
from logger.lake.keys import ObjectKey, parse_key
from logger.lake.source import LakeSource
from logger.store.crypto import decryption_properties
from logger.store.crypto import parse_key as parse_master_key

__all__ = ["DECRYPTED", "decrypt_object", "decrypted_key"]

DECRYPTED = "decrypted/"


def decrypted_key(key: str) -> str:
    """Where the plaintext copy of the object ``key`` goes."""
    return DECRYPTED + key


def _read(source: LakeSource, key: str) -> bytes:
    if source.root is not None:
        return (source.root / key).read_bytes()
    assert source.bucket is not None
    body: bytes = source.client().get_object(Bucket=source.bucket, Key=key)["Body"].read()
    return body


def _write(source: LakeSource, key: str, data: bytes) -> None:
    if source.root is not None:
        target = source.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.tmp")
        temp.write_bytes(data)
        temp.replace(target)
        return
    assert source.bucket is not None
    source.client().put_object(
        Bucket=source.bucket, Key=key, Body=data, ServerSideEncryption="AES256"
    )


def decrypt_object(source: LakeSource, obj: ObjectKey, keys_dir: Path) -> ObjectKey:
    """The plaintext copy of the encrypted object ``obj`` (made now), decrypted with the key of
    its vehicle; :class:`LakeError` when there is no key or it is the wrong one."""
    key_file = keys_dir / f"{obj.vehicle}.key"
    try:
        master = parse_master_key(key_file.read_bytes(), f"key file {key_file}")
    except OSError as exc:
        raise LakeError(f"no key for vehicle {obj.vehicle} ({key_file}: {exc.strerror})") from exc
    except EncryptionError as exc:
        raise LakeError(str(exc)) from exc
    try:
        table = pq.read_table(
            io.BytesIO(_read(source, obj.key)), decryption_properties=decryption_properties(master)
        )
    except (OSError, pa.ArrowException, EncryptionError) as exc:
        raise LakeError(f"{obj.key}: cannot decrypt with {key_file}: {exc}") from exc
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    copy = decrypted_key(obj.key)
    _write(source, copy, sink.getvalue())
    parsed = parse_key(copy)
    assert parsed is not None
    return parsed
