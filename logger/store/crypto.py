"""Parquet modular encryption for the store (``pyarrow.parquet.encryption``).

Files are encrypted uniformly (footer and every column) with the master key named by
``[parquet.encryption] key_id``, through a :class:`pyarrow.parquet.encryption.CryptoFactory`
whose KMS is :class:`KeyRing`, an in-memory client holding master keys by id. Parquet wraps a
fresh data key per file with a key-encryption key (double wrapping); :class:`KeyRing` wraps that
with the master key: ``base64(b"S1" | nonce[16] | kek XOR HMAC-SHA256(master, b"s" | nonce) |
HMAC-SHA256(master, b"t" | nonce | ciphertext)[:16])``, so a wrong master key is detected and
reported as such, never turned into garbage. The footer is encrypted too (magic ``PARE``).

Key text (``key_file`` contents or the ``key_env`` variable), tried in this order:

1. 32, 48 or 64 hex digits (16, 24 or 32 bytes), surrounding whitespace ignored;
2. base64 (standard alphabet, padded) of 16, 24 or 32 bytes, surrounding whitespace ignored;
3. exactly 16, 24 or 32 raw bytes (e.g. ``head -c 32 /dev/urandom > k1.key``), also after
   stripping surrounding whitespace (a text file with a final newline).

Reading a file from plain pyarrow with sdv-logger installed::

    import pyarrow.parquet as pq
    from logger.store.crypto import decryption_properties
    table = pq.read_table(path, decryption_properties=decryption_properties(key, key_id))

or just ``logger.store.crypto.read_table(path, key)``. Without sdv-logger, these lines do it
(``key``: the master key bytes, ``path``: the file)::

    import base64, hashlib, hmac
    import pyarrow.parquet as pq
    import pyarrow.parquet.encryption as pe

    class Kms(pe.KmsClient):
        def __init__(self, key):
            super().__init__()
            self.key = key
        def wrap_key(self, key_bytes, key_id):
            raise NotImplementedError("read only")
        def unwrap_key(self, wrapped, key_id):
            raw = base64.b64decode(wrapped)
            nonce, ct = raw[2:18], raw[18:-16]
            stream = hmac.new(self.key, b"s" + nonce, hashlib.sha256).digest()
            return bytes(a ^ b for a, b in zip(ct, stream))

    factory = pe.CryptoFactory(lambda _: Kms(key))
    props = factory.file_decryption_properties(pe.KmsConnectionConfig())
    table = pq.read_table(path, decryption_properties=props)

(That short client skips the wrong-key check; a wrong key then fails inside Parquet's own
AES-GCM check instead, still never yielding garbage.)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe

from logger.core.config import EncryptionConfig
from logger.core.errors import EncryptionError, StoreError, StoreReadError

KEY_LENGTHS = (16, 24, 32)
ALGORITHMS = {"aes_gcm_v1": "AES_GCM_V1", "aes_gcm_ctr_v1": "AES_GCM_CTR_V1"}
_WRAP_VERSION = b"S1"
_NONCE = 16
_TAG = 16
_HEX_RE = re.compile(rb"^[0-9a-fA-F]+$")
_CACHE_LIFETIME = timedelta(hours=12)
_ENCRYPTION_HINTS = ("decrypt", "encrypt", "gcm")


def parse_key(data: bytes, source: str) -> bytes:
    """The master key in ``data`` (hex, base64 or raw; see the module docstring)."""
    text = data.strip()
    if len(text) in (32, 48, 64) and _HEX_RE.match(text):
        return bytes.fromhex(text.decode("ascii"))
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) in KEY_LENGTHS:
        return decoded
    for raw in (data, text):
        if len(raw) in KEY_LENGTHS:
            return raw
    raise EncryptionError(
        f"{source}: a key must be 16, 24 or 32 raw bytes, 32/48/64 hex digits, or base64 of "
        f"16/24/32 bytes; got {len(data)} bytes that are none of these"
    )


def load_key(cfg: EncryptionConfig) -> bytes:
    """Read the master key named by ``cfg`` from its file or environment variable."""
    if cfg.key_file is not None:
        source = f"key file {cfg.key_file}"
        try:
            data = Path(cfg.key_file).read_bytes()
        except OSError as exc:
            raise EncryptionError(f"{source}: cannot read: {exc.strerror or exc}") from exc
    elif cfg.key_env is not None:
        source = f"environment variable {cfg.key_env}"
        value = os.environb.get(os.fsencode(cfg.key_env))
        if value is None:
            raise EncryptionError(f"{source} is not set (it must hold the key {cfg.key_id!r})")
        data = value
    else:
        raise EncryptionError(f"key {cfg.key_id!r}: give key_file or key_env")
    return parse_key(data, source)


def _stream(master: bytes, nonce: bytes) -> bytes:
    return hmac.new(master, b"s" + nonce, hashlib.sha256).digest()


def _tag(master: bytes, nonce: bytes, ciphertext: bytes) -> bytes:
    return hmac.new(master, b"t" + nonce + ciphertext, hashlib.sha256).digest()[:_TAG]


class KeyRing(pe.KmsClient):  # type: ignore[misc]  # pyarrow has no type information
    """An in-memory KMS: master keys by id; with ``any_id`` one key answers every id."""

    def __init__(self, keys: dict[str, bytes], any_id: bytes | None = None) -> None:
        super().__init__()
        self._keys = dict(keys)
        self._any_id = any_id

    def _master(self, key_id: str) -> bytes:
        if key_id in self._keys:
            return self._keys[key_id]
        if self._any_id is not None:
            return self._any_id
        known = ", ".join(repr(k) for k in sorted(self._keys)) or "none"
        raise EncryptionError(f"encrypted with key id {key_id!r}, but the key given is {known}")

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        master = self._master(master_key_identifier)
        if len(key_bytes) > hashlib.sha256().digest_size:
            raise EncryptionError(f"cannot wrap a {len(key_bytes)}-byte data key")
        nonce = secrets.token_bytes(_NONCE)
        ct = bytes(a ^ b for a, b in zip(key_bytes, _stream(master, nonce), strict=False))
        blob = _WRAP_VERSION + nonce + ct + _tag(master, nonce, ct)
        return base64.b64encode(blob).decode("ascii")

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        master = self._master(master_key_identifier)
        try:
            raw = base64.b64decode(wrapped_key, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise EncryptionError("the file's key material is corrupt (not base64)") from exc
        head, nonce = (
            raw[: len(_WRAP_VERSION)],
            raw[len(_WRAP_VERSION) : len(_WRAP_VERSION) + _NONCE],
        )
        ct, tag = raw[len(_WRAP_VERSION) + _NONCE : -_TAG], raw[-_TAG:]
        if head != _WRAP_VERSION or not ct:
            raise EncryptionError("the file's key material was not written by sdv-logger's KeyRing")
        if not hmac.compare_digest(tag, _tag(master, nonce, ct)):
            raise EncryptionError(f"wrong key for key id {master_key_identifier!r}")
        return bytes(a ^ b for a, b in zip(ct, _stream(master, nonce), strict=False))


def _factory(keys: dict[str, bytes], any_id: bytes | None = None) -> Any:
    def make_client(_config: Any) -> KeyRing:
        return KeyRing(keys, any_id)

    return pe.CryptoFactory(make_client)


def check_key(key: bytes, source: str = "key") -> None:
    if len(key) not in KEY_LENGTHS:
        raise EncryptionError(f"{source}: must be 16, 24 or 32 bytes, got {len(key)}")


def decryption_properties(key: bytes, key_id: str | None = None) -> Any:
    """``FileDecryptionProperties`` for files encrypted with ``key`` (any key id if ``None``)."""
    check_key(key)
    factory = _factory({} if key_id is None else {key_id: key}, key if key_id is None else None)
    config = pe.DecryptionConfiguration(cache_lifetime=_CACHE_LIFETIME)
    return factory.file_decryption_properties(pe.KmsConnectionConfig(), config)


def read_table(path: Path | str, key: bytes, key_id: str | None = None, **kwargs: Any) -> pa.Table:
    """Read an encrypted store file with its master key (``kwargs`` go to ``pq.read_table``)."""
    try:
        return pq.read_table(
            path, decryption_properties=decryption_properties(key, key_id), **kwargs
        )
    except (OSError, pa.ArrowException, EncryptionError) as exc:
        raise read_error(Path(path), exc) from exc


def read_error(path: Path, exc: BaseException, keyed: bool = True) -> StoreError:
    """Translate an exception raised while opening or reading ``path`` into a store error.

    ``keyed`` says whether decryption properties were given.
    """
    if isinstance(exc, EncryptionError):
        return EncryptionError(f"{path}: {exc}")
    if isinstance(exc, FileNotFoundError):
        return StoreReadError(path, "no such file (removed by retention?)")
    message = " ".join(str(exc).split()).replace(
        f"Could not open Parquet input source '{path}': ", ""
    )
    lowered = message.replace(str(path), "<file>").lower()
    if "no decryption found" in lowered or (not keyed and "encrypt" in lowered):
        return EncryptionError(f"{path}: the file is encrypted; a key is needed to read it")
    if any(hint in lowered for hint in _ENCRYPTION_HINTS):
        return EncryptionError(f"{path}: cannot decrypt (wrong key or corrupt file): {message}")
    if isinstance(exc, OSError) and exc.strerror:
        return StoreReadError(path, f"cannot read: {exc.strerror}")
    return StoreReadError(path, f"not a readable Parquet file (truncated or corrupt?): {message}")


class StoreCrypto:
    """Encryption and decryption properties for one configured master key."""

    def __init__(self, key: bytes, key_id: str, type_: str = "aes_gcm_v1") -> None:
        check_key(key, f"key {key_id!r}")
        if type_ not in ALGORITHMS:
            raise EncryptionError(
                f"unknown encryption type {type_!r}, expected {sorted(ALGORITHMS)}"
            )
        self.key_id = key_id
        self._factory = _factory({key_id: key})
        self._kms = pe.KmsConnectionConfig()
        self._encryption = pe.EncryptionConfiguration(
            footer_key=key_id,
            uniform_encryption=True,
            encryption_algorithm=ALGORITHMS[type_],
            double_wrapping=True,
            cache_lifetime=_CACHE_LIFETIME,
            data_key_length_bits=8 * len(key),
        )
        self._decryption = self._factory.file_decryption_properties(
            self._kms, pe.DecryptionConfiguration(cache_lifetime=_CACHE_LIFETIME)
        )

    @classmethod
    def from_config(cls, cfg: EncryptionConfig) -> StoreCrypto:
        return cls(load_key(cfg), cfg.key_id, cfg.type)

    def encryption_properties(self) -> Any:
        """Fresh ``FileEncryptionProperties`` (a new data key) for one file."""
        try:
            return self._factory.file_encryption_properties(self._kms, self._encryption)
        except (OSError, pa.ArrowException) as exc:
            raise EncryptionError(
                f"cannot set up encryption with key {self.key_id!r}: {exc}"
            ) from exc

    def decryption_properties(self) -> Any:
        """``FileDecryptionProperties`` for this key (plaintext files are read too)."""
        return self._decryption
