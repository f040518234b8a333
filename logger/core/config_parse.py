"""TOML document → :class:`logger.core.config.Config`, with errors naming the dotted key."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from logger.core.config import (
    MAX_RCVBUF,
    BrokerConfig,
    BusConfig,
    BusOption,
    Config,
    EncryptionConfig,
    ExchangeConfig,
    FullOp,
    GatewayConfig,
    HttpConfig,
    LimitsConfig,
    ParquetConfig,
    QueryConfig,
    RingbusConfig,
    parse_size,
)
from logger.core.errors import ConfigError
from logger.core.stream_ids import BUILTIN_STREAMS

T = TypeVar("T")
_STREAM_NAMES = {sid: name for name, sid in BUILTIN_STREAMS.items()}


class Section:
    """A TOML table being read; remembers what was consumed so leftovers can be reported."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(path, f"expected a table, got {type(data).__name__}")
        self.data: Mapping[str, Any] = data
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str, kind: type[T], default: T, *aliases: str) -> T:
        present = [n for n in (name, *aliases) if n in self.data]
        if len(present) > 1:
            raise ConfigError(self.key(name), f"given twice (as {' and '.join(present)})")
        if not present:
            return default
        self.used.add(present[0])
        value = self.data[present[0]]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(
                self.key(present[0]),
                f"expected {kind.__name__}, got {type(value).__name__} {value!r}",
            )
        return value

    def opt(self, name: str, kind: type[T]) -> T | None:
        if name not in self.data:
            return None
        default: T = self.data[name]
        return self.get(name, kind, default)

    def path_opt(self, name: str) -> Path | None:
        value = self.opt(name, str)
        return None if value is None else Path(value)

    def choice(self, name: str, options: Mapping[str | int, T], default: T, *aliases: str) -> T:
        raw: object = self.get(name, object, None, *aliases)
        if raw is None:
            return default
        if isinstance(raw, str | int) and not isinstance(raw, bool) and raw in options:
            return options[raw]
        names = sorted({str(k) for k in options})
        given = next(n for n in (name, *aliases) if n in self.data)
        raise ConfigError(self.key(given), f"expected one of {names}, got {raw!r}")

    def sub(self, name: str) -> Section:
        self.used.add(name)
        return Section(self.data.get(name, {}), self.key(name))

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(
                self.key(unknown[0]), f"unknown key (unknown here: {', '.join(unknown)})"
            )

    def guarded(self, build: Callable[[], T]) -> T:
        """Run a dataclass constructor, prefixing its ConfigError key with this section's path."""
        try:
            return build()
        except ConfigError as exc:
            if not self.path or exc.key.startswith(self.path + "."):
                raise
            raise ConfigError(self.key(exc.key.rsplit(".", 1)[-1]), exc.problem) from exc


def _broker(s: Section) -> BrokerConfig:
    cfg = s.guarded(
        lambda: BrokerConfig(
            url=s.get("url", str, BrokerConfig.url),
            embedded_port=s.get("embedded_port", int, BrokerConfig.embedded_port),
            tls_ca=s.path_opt("tls_ca"),
            tls_cert=s.path_opt("tls_cert"),
            tls_key=s.path_opt("tls_key"),
            username=s.opt("username", str),
            password_env=s.opt("password_env", str),
        )
    )
    s.finish()
    return cfg


def _bus(s: Section) -> BusConfig:
    name = s.get("name", str, "")
    if not name:
        raise ConfigError(s.key("name"), "every [[bus]] needs a name")
    pace = s.choice("pace", {"realtime": "realtime", "fast": "fast"}, "realtime")
    known = {"name", "interface", "channel", "replay", "pace", "rcvbuf"}
    options: dict[str, BusOption] = {}
    for k, v in s.data.items():
        if k in known:
            continue
        if not isinstance(v, str | int | float | bool):
            raise ConfigError(
                s.key(k), f"interface option must be a scalar, got {type(v).__name__}"
            )
        options[k] = v
    return s.guarded(
        lambda: BusConfig(
            name=name,
            interface=s.opt("interface", str),
            channel=s.opt("channel", str),
            replay=s.path_opt("replay"),
            pace=pace,  # type: ignore[arg-type]
            options=options,
            rcvbuf=_rcvbuf(s),
        )
    )


def _rcvbuf(s: Section) -> int | None:
    """``rcvbuf``: bytes as an integer or a size like ``"256KB"`` / ``"32MB"``."""
    value = s.opt("rcvbuf", object)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(
            s.key("rcvbuf"),
            f"expected bytes as an integer or a size like '32MB', got {type(value).__name__} {value!r}",
        )
    size = parse_size(value, s.key("rcvbuf"))
    if not 1 <= size <= MAX_RCVBUF:
        raise ConfigError(s.key("rcvbuf"), f"must be 1 byte to 2 GB, got {value!r}")
    return size


def _gateway(s: Section) -> GatewayConfig:
    d = GatewayConfig()
    modes: dict[str | int, Literal["change", "interval"]] = {
        "change": "change",
        "interval": "interval",
    }
    cfg = GatewayConfig(
        topic=s.get("topic", str, d.topic),
        batch_frames=s.get("batch_frames", int, d.batch_frames),
        batch_ms=s.get("batch_ms", int, d.batch_ms),
        qos=s.choice("qos", {0: 0, 1: 1}, d.qos),
        buffer_frames=s.get("buffer_frames", int, d.buffer_frames),
        spi=s.get("spi", bool, d.spi),
        spi_catalog=s.path_opt("spi_catalog"),
        spi_dbc=s.path_opt("spi_dbc"),
        spi_topic=s.get("spi_topic", str, d.spi_topic),
        spi_mode=s.choice("spi_mode", modes, d.spi_mode),
        spi_interval_ms=s.get("spi_interval_ms", int, d.spi_interval_ms),
    )
    s.finish()
    return cfg


