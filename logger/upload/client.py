"""The S3 side of an upload: one boto3 client, our own retry policy, failures sorted by kind.

botocore's own retries are off (``total_max_attempts = 1``): every attempt is ours to count. A
failure is an :class:`UploadError` whose ``kind`` is one of :data:`KINDS`.
"""

from __future__ import annotations

import base64
import os
import random
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from logger.core.config_upload import UploadConfig
from logger.core.errors import ConfigError, SdvLoggerError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["KINDS", "Backoff", "Remote", "S3Target", "UploadError"]

#: How an attempt can fail: the endpoint cannot be reached, it took too long, it answered 5xx, it
#: asked us to slow down, it refused our credentials, the bucket is missing, any other refusal, or
#: an object of the key holds other bytes.
KINDS = ("unreachable", "timeout", "server", "throttled", "auth", "bucket", "client", "conflict")
_AUTH_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken",
     "ExpiredToken", "AuthorizationHeaderMalformed", "InvalidClientTokenId", "403"}
)  # fmt: skip
_THROTTLE_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "429", "503"}
)
SHA256_META = "sha256"


class UploadError(SdvLoggerError):
    """An upload attempt failed; ``kind`` (one of :data:`KINDS`) says how."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Backoff:
    """Exponential back-off with jitter: the n-th delay is uniform in ``[d/2, d]`` where
    ``d = min(cap, base * 2**n)``."""

    def __init__(self, base_s: float = 0.2, cap_s: float = 60.0, rng: random.Random | None = None):
        self.base_s = base_s
        self.cap_s = cap_s
        self.failures = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        d = min(self.cap_s, self.base_s * 2.0 ** min(self.failures, 30))
        self.failures += 1
        return d / 2 + self._rng.uniform(0, d / 2)

    def reset(self) -> None:
        self.failures = 0


def classify(exc: BaseException) -> str:
    """The kind (:data:`KINDS`) of a boto3 / botocore failure."""
    from botocore import exceptions as bx  # noqa: PLC0415 - boto3 only when uploading

    if isinstance(exc, bx.ClientError):
        err: Mapping[str, Any] = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in ("NoSuchBucket",):
            return "bucket"
        if code in _AUTH_CODES or status == 403:
            return "auth"
        if code in _THROTTLE_CODES or status in (429, 503):
            return "throttled"
        if status >= 500:
            return "server"
        return "client"
    if isinstance(exc, bx.ReadTimeoutError | bx.ConnectTimeoutError):
        return "timeout"
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return "auth"
    if isinstance(exc, bx.BotoCoreError | ConnectionError | OSError):
        return "unreachable"
    return "client"


def describe(kind: str, exc: BaseException, cfg: UploadConfig) -> str:
    """One line naming the problem and what to check."""
    where = cfg.endpoint or "AWS S3"
    if kind == "auth":
        how = (
            f"${cfg.access_key_env} / ${cfg.secret_key_env}"
            if cfg.access_key_env
            else (f"profile {cfg.profile!r}" if cfg.profile else "the AWS_* variables / profile")
        )
        return f"{where} refused our credentials ({exc}): check {how}"
    if kind == "bucket":
        return f"bucket {cfg.bucket!r} does not exist at {where} ({exc}): create it or fix upload.bucket"
    return f"{kind}: {exc}"


class Remote:
    """What is stored under a key: its size and the SHA-256 in its metadata (hex, may be empty)."""

    def __init__(self, size: int, sha256: str) -> None:
        self.size = size
        self.sha256 = sha256

    def matches(self, size: int, sha256: str) -> bool:
        return self.size == size and self.sha256 == sha256


class S3Target:
    """The bucket of ``[upload]``. Credentials come from ``*_env`` variables (a missing one is a
    ConfigError, raised here, before anything starts), a profile, or boto3's usual chain."""

    def __init__(self, cfg: UploadConfig, source: Path | None = None) -> None:
        import boto3  # noqa: PLC0415 - heavy: only when [upload] is configured
        from botocore.config import Config as BotoConfig  # noqa: PLC0415

        self.cfg = cfg
        access: str | None = None
        secret: str | None = None
        if cfg.access_key_env is not None and cfg.secret_key_env is not None:
            for name, env in (
                ("access_key_env", cfg.access_key_env),
                ("secret_key_env", cfg.secret_key_env),
            ):
                if not os.environ.get(env):
                    raise ConfigError(
                        f"upload.{name}", f"environment variable {env} is not set", source
                    )
            access, secret = os.environ[cfg.access_key_env], os.environ[cfg.secret_key_env]
        from botocore.exceptions import ProfileNotFound  # noqa: PLC0415

        try:
            session = boto3.Session(profile_name=cfg.profile) if cfg.profile else boto3.Session()
        except ProfileNotFound as exc:
            where = "AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE, by default ~/.aws/"
            raise ConfigError(
                "upload.profile", f"no profile {cfg.profile!r} in the AWS files ({where})", source
            ) from exc
        config = BotoConfig(
            retries={"total_max_attempts": 1},
            connect_timeout=min(cfg.timeout_s, 10.0),
            read_timeout=cfg.timeout_s,
            max_pool_connections=cfg.concurrency + 2,
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self.client: S3Client = session.client(
            "s3",
            endpoint_url=cfg.endpoint,
            region_name=cfg.region,
            config=config,
            aws_access_key_id=access,
            aws_secret_access_key=secret,
        )
        self._lock = threading.Lock()

    def _call(self, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except Exception as exc:  # botocore raises many classes: sorted by classify()
            kind = classify(exc)
            raise UploadError(kind, describe(kind, exc, self.cfg)) from exc

    def head(self, key: str) -> Remote | None:
        """What is under ``key``, or None when nothing is."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            answer = self.client.head_object(Bucket=self.cfg.bucket, Key=key)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if status == 404 and code in ("404", "NoSuchKey", "NotFound"):
                self._bucket_exists()
                return None
            kind = classify(exc)
            raise UploadError(kind, describe(kind, exc, self.cfg)) from exc
        except Exception as exc:
            kind = classify(exc)
            raise UploadError(kind, describe(kind, exc, self.cfg)) from exc
        meta = answer.get("Metadata", {})
        return Remote(int(answer.get("ContentLength", -1)), meta.get(SHA256_META, ""))

    def _bucket_exists(self) -> None:
        """A HEAD of a missing key says 404 whether or not the bucket exists: ask the bucket."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            self._call(self.client.head_bucket, Bucket=self.cfg.bucket)
        except UploadError as exc:
            cause = exc.__cause__
            if (
                isinstance(cause, ClientError)
                and cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404
            ):
                raise UploadError("bucket", describe("bucket", cause, self.cfg)) from cause
            raise

    def put(
        self, key: str, body: IO[bytes], size: int, sha256: bytes, meta: Mapping[str, str]
    ) -> str:
        """Store ``body`` under ``key``; the endpoint checks it against ``sha256`` (a digest).
        Returns the object's ETag (unquoted)."""
        answer = self._call(
            self.client.put_object,
            Bucket=self.cfg.bucket,
            Key=key,
            Body=body,
            ContentLength=size,
            ContentType="application/vnd.apache.parquet",
            ChecksumSHA256=base64.b64encode(sha256).decode(),
            Metadata={SHA256_META: sha256.hex(), **meta},
        )
        return str(answer.get("ETag", "")).strip('"')

    def create_multipart(self, key: str, sha256: str, meta: Mapping[str, str]) -> str:
        """A new multipart upload of ``key`` with ``sha256`` (hex) in its metadata: its id."""
        answer = self._call(
            self.client.create_multipart_upload,
            Bucket=self.cfg.bucket,
            Key=key,
            ContentType="application/vnd.apache.parquet",
            Metadata={SHA256_META: sha256, **meta},
        )
        return str(answer["UploadId"])

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        """One part; returns its ETag (unquoted)."""
        answer = self._call(
            self.client.upload_part,
            Bucket=self.cfg.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
            ContentLength=len(data),
        )
        return str(answer.get("ETag", "")).strip('"')

    def list_parts(self, key: str, upload_id: str) -> dict[int, str] | None:
        """The parts of an upload (number → ETag), or None when the endpoint knows no such upload."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        parts: dict[int, str] = {}
        marker = 0
        while True:
            try:
                answer = self.client.list_parts(
                    Bucket=self.cfg.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker
                )
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code", "")) == "NoSuchUpload":
                    return None
                kind = classify(exc)
                raise UploadError(kind, describe(kind, exc, self.cfg)) from exc
            except Exception as exc:
                kind = classify(exc)
                raise UploadError(kind, describe(kind, exc, self.cfg)) from exc
            for p in answer.get("Parts", []):
                parts[int(p["PartNumber"])] = str(p["ETag"]).strip('"')
            if not answer.get("IsTruncated"):
                return parts
            marker = int(answer.get("NextPartNumberMarker", 0))

    def complete_multipart(self, key: str, upload_id: str, etags: list[str]) -> str:
        """Complete with parts 1..n of ``etags``; returns the object's ETag (unquoted)."""
        answer = self._call(
            self.client.complete_multipart_upload,
            Bucket=self.cfg.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": i, "ETag": f'"{e}"'} for i, e in enumerate(etags, 1)]
            },
        )
        return str(answer.get("ETag", "")).strip('"')

    def abort_multipart(self, key: str, upload_id: str) -> None:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            self.client.abort_multipart_upload(Bucket=self.cfg.bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) != "NoSuchUpload":
                kind = classify(exc)
                raise UploadError(kind, describe(kind, exc, self.cfg)) from exc
        except Exception as exc:
            kind = classify(exc)
            raise UploadError(kind, describe(kind, exc, self.cfg)) from exc

    def multipart_uploads(self, prefix: str) -> list[tuple[str, str]]:
        """``(key, upload id)`` of every incomplete multipart upload under ``prefix``."""
        out: list[tuple[str, str]] = []
        kwargs: dict[str, str] = {"Bucket": self.cfg.bucket, "Prefix": prefix}
        while True:
            answer = self._call(self.client.list_multipart_uploads, **kwargs)
            out += [(str(u["Key"]), str(u["UploadId"])) for u in answer.get("Uploads", [])]
            if not answer.get("IsTruncated"):
                return out
            kwargs["KeyMarker"] = str(answer.get("NextKeyMarker", ""))
            kwargs["UploadIdMarker"] = str(answer.get("NextUploadIdMarker", ""))
