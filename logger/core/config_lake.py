"""``[lake]``: the fleet lake's Iceberg catalog and where its objects are (README, "Fleet lake").

``catalog`` picks the kind: ``sql`` (pyiceberg's SQL catalog on SQLite in ``catalog_dir``, the
default), ``glue`` (AWS Glue, or an S3-compatible test endpoint with ``glue_endpoint``) or
``rest`` (an Iceberg REST catalog at ``uri``). Credentials never sit in the file: ``token_env``,
``credential_env``, ``access_key_env`` / ``secret_key_env`` name environment variables; without
them the usual AWS chain applies. The lake's bucket, endpoint, region and prefix default to
``[upload]``'s (filled in by :mod:`logger.core.config_parse_lake`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from logger.core.errors import ConfigError

__all__ = ["CATALOG_KINDS", "DEFAULT_NAMESPACE", "CatalogKind", "LakeConfig", "lake_prefix"]

CatalogKind = Literal["sql", "glue", "rest"]
CATALOG_KINDS: tuple[CatalogKind, ...] = ("sql", "glue", "rest")
DEFAULT_NAMESPACE = "fleet"
#: The keys that belong to one catalog kind only (``warehouse``: REST and Glue).
KIND_KEYS: dict[str, tuple[CatalogKind, ...]] = {
    "catalog_dir": ("sql",),
    "uri": ("rest",),
    "token_env": ("rest",),
    "credential_env": ("rest",),
    "warehouse": ("rest", "glue"),
    "glue_endpoint": ("glue",),
    "glue_region": ("glue",),
}
_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_]+$")
_HTTP = ("http://", "https://")


def lake_prefix(template: str) -> str:
    """The fixed part of an upload key template before its first placeholder, up to the last
    ``/``: where the lake's keys start in the bucket (``""`` for the default layout)."""
    fixed = template.split("{", 1)[0]
    return fixed[: fixed.rfind("/") + 1]


@dataclass(frozen=True)
class LakeConfig:
    """``[lake]``. ``bucket`` or ``dir`` (a local directory in the lake layout) says where the
    objects are; neither here means the command line names one."""

    catalog: CatalogKind = "sql"
    catalog_dir: Path | None = None  # sql: catalog.db and warehouse/
    uri: str | None = None  # rest
    warehouse: str | None = None  # rest, glue: where new tables' metadata goes
    token_env: str | None = None  # rest: a bearer token in this variable
    credential_env: str | None = None  # rest: OAuth2 client credentials "id:secret"
    glue_endpoint: str | None = None  # glue: an S3-compatible endpoint instead of AWS
    glue_region: str | None = None  # glue: default the lake's region
    namespace: str = DEFAULT_NAMESPACE
    bucket: str | None = None
    dir: Path | None = None
    endpoint: str | None = None
    region: str | None = None
    prefix: str = ""
    access_key_env: str | None = None
    secret_key_env: str | None = None

    def __post_init__(self) -> None:
        if self.catalog not in CATALOG_KINDS:
            raise ConfigError(
                "lake.catalog", f"expected one of {list(CATALOG_KINDS)}, got {self.catalog!r}"
            )
        for name, kinds in KIND_KEYS.items():
            if getattr(self, name) is not None and self.catalog not in kinds:
                raise ConfigError(
                    f"lake.{name}",
                    f"only for catalog = {' or '.join(repr(k) for k in kinds)} "
                    f"(this one is {self.catalog!r})",
                )
        if self.catalog == "sql" and self.catalog_dir is None:
            raise ConfigError("lake.catalog_dir", "is required for catalog = 'sql'")
        if self.catalog == "rest" and not self.uri:
            raise ConfigError("lake.uri", "is required for catalog = 'rest'")
        for name in ("uri", "glue_endpoint", "endpoint"):
            value = getattr(self, name)
            if value is not None and not value.startswith(_HTTP):
                raise ConfigError(f"lake.{name}", f"expected http[s]://host[:port], got {value!r}")
        if self.token_env is not None and self.credential_env is not None:
            raise ConfigError("lake.credential_env", "give token_env or credential_env, not both")
        if (self.access_key_env is None) != (self.secret_key_env is None):
            missing = "secret_key_env" if self.secret_key_env is None else "access_key_env"
            raise ConfigError(
                f"lake.{missing}", "give both access_key_env and secret_key_env, or neither"
            )
        if not _NAMESPACE_RE.match(self.namespace):
            raise ConfigError(
                "lake.namespace", f"letters, digits and '_' only, got {self.namespace!r}"
            )
        if self.bucket is not None and self.dir is not None:
            raise ConfigError("lake.dir", "the lake is a bucket or a local directory, not both")
        if self.bucket == "":
            raise ConfigError("lake.bucket", "is empty")
