"""Where the lake's objects are: an S3-compatible bucket (boto3 lists it) or a local directory in
the same layout (for engines that cannot reach S3 here, e.g. Spark without its S3 jars).

Credentials are never given here: boto3, pyiceberg (pyarrow's S3 file system) and DuckDB's
httpfs take them from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``) or the
profile, as every S3 client does.
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

__all__ = ["LakeSource"]


@dataclass(frozen=True)
class LakeSource:
    """A bucket (``bucket``, with ``endpoint`` for a non-AWS endpoint) or a directory ``root``."""

    bucket: str | None = None
    endpoint: str | None = None
    region: str = "us-east-1"
    prefix: str = ""
    root: Path | None = None

    def __post_init__(self) -> None:
        if (self.bucket is None) == (self.root is None):
            raise LakeError("the lake is either a bucket or a local directory: give exactly one")

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

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region)

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
        key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        if key and secret:
            props["s3.access-key-id"] = key
            props["s3.secret-access-key"] = secret
        return props
