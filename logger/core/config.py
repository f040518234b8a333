"""Configuration: one TOML file parsed once into frozen, typed objects.

Every error names the offending key (dotted, with list indices) and the file. Unknown keys are
errors, except inside ``[[bus]]`` where keys we do not know go to the python-can interface.
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from logger.core.address import parse_url
from logger.core.config_lake import LakeConfig
from logger.core.config_upload import UploadConfig
from logger.core.errors import ConfigError

DEFAULT_VIN = "SDVLOG0000DEMO001"
BusOption = str | int | float | bool
MAX_RCVBUF = (1 << 31) - 2
"""The largest kernel receive buffer a socket can have (bytes)."""


class FullOp(enum.IntEnum):
    """What a full Ringbus does with the next message (DESIGN.md, Ringbus)."""

    NONE = 0
    DROP = 1
    RETURN = 2
    FILE = 3


COMPRESSIONS = ("uncompressed", "snappy", "gzip", "brotli", "zstd", "lz4")
ENCRYPTION_TYPES = ("aes_gcm_v1", "aes_gcm_ctr_v1")
_SIZE_UNITS = {"": 1, "B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


#: The units stored times may be rounded to (an exchange's ``time_unit``).
TIME_UNITS = ("ns", "us", "ms")


@dataclass(frozen=True)
class BrokerConfig:
    """Where the MQTT broker is: ``embedded`` starts one inside the service on loopback."""

    url: str = "embedded"
    embedded_port: int = 1883
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    username: str | None = None
    password_env: str | None = None

    def __post_init__(self) -> None:
        if self.url != "embedded" and not re.match(r"^mqtts?://[^/:]+(:\d+)?/?$", self.url):
            raise ConfigError(
                "broker.url", f"expected 'embedded' or mqtt[s]://host[:port], got {self.url!r}"
            )
        if not 0 <= self.embedded_port <= 65535:
            raise ConfigError(
                "broker.embedded_port",
                f"must be 0..65535 (0: any free port), got {self.embedded_port}",
            )

    @property
    def embedded(self) -> bool:
        return self.url == "embedded"

    @property
    def tls(self) -> bool:
        return self.url.startswith("mqtts://")

    @property
    def host(self) -> str:
        return (
            "127.0.0.1" if self.embedded else self.url.split("://", 1)[1].split(":")[0].rstrip("/")
        )

    @property
    def port(self) -> int:
        if self.embedded:
            return self.embedded_port
        rest = self.url.split("://", 1)[1].rstrip("/")
        if ":" in rest:
            return int(rest.rsplit(":", 1)[1])
        return 8883 if self.tls else 1883


@dataclass(frozen=True)
class BusConfig:
    """One CAN bus read by the gateway; ``options`` go to the python-can interface.

    ``rcvbuf``: a ``socketcan`` bus's kernel receive buffer in bytes (None: the gateway's
    default, :data:`hw.socketcan_socket.DEFAULT_RCVBUF`).
    """

    name: str
    interface: str | None = None
    channel: str | None = None
    replay: Path | None = None
    pace: Literal["realtime", "fast"] = "realtime"
    options: Mapping[str, BusOption] = field(default_factory=dict)
    rcvbuf: int | None = None

    def __post_init__(self) -> None:
        if (self.interface is None) == (self.replay is None):
            raise ConfigError(
                "bus.interface", f"bus {self.name!r}: give exactly one of 'interface' or 'replay'"
            )
        if self.rcvbuf is not None:
            if self.interface != "socketcan":
                raise ConfigError(
                    "bus.rcvbuf",
                    f"bus {self.name!r}: only a socketcan bus has a kernel receive buffer",
                )
            if isinstance(self.rcvbuf, bool) or not 1 <= self.rcvbuf <= MAX_RCVBUF:
                raise ConfigError(
                    "bus.rcvbuf",
                    f"bus {self.name!r}: must be 1 byte to 2 GB (like 262144 or '32MB'), "
                    f"got {self.rcvbuf!r}",
                )


@dataclass(frozen=True)
class GatewayConfig:
    topic: str = "vehicle/{vin}/canp/{bus}"
    batch_frames: int = 256
    batch_ms: int = 10
    qos: int = 1
    buffer_frames: int = 100_000  # per bus, while the broker is away; beyond it frames are dropped
    # Decoded signals as SPI batches beside the CANP ones (logger.gateway.spi_publisher).
    spi: bool = False
    spi_catalog: Path | None = None  # a catalog .toml, or a DBC (catalog generated in memory)
    spi_dbc: Path | None = None  # decodes the frames; default: spi_catalog when it is a DBC
    spi_topic: str = "vehicle/{vin}/spi/{source}"
    spi_mode: Literal["change", "interval"] = "change"
    spi_interval_ms: int = 100

    def __post_init__(self) -> None:
        if self.batch_frames < 1:
            raise ConfigError(
                "gateway.batch_frames", f"must be at least 1, got {self.batch_frames}"
            )
        if self.batch_ms < 0:
            raise ConfigError("gateway.batch_ms", f"must be 0 or more, got {self.batch_ms}")
        if self.buffer_frames < 1:
            raise ConfigError(
                "gateway.buffer_frames", f"must be at least 1, got {self.buffer_frames}"
            )
        if self.spi_mode not in ("change", "interval"):
            raise ConfigError(
                "gateway.spi_mode", f"expected 'change' or 'interval', got {self.spi_mode!r}"
            )
        if self.spi_interval_ms < 1:
            raise ConfigError(
                "gateway.spi_interval_ms", f"must be at least 1, got {self.spi_interval_ms}"
            )
        if self.spi and self.spi_catalog is None and self.spi_dbc is None:
            raise ConfigError(
                "gateway.spi_catalog", "required when gateway.spi = true (or give gateway.spi_dbc)"
            )


@dataclass(frozen=True)
class RingbusConfig:
    cap: int = 10000
    full_op: FullOp = FullOp.RETURN
    flush_ms: int = 1000

    def __post_init__(self) -> None:
        if self.cap < 1:
            raise ConfigError("ringbus.cap", f"must be at least 1, got {self.cap}")
        if self.flush_ms < 1:
            raise ConfigError("ringbus.flush_ms", f"must be at least 1, got {self.flush_ms}")


@dataclass(frozen=True)
class ExchangeConfig:
    """One data path: a topic filter, a stream plugin, a Ringbus."""

    name: str = "raw"
    topic: str = "vehicle/#"
    stream: str = "raw"
    qos: int = 1
    dbc: Path | None = None
    ringbus: RingbusConfig = RingbusConfig()
    receive_maximum: int = 65535
    #: The resolution times are stored at (``ns``, ``us``, ``ms``); None: the stream's default.
    time_unit: str | None = None

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ConfigError("exchange.name", f"{self.name!r} is not a valid directory name")
        if self.qos not in (0, 1):
            raise ConfigError(f"exchange[{self.name}].qos", f"must be 0 or 1, got {self.qos}")
        if not 1 <= self.receive_maximum <= 65535:
            raise ConfigError(f"exchange[{self.name}].receive_maximum", "must be 1..65535")
        if self.time_unit is not None and self.time_unit not in TIME_UNITS:
            raise ConfigError(
                f"exchange[{self.name}].time_unit",
                f"must be one of {', '.join(TIME_UNITS)}, got {self.time_unit!r}",
            )


@dataclass(frozen=True)
class EncryptionConfig:
    key_id: str
    key_file: Path | None = None
    key_env: str | None = None
    type: str = "aes_gcm_v1"

    def __post_init__(self) -> None:
        if (self.key_file is None) == (self.key_env is None):
            raise ConfigError("encryption.key_file", "give exactly one of 'key_file' or 'key_env'")
        if self.type not in ENCRYPTION_TYPES:
            raise ConfigError(
                "parquet.encryption.type", f"must be one of {ENCRYPTION_TYPES}, got {self.type!r}"
            )


@dataclass(frozen=True)
class ParquetConfig:
    dir: Path = Path("data")
    compress: str = "zstd"
    file_count: int = 100000
    file_size: int = 10 << 30
    encryption: EncryptionConfig | None = None
    row_group_rows: int = 65536

    def __post_init__(self) -> None:
        if self.compress not in COMPRESSIONS:
            raise ConfigError(
                "parquet.compress", f"must be one of {COMPRESSIONS}, got {self.compress!r}"
            )
        if self.file_count < 1:
            raise ConfigError("parquet.file_count", f"must be at least 1, got {self.file_count}")
        if self.file_size < 1:
            raise ConfigError("parquet.file_size", f"must be positive, got {self.file_size}")


#: The default ``[limits] memory``: what the rings and writers may hold of captured messages.
DEFAULT_MEMORY = 32 << 20


@dataclass(frozen=True)
class LimitsConfig:
    """``[limits]``: ``memory`` is the bytes of captured messages the service holds at most (its
    rings plus the batches being written), split evenly among the exchanges."""

    memory: int = DEFAULT_MEMORY

    def __post_init__(self) -> None:
        if self.memory < 1 << 20:
            raise ConfigError("limits.memory", f"must be at least 1MB, got {self.memory} bytes")

    def per_exchange(self, exchanges: int) -> int:
        """The share of ``memory`` of each of ``exchanges`` exchanges."""
        return self.memory // max(1, exchanges)


@dataclass(frozen=True)
class QueryConfig:
    url: str = "tcp://127.0.0.1:10000"
    max_clients: int = 4  # answers computed at once; more clients wait their turn

    def __post_init__(self) -> None:
        try:
            parse_url(self.url)
        except ValueError as exc:
            raise ConfigError("query.url", str(exc)) from exc
        if self.max_clients < 1:
            raise ConfigError("query.max_clients", f"must be at least 1, got {self.max_clients}")


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class HttpConfig:
    """The HTTP API (``[http]``): on loopback by default; anywhere else only with a bearer token
    (``token_env`` names the variable holding it, or ``token_file`` the file). With ``tls_cert``
    and ``tls_key`` (PEM files) it serves HTTPS."""

    listen: str = "127.0.0.1:8080"
    token_env: str | None = None
    token_file: Path | None = None
    max_rows: int = 1_000_000  # per answer
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def __post_init__(self) -> None:
        host, sep, port = self.listen.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ConfigError("http.listen", f"expected HOST:PORT, got {self.listen!r}")
        if not self.loopback and self.token_env is None and self.token_file is None:
            raise ConfigError(
                "http.token_env",
                f"listening on {self.listen} (not loopback) needs a token: set token_env or "
                "token_file",
            )
        if self.max_rows < 1:
            raise ConfigError("http.max_rows", f"must be at least 1, got {self.max_rows}")
        if (self.tls_cert is None) != (self.tls_key is None):
            missing = "http.tls_key" if self.tls_key is None else "http.tls_cert"
            raise ConfigError(missing, "HTTPS needs both tls_cert and tls_key")

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def loopback(self) -> bool:
        return self.host in _LOOPBACK


@dataclass(frozen=True)
class Config:
    vin: str = DEFAULT_VIN
    broker: BrokerConfig = BrokerConfig()
    buses: tuple[BusConfig, ...] = ()
    gateway: GatewayConfig = GatewayConfig()
    exchanges: tuple[ExchangeConfig, ...] = (ExchangeConfig(),)
    parquet: ParquetConfig = ParquetConfig()
    query: QueryConfig = QueryConfig()
    limits: LimitsConfig = LimitsConfig()
    http: HttpConfig | None = None
    upload: UploadConfig | None = None
    lake: LakeConfig | None = None
    source: Path | None = None

    def __post_init__(self) -> None:
        names = [e.name for e in self.exchanges]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ConfigError("exchange.name", f"duplicate exchange names {sorted(dup)}")
        if self.upload is not None:
            self.upload.check_exchanges(len(self.exchanges))
            if self.upload.mode == "aggregate" and self.parquet.encryption is not None:
                raise ConfigError(
                    "upload.mode",
                    "'aggregate' cannot compact encrypted files (parquet.encryption is set): "
                    "use 'direct', which uploads them as they are, still encrypted",
                    self.source,
                )

    def exchange(self, name: str) -> ExchangeConfig:
        for ex in self.exchanges:
            if ex.name == name:
                return ex
        raise ConfigError("exchange", f"no exchange named {name!r}", self.source)


def parse_size(text: str | int, key: str) -> int:
    """``"10GB"`` → bytes (units B, KB, MB, GB, TB, powers of 1024)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?B?)\s*", str(text).upper())
    if not m:
        raise ConfigError(key, f"expected a size like '512MB', got {text!r}")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])


def load_config(path: Path | str) -> Config:
    """Read and validate a TOML configuration file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError("-", f"cannot read: {exc.strerror or exc}", path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("-", f"not valid TOML: {exc}", path) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("-", "not UTF-8 text", path) from exc
    return parse_config(data, source=path)


def parse_config(data: Mapping[str, Any], source: Path | None = None) -> Config:
    """Validate a parsed TOML document; errors name the key and ``source``."""
    from logger.core.config_parse import build_config  # noqa: PLC0415 - keeps this module the model only

    try:
        return build_config(data, source)
    except ConfigError as exc:
        if exc.file is None and source is not None:
            raise ConfigError(exc.key, exc.problem, source) from exc
        raise
