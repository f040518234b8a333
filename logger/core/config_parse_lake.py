"""``[lake]`` of a TOML document → :class:`logger.core.config_lake.LakeConfig`, its defaults
taken from ``[parquet]`` (the SQL catalog's directory) and ``[upload]`` (bucket, endpoint,
region, prefix)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from logger.core.config import ParquetConfig
from logger.core.config_lake import CATALOG_KINDS, DEFAULT_NAMESPACE, CatalogKind, LakeConfig
from logger.core.config_lake import lake_prefix as _lake_prefix
from logger.core.config_parse import Section
from logger.core.config_upload import UploadConfig
from logger.core.errors import ConfigError

__all__ = ["CATALOG_DIR", "default_lake", "parse_lake"]

#: The SQL catalog's directory under ``[parquet] dir`` when ``catalog_dir`` is not given.
CATALOG_DIR = ".lake"
_SECRETS = ("token", "credential", "access_key", "secret_key", "secret", "password")


def parse_lake(s: Section, parquet: ParquetConfig, upload: UploadConfig | None) -> LakeConfig:
    for name in _SECRETS:
        if name in s.data:
            raise ConfigError(
                s.key(name),
                "secrets are never written in the file: name environment variables with "
                "token_env / credential_env / access_key_env / secret_key_env",
            )
    kinds: Mapping[str | int, CatalogKind] = {k: k for k in CATALOG_KINDS}
    kind = s.choice("catalog", kinds, "sql")
    catalog_dir = s.path_opt("catalog_dir")
    if catalog_dir is None and kind == "sql":
        catalog_dir = parquet.dir / CATALOG_DIR
    local = s.path_opt("dir")
    bucket = s.opt("bucket", str)
    if upload is not None and bucket is None and local is None:
        bucket = upload.bucket
    cfg = s.guarded(
        lambda: LakeConfig(
            catalog=kind,
            catalog_dir=catalog_dir,
            uri=s.opt("uri", str),
            warehouse=s.opt("warehouse", str),
            token_env=s.opt("token_env", str),
            credential_env=s.opt("credential_env", str),
            glue_endpoint=s.opt("glue_endpoint", str),
            glue_region=s.opt("glue_region", str),
            namespace=s.get("namespace", str, DEFAULT_NAMESPACE),
            bucket=bucket,
            dir=local,
            endpoint=_inherit(s, "endpoint", None if upload is None else upload.endpoint),
            region=_inherit(s, "region", None if upload is None else upload.region),
            prefix=s.get("prefix", str, "" if upload is None else _lake_prefix(upload.template)),
            access_key_env=s.opt("access_key_env", str),
            secret_key_env=s.opt("secret_key_env", str),
        )
    )
    s.finish()
    return cfg


def default_lake(parquet: ParquetConfig, upload: UploadConfig | None) -> LakeConfig:
    """The lake of a configuration without ``[lake]``: every key at its default."""
    empty: dict[str, Any] = {}
    return parse_lake(Section(empty, "lake"), parquet, upload)


def _inherit(s: Section, name: str, default: str | None) -> str | None:
    value = s.opt(name, str)
    return default if value is None else value
