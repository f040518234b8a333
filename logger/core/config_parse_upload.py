"""``[upload]`` of a TOML document → :class:`logger.core.config_upload.UploadConfig`."""

from __future__ import annotations

from logger.core.config import parse_size
from logger.core.config_parse import Section, _missing
from logger.core.config_upload import UploadConfig
from logger.core.errors import ConfigError

__all__ = ["parse_upload"]

_SECRETS = ("access_key", "secret_key", "aws_access_key_id", "aws_secret_access_key", "secret")


def parse_upload(s: Section) -> UploadConfig:
    for name in _SECRETS:
        if name in s.data:
            raise ConfigError(
                s.key(name),
                "keys are never written in the file: name environment variables with "
                "access_key_env / secret_key_env, or use a profile or the AWS_* variables",
            )
    d = UploadConfig(bucket="-")
    sizes = {n: _size(s, n, getattr(d, n)) for n in ("max_bytes", "part_size")}
    bandwidth = s.opt("max_bandwidth", object)
    cfg = s.guarded(
        lambda: UploadConfig(
            bucket=s.get("bucket", str, "") or _missing(s, "bucket"),
            endpoint=s.opt("endpoint", str),
            region=s.opt("region", str),
            access_key_env=s.opt("access_key_env", str),
            secret_key_env=s.opt("secret_key_env", str),
            profile=s.opt("profile", str),
            prefix=s.get("prefix", str, d.prefix),
            key=s.opt("key", str),
            mode=s.choice("mode", {"direct": "direct", "aggregate": "aggregate"}, d.mode),
            max_records=s.get("max_records", int, d.max_records),
            interval_s=_seconds(s, "interval", d.interval_s),
            max_bandwidth=None
            if bandwidth is None
            else _size(s, "max_bandwidth", bandwidth, per_second=True),
            order=s.choice("order", {"oldest": "oldest", "newest": "newest"}, d.order),
            on_full=s.choice(
                "on_full", {"block": "block", "drop_oldest": "drop_oldest"}, d.on_full
            ),
            state_dir=s.path_opt("state_dir"),
            concurrency=s.get("concurrency", int, d.concurrency),
            timeout_s=_seconds(s, "timeout", d.timeout_s),
            retry_max_s=_seconds(s, "retry_max", d.retry_max_s),
            transfer=s.choice("transfer", {"process": "process", "thread": "thread"}, d.transfer),
            nice=s.get("nice", int, d.nice),
            **sizes,
        )
    )
    s.finish()
    return cfg


def _size(s: Section, name: str, default: object, per_second: bool = False) -> int:
    value: object = s.get(name, object, default)
    if isinstance(value, str) and per_second:
        value = value.strip().removesuffix("/s")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ConfigError(s.key(name), f"expected a size like '8MB', got {value!r}")
    return parse_size(value, s.key(name))


_DURATIONS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(s: Section, name: str, default: float) -> float:
    """A duration: seconds as a number, or a string like ``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"``."""
    value: object = s.get(name, object, default)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        for unit in sorted(_DURATIONS, key=len, reverse=True):
            number = text.removesuffix(unit)
            if number != text:
                try:
                    return float(number) * _DURATIONS[unit]
                except ValueError:
                    break
    raise ConfigError(s.key(name), f"expected a duration like '30s' or '1h', got {value!r}")
