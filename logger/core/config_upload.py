"""``[upload]``: forwarding sealed store files to S3-compatible storage (DESIGN, "Upload").

Credentials never sit in the file: ``access_key_env`` / ``secret_key_env`` name environment
variables, ``profile`` an AWS profile; without them boto3's usual chain (``AWS_ACCESS_KEY_ID``, ...)
applies. The object key is a template over :data:`PLACEHOLDERS`; one that could give two files
the same key is refused.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from logger.core.errors import ConfigError

__all__ = ["DEFAULT_PREFIX", "KEY_TAIL", "MIN_PART_SIZE", "PLACEHOLDERS", "UploadConfig"]

#: What a key template may name.
PLACEHOLDERS = ("vin", "exchange", "table", "date", "hour", "first_ns", "last_ns", "seq")
#: The fleet lake's layout (DESIGN, "The fleet lake"): the prefix, then :data:`KEY_TAIL`.
DEFAULT_PREFIX = "vehicle={vin}/exchange={exchange}"
KEY_TAIL = "{table}/date={date}/hour={hour}/{first_ns}-{last_ns}-{seq}.parquet"
#: S3's smallest multipart part (except the last).
MIN_PART_SIZE = 5 << 20
#: Placeholders without which two files of one exchange could share a key: ``seq`` numbers an
#: exchange's files, ``first_ns`` and ``table`` keep a store that started over apart.
_UNIQUE = ("table", "first_ns", "seq")

Mode = Literal["direct", "aggregate"]
Order = Literal["oldest", "newest"]
OnFull = Literal["block", "drop_oldest"]
#: Where the bytes are sent from: a child process at lower priority (``nice``), so that the
#: upload's hashing and HTTP work never competes with capture for the interpreter, or threads of
#: the service's own process (one process less, for a small machine or a debugger).
TransferKind = Literal["process", "thread"]


def template_fields(template: str, key: str) -> set[str]:
    """The placeholders of ``template``; a malformed or unknown one is a ConfigError at ``key``."""
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(key, f"malformed template {template!r}: {exc}") from exc
    for _text, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            raise ConfigError(
                key, f"unknown placeholder {{{name}}} (known: {', '.join(PLACEHOLDERS)})"
            )
        names.add(name)
    return names


@dataclass(frozen=True)
class UploadConfig:
    """``[upload]``; ``key`` (when given) replaces ``prefix`` + the default tail."""

    bucket: str
    endpoint: str | None = None
    region: str | None = None
    access_key_env: str | None = None
    secret_key_env: str | None = None
    profile: str | None = None
    prefix: str = DEFAULT_PREFIX
    key: str | None = None
    mode: Mode = "direct"
    max_records: int = 1_000_000
    max_bytes: int = 128 << 20
    interval_s: float = 3600.0
    part_size: int = 8 << 20
    max_bandwidth: int | None = None  # bytes per second
    order: Order = "oldest"
    on_full: OnFull = "block"
    state_dir: Path | None = None  # default: <parquet.dir>/.upload
    concurrency: int = 8
    timeout_s: float = 30.0
    retry_max_s: float = 60.0
    transfer: TransferKind = "process"
    nice: int = 10  # the transfer process's niceness, added to the service's (0..19)

    def __post_init__(self) -> None:
        if not self.bucket:
            raise ConfigError("upload.bucket", "is required")
        if self.endpoint is not None and not self.endpoint.startswith(("http://", "https://")):
            raise ConfigError(
                "upload.endpoint", f"expected http[s]://host[:port], got {self.endpoint!r}"
            )
        if (self.access_key_env is None) != (self.secret_key_env is None):
            missing = (
                "upload.secret_key_env" if self.secret_key_env is None else "upload.access_key_env"
            )
            raise ConfigError(missing, "give both access_key_env and secret_key_env, or neither")
        if self.profile is not None and self.access_key_env is not None:
            raise ConfigError("upload.profile", "give either profile or access_key_env, not both")
        where = "upload.key" if self.key is not None else "upload.prefix"
        names = template_fields(self.template, where)
        missing_names = [n for n in _UNIQUE if n not in names]
        if missing_names:
            raise ConfigError(
                where,
                f"two files could map to one key: the template lacks "
                f"{', '.join('{' + n + '}' for n in missing_names)}",
            )
        if self.part_size < MIN_PART_SIZE:
            raise ConfigError("upload.part_size", f"must be at least 5MB, got {self.part_size}")
        for name in ("max_records", "max_bytes", "concurrency"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"upload.{name}", f"must be at least 1, got {getattr(self, name)}"
                )
        for name in ("interval_s", "timeout_s", "retry_max_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"upload.{name.removesuffix('_s')}", "must be positive")
        if not 0 <= self.nice <= 19:
            raise ConfigError("upload.nice", f"must be 0..19, got {self.nice}")
        if self.max_bandwidth is not None and self.max_bandwidth < 1:
            raise ConfigError("upload.max_bandwidth", "must be positive")

    @property
    def template(self) -> str:
        """The whole object key template."""
        if self.key is not None:
            return self.key
        prefix = self.prefix.strip("/")
        return f"{prefix}/{KEY_TAIL}" if prefix else KEY_TAIL

    def check_exchanges(self, exchanges: int) -> None:
        """With more than one exchange, ``{exchange}`` must be in the key (their ``seq`` overlap)."""
        where = "upload.key" if self.key is not None else "upload.prefix"
        if exchanges > 1 and "exchange" not in template_fields(self.template, where):
            raise ConfigError(
                where, "two files could map to one key: several exchanges but no {exchange}"
            )
