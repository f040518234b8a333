"""What a configuration needs from the machine, checked before any part of the service starts.

:func:`prepare` finds every problem that would otherwise show only once the broker, the channel
or an exchange had started: a store directory that cannot be made or written (a read-only mount,
a path through a regular file), an encryption key that is missing or of the wrong length, an
unknown stream, and whatever a stream plugin refuses (a missing or unreadable DBC, a time unit
the stream does not store, an SPI exchange without a catalog). Each is a :class:`ConfigError`
naming the configuration file and the key, so ``sdvlog run`` prints one line and exits 1.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from logger.core.config import Config, EncryptionConfig, ExchangeConfig
from logger.core.errors import ConfigError, SdvLoggerError
from logger.streams.plugin import StreamPlugin
from logger.streams.registry import PluginRegistry


def prepare(cfg: Config, registry: PluginRegistry) -> dict[str, StreamPlugin]:
    """Check ``cfg`` against this machine; the stream plugin of every exchange, by name."""
    check_store_dir(cfg)
    if cfg.parquet.encryption is not None:
        check_encryption(cfg, cfg.parquet.encryption)
    return {ex.name: make_plugin(cfg, ex, registry) for ex in cfg.exchanges}


def check_store_dir(cfg: Config) -> None:
    """``parquet.dir`` exists (made if need be) and a file can be written in it."""
    directory = Path(cfg.parquet.dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory, prefix=".sdvlog-probe-"):
            pass
    except OSError as exc:
        raise ConfigError("parquet.dir", _why(directory, exc), cfg.source) from exc


def _why(directory: Path, exc: OSError) -> str:
    if exc.errno == errno.EROFS:
        return f"{directory} is on a read-only file system"
    if exc.errno == errno.ENOTDIR or isinstance(exc, (FileExistsError, NotADirectoryError)):
        return f"{directory}: a part of this path is a file, not a directory"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{directory} is not writable by this user (uid {os.getuid()})"
    return f"cannot write in {directory}: {exc.strerror or exc}"


def check_encryption(cfg: Config, enc: EncryptionConfig) -> None:
    """The key can be read and has a valid length."""
    from logger.store.crypto import check_key, load_key  # noqa: PLC0415 - pyarrow's encryption

    key = (
        "parquet.encryption.key_file" if enc.key_file is not None else "parquet.encryption.key_env"
    )
    try:
        check_key(load_key(enc), f"key {enc.key_id!r}")
    except SdvLoggerError as exc:
        raise ConfigError(key, str(exc), cfg.source) from exc


def make_plugin(cfg: Config, ex: ExchangeConfig, registry: PluginRegistry) -> StreamPlugin:
    """The exchange's stream plugin, built; its refusal names the exchange's key."""
    try:
        plugin_cls = registry.get(ex.stream)
    except SdvLoggerError as exc:
        raise ConfigError(f"exchange[{ex.name}].stream", str(exc), cfg.source) from exc
    try:
        return plugin_cls(ex)
    except ConfigError as exc:
        raise ConfigError(exc.key, exc.problem, cfg.source) from exc
    except SdvLoggerError as exc:
        key = f"exchange[{ex.name}].dbc" if ex.dbc is not None else f"exchange[{ex.name}]"
        raise ConfigError(key, str(exc), cfg.source) from exc
    except OSError as exc:
        raise ConfigError(f"exchange[{ex.name}]", f"{exc.strerror or exc}", cfg.source) from exc