def _ringbus(s: Section) -> RingbusConfig:
    d = RingbusConfig()
    ops: dict[str | int, FullOp] = {op.name.lower(): op for op in FullOp}
    ops.update({int(op): op for op in FullOp})
    cfg = s.guarded(
        lambda: RingbusConfig(
            cap=s.get("cap", int, d.cap),
            full_op=s.choice("full_op", ops, d.full_op, "fullOp"),
            flush_ms=s.get("flush_ms", int, d.flush_ms),
        )
    )
    s.finish()
    return cfg


def _exchange(s: Section) -> ExchangeConfig:
    d = ExchangeConfig()
    stream = s.get("stream", str, "", "streamType") if "stream" in s.data else ""
    if "streamType" in s.data:
        if stream:
            raise ConfigError(s.key("stream"), "given twice (as stream and streamType)")
        sid = s.get("streamType", int, 0)
        stream = _STREAM_NAMES.get(sid, str(sid))
    cfg = s.guarded(
        lambda: ExchangeConfig(
            name=s.get("name", str, d.name),
            topic=s.get("topic", str, d.topic),
            stream=stream or d.stream,
            qos=s.choice("qos", {0: 0, 1: 1}, d.qos),
            dbc=s.path_opt("dbc"),
            ringbus=_ringbus(s.sub("ringbus")),
            receive_maximum=s.get("receive_maximum", int, d.receive_maximum),
            time_unit=s.opt("time_unit", str),
        )
    )
    s.finish()
    return cfg


def _parquet(s: Section) -> ParquetConfig:
    d = ParquetConfig()
    enc = None
    if "encryption" in s.data:
        e = s.sub("encryption")
        enc = e.guarded(
            lambda: EncryptionConfig(
                key_id=e.get("key_id", str, "") or _missing(e, "key_id"),
                key_file=e.path_opt("key_file"),
                key_env=e.opt("key_env", str),
                type=e.get("type", str, "aes_gcm_v1"),
            )
        )
        e.finish()
    size: object = s.get("file_size", object, d.file_size)
    if not isinstance(size, str | int) or isinstance(size, bool):
        raise ConfigError(s.key("file_size"), f"expected a size like '10GB', got {size!r}")
    cfg = s.guarded(
        lambda: ParquetConfig(
            dir=Path(s.get("dir", str, str(d.dir))),
            compress=s.get("compress", str, d.compress),
            file_count=s.get("file_count", int, d.file_count),
            file_size=parse_size(size, s.key("file_size")),
            encryption=enc,
            row_group_rows=s.get("row_group_rows", int, d.row_group_rows),
        )
    )
    s.finish()
    return cfg


def _limits(s: Section) -> LimitsConfig:
    memory: object = s.get("memory", object, LimitsConfig.memory)
    if not isinstance(memory, str | int) or isinstance(memory, bool):
        raise ConfigError(s.key("memory"), f"expected a size like '64MB', got {memory!r}")
    cfg = s.guarded(lambda: LimitsConfig(memory=parse_size(memory, s.key("memory"))))
    s.finish()
    return cfg


def _http(s: Section) -> HttpConfig:
    d = HttpConfig()
    cfg = s.guarded(
        lambda: HttpConfig(
            listen=s.get("listen", str, d.listen),
            token_env=s.opt("token_env", str),
            token_file=s.path_opt("token_file"),
            max_rows=s.get("max_rows", int, d.max_rows),
            tls_cert=s.path_opt("tls_cert"),
            tls_key=s.path_opt("tls_key"),
        )
    )
    s.finish()
    return cfg


def _missing(s: Section, name: str) -> str:
    raise ConfigError(s.key(name), "is required")


def build_config(data: Mapping[str, Any], source: Path | None) -> Config:
    root = Section(data, "")
    vin = root.get("vin", str, Config.vin)
    broker = _broker(root.sub("broker"))
    buses_raw = root.get("bus", list, [])
    buses = tuple(_bus(Section(b, f"bus[{i}]")) for i, b in enumerate(buses_raw))
    gateway = _gateway(root.sub("gateway"))
    if "exchange" in data:
        ex_raw = root.get("exchange", list, [])
        exchanges = tuple(_exchange(Section(e, f"exchange[{i}]")) for i, e in enumerate(ex_raw))
    else:
        exchanges = Config.exchanges
    parquet = _parquet(root.sub("parquet"))
    q = root.sub("query")
    query = QueryConfig(
        url=q.get("url", str, QueryConfig.url),
        max_clients=q.get("max_clients", int, QueryConfig.max_clients),
    )
    q.finish()
    limits = _limits(root.sub("limits"))
    http = _http(root.sub("http")) if "http" in data else None
    upload = None
    if "upload" in data:
        from logger.core.config_parse_upload import parse_upload  # noqa: PLC0415 - uses Section

        upload = parse_upload(root.sub("upload"))
    lake = None
    if "lake" in data:
        from logger.core.config_parse_lake import parse_lake  # noqa: PLC0415 - uses Section

        lake = parse_lake(root.sub("lake"), parquet, upload)
    root.finish()
    return Config(
        vin=vin,
        broker=broker,
        buses=buses,
        gateway=gateway,
        exchanges=exchanges,
        parquet=parquet,
        query=query,
        limits=limits,
        http=http,
        upload=upload,
        lake=lake,
        source=source,
    )
