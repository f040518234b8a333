"""Where the lake's objects are: an S3-compatible bucket (boto3 lists it) or a local directory in
the same layout (for engines that cannot reach S3 here, e.g. Spark without its S3 jars).

Credentials are never given here: boto3, pyiceberg (pyarrow's S3 file system) and DuckDB's
httpfs take them from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``) or the
profile, as every S3 client does, or from the variables ``access_key_env`` / ``secret_key_env``
name (``[lake]``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from logger.core.errors import LakeError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from logger.core.config_lake import LakeConfig

__all__ = ["DEFAULT_REGION", "LakeSource"]

#: The region when none is named (S3-compatible endpoints mostly ignore it).
DEFAULT_REGION = "us-east-1"

_AWS_KEY, _AWS_SECRET = "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"


@dataclass(frozen=True)
class LakeSource:
    """A bucket (``bucket``, with ``endpoint`` for a non-AWS endpoint) or a directory ``root``."""

    bucket: str | None = None
    endpoint: str | None = None
    region: str = DEFAULT_REGION
    prefix: str = ""
    root: Path | None = None
    #: the variables holding the key pair (None: the AWS variables, or boto3's usual chain)
    access_key_env: str | None = None
    secret_key_env: str | None = None

    def __post_init__(self) -> None:
        if (self.bucket is None) == (self.root is None):
            raise LakeError("the lake is either a bucket or a local directory: give exactly one")
        if (self.access_key_env is None) != (self.secret_key_env is None):
            raise LakeError("name both variables of the key pair, or neither")

    @classmethod
    def of(cls, cfg: LakeConfig) -> LakeSource:
        """The objects ``[lake]`` names: its bucket or its local directory ``dir``."""
        if cfg.bucket is None and cfg.dir is None:
            raise LakeError(
                "no lake named: give --bucket or --lake-dir, or bucket or dir in [lake] "
                "(the bucket defaults to [upload]'s)"
            )
        return cls(
            bucket=cfg.bucket,
            endpoint=cfg.endpoint,
            region=cfg.region or DEFAULT_REGION,
            prefix=cfg.prefix,
            root=cfg.dir,
            access_key_env=cfg.access_key_env,
            secret_key_env=cfg.secret_key_env,
        )

    def credentials(self) -> tuple[str, str] | None:
        """The key pair: from the named variables (:class:`LakeError` when one is unset), else
        from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` when both are set, else None."""
        if self.access_key_env is None or self.secret_key_env is None:
            key, secret = os.environ.get(_AWS_KEY), os.environ.get(_AWS_SECRET)
            return (key, secret) if key and secret else None
        key, secret = os.environ.get(self.access_key_env), os.environ.get(self.secret_key_env)
        if not key or not secret:
            named = ((self.access_key_env, key), (self.secret_key_env, secret))
            unset = " and ".join(n for n, v in named if not v)
            raise LakeError(f"the lake's credentials: {unset} not set")
        return key, secret

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None

    def uri(self, key: str) -> str:
        """The address engines read an object by: ``s3://bucket/key`` or an absolute path."""
        if self.bucket is not None:
            return f"s3://{self.bucket}/{key}"
        assert self.root is not None
        return str(self.root.resolve() / key)

    def client(self) -> S3Client:
        import boto3  # noqa: PLC0415 - only the S3 side needs it

        named = self.credentials() if self.access_key_env is not None else None
        key, secret = named or (None, None)
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )

    def keys(self) -> Iterator[str]:
        """Every object key (or file path relative to ``root``) under the prefix."""
        if self.root is not None:
            if not self.root.is_dir():
                raise LakeError(f"lake directory {self.root} does not exist")
            for path in sorted((self.root / self.prefix).rglob("*.parquet")):
                yield path.relative_to(self.root).as_posix()
            return
        assert self.bucket is not None
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            pages = self.client().get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for obj in page.get("Contents", []):
                    yield obj["Key"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise LakeError(f"bucket {self.bucket!r} at {self._where}: {code} {exc}") from exc
        except BotoCoreError as exc:
            raise LakeError(f"bucket {self.bucket!r} at {self._where} unreachable: {exc}") from exc

    @property
    def _where(self) -> str:
        return self.endpoint or "AWS"

    def fileio_properties(self) -> dict[str, str]:
        """pyiceberg FileIO properties for reading the objects' footers."""
        if self.bucket is None:
            return {}
        props = {"s3.region": self.region}
        if self.endpoint:
            props["s3.endpoint"] = self.endpoint
        pair = self.credentials()
        if pair is not None:
            props["s3.access-key-id"], props["s3.secret-access-key"] = pair
        return props
