"""Buses from ``[[bus]]`` configuration, and what one frame costs on the wire.

:func:`open_bus` opens any python-can interface by name (``socketcan``, ``virtual``,
``udp_multicast``, ``pcan``, ``kvaser``, ``slcan``, ... and interfaces that plugins register) with
the section's other keys as keyword options (``bitrate``, ``fd``, ``data_bitrate``,
``receive_own_messages``, ...), or a log replay for ``replay = "file"`` (:mod:`hw.replay`).
python-can's own configuration sources (``~/.canrc``, ``CAN_*`` environment variables) are
ignored: the TOML file is the whole configuration. Frame timestamps are the interface's
(``msg.timestamp``, hardware or kernel time where the interface has it).

Errors name the bus and the interface:

- :class:`~logger.core.errors.ConfigError` for what the configuration must fix: an unknown interface,
  an option the interface refuses, a ``bitrate`` that is not a positive integer.
- :class:`BusError` for what the machine must fix. ``retryable`` is False when the driver is
  missing or unusable (a Python package or vendor library not installed, a kernel without CAN):
  waiting will not help. It is True when the device is missing, down or busy (``can0`` not up yet,
  an adapter unplugged): the gateway keeps retrying those with back-off.

CAN FD: ``fd = true`` asks the interface for FD mode; a ``data_bitrate`` alone implies it. The
bus load estimate (:func:`frame_bits`, :func:`frame_time`) uses ``bitrate`` (default
:data:`DEFAULT_BITRATE`) and ``data_bitrate`` (default :data:`DEFAULT_DATA_BITRATE`).
"""

from __future__ import annotations

import errno
import functools
import logging
from collections.abc import Mapping
from typing import Any

import can
import numpy as np
import numpy.typing as npt
from can.util import dlc2len, len2dlc

from logger.core.config import BusConfig, BusOption
from logger.core.errors import ConfigError, SdvLoggerError

_log = logging.getLogger(__name__)

DEFAULT_BITRATE = 500_000
"""Nominal bit rate assumed for the bus load when ``bitrate`` is not configured (bit/s)."""
DEFAULT_DATA_BITRATE = 2_000_000
"""CAN FD data-phase bit rate assumed when ``data_bitrate`` is not configured (bit/s)."""

# Frame lengths in bits, without dynamic stuff bits (see frame_bits).
_CLASSIC_BASE = 47  # SOF, 11-bit id, RTR, IDE, r0, DLC 4, CRC 15, delimiters, ACK, EOF 7, IFS 3
_CLASSIC_EXTENDED = 67  # the same with SRR, 18 more id bits and r1
_FD_NOMINAL_BASE = 30  # SOF, 11-bit id, RRS, IDE, FDF, res, BRS | CRC delim, ACK 2, EOF 7, IFS 3
_FD_NOMINAL_EXTENDED = 49  # the same with SRR and 18 more id bits
_FD_DATA_SHORT = 32  # ESI, DLC 4, stuff count 4, CRC-17, 6 fixed stuff bits (<= 16 data bytes)
_FD_DATA_LONG = 37  # ESI, DLC 4, stuff count 4, CRC-21, 7 fixed stuff bits (> 16 data bytes)
_FD_SHORT_MAX = 16


class BusError(SdvLoggerError):
    """A CAN bus cannot be opened or read.

    ``retryable`` tells whether trying again later may succeed (a device that is missing or down)
    or not (a driver or library that is not installed, a log file that cannot be parsed).
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def describe(cfg: BusConfig) -> str:
    """How errors and log lines name a bus."""
    if cfg.replay is not None:
        return f"bus {cfg.name!r} (replay of {cfg.replay})"
    channel = f", channel {cfg.channel!r}" if cfg.channel is not None else ""
    return f"bus {cfg.name!r} (interface {cfg.interface!r}{channel})"


def _positive_int(cfg: BusConfig, key: str, default: int) -> int:
    value = cfg.options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(
            f"bus[{cfg.name}].{key}", f"must be a positive integer (bit/s), got {value!r}"
        )
    return value


def bitrates(cfg: BusConfig) -> tuple[int, int]:
    """(nominal, data-phase) bit rates of a bus, from its options or the defaults."""
    return (
        _positive_int(cfg, "bitrate", DEFAULT_BITRATE),
        _positive_int(cfg, "data_bitrate", DEFAULT_DATA_BITRATE),
    )


def wants_fd(options: Mapping[str, BusOption]) -> bool:
    """Whether a bus's options ask for CAN FD: ``fd = true``, or a ``data_bitrate`` without ``fd``."""
    if "fd" in options:
        return options["fd"] not in (0, False)
    return "data_bitrate" in options


def interface_options(cfg: BusConfig) -> dict[str, Any]:
    """The keyword options handed to the python-can interface of ``cfg``."""
    bitrates(cfg)  # validated here so every interface gets the same clear error
    kwargs: dict[str, Any] = dict(cfg.options)
    fd = wants_fd(cfg.options)
    if "fd" in kwargs or fd:
        kwargs["fd"] = fd
    if cfg.interface == "virtual" and fd:
        kwargs.setdefault("protocol", can.CanProtocol.CAN_FD)
    return kwargs


def open_bus(cfg: BusConfig) -> can.BusABC:
    """Open the bus of ``cfg``: a python-can interface, or a log replay (:mod:`hw.replay`).

    Raises :class:`~logger.core.errors.ConfigError` for a configuration that cannot work and
    :class:`BusError` (see ``retryable``) for a driver or device that is not there.
    """
    if cfg.replay is not None:
        from hw.replay import open_replay  # noqa: PLC0415 - hw.replay imports this module

        return open_replay(cfg)
    interface = cfg.interface
    assert interface is not None  # BusConfig guarantees interface or replay
    where = describe(cfg)
    backends = can.interfaces.BACKENDS  # read live: plugins and entry points add to it
    if interface not in backends:
        raise ConfigError(
            f"bus[{cfg.name}].interface",
            f"unknown python-can interface {interface!r} (known: {', '.join(sorted(backends))})",
        )
    kwargs = interface_options(cfg)
    try:
        bus = can.Bus(channel=cfg.channel, interface=interface, ignore_config=True, **kwargs)
    except TypeError as exc:
        raise ConfigError(
            f"bus[{cfg.name}]",
            f"interface {interface!r} refused the options {sorted(kwargs)}: {exc}",
        ) from exc
    except (ImportError, NameError, can.CanInterfaceNotImplementedError) as exc:
        raise _driver_missing(where, exc) from exc
    except OSError as exc:
        if exc.errno is None or exc.errno == errno.EAFNOSUPPORT:
            # No errno: a vendor library that could not be loaded (pcan: "pcanbasic library not
            # found"). EAFNOSUPPORT: the kernel has no CAN support at all.
            raise _driver_missing(where, exc) from exc
        raise BusError(f"{where}: cannot open: {exc}", retryable=True) from exc
    except can.CanError as exc:
        raise BusError(f"{where}: cannot open: {exc}", retryable=True) from exc
    except ValueError as exc:
        raise ConfigError(f"bus[{cfg.name}]", f"interface {interface!r}: {exc}") from exc
    except Exception as exc:  # third-party drivers raise their own types (USB, serial, ...)
        raise BusError(
            f"{where}: cannot open: {type(exc).__name__}: {exc}", retryable=True
        ) from exc
    if wants_fd(cfg.options) and bus.protocol == can.CanProtocol.CAN_20:
        _log.warning("%s: fd = true, but the interface opened in classic CAN mode", where)
    _log.info("%s: opened (%s, %s)", where, bus.channel_info, bus.protocol.name)
    return bus


def _driver_missing(where: str, exc: BaseException) -> BusError:
    return BusError(
        f"{where}: the driver is missing or unusable: {type(exc).__name__}: {exc}",
        retryable=False,
    )


def frame_bits(msg: can.Message) -> tuple[int, int]:
    """Length of one frame on the wire in bits: (at the nominal bit rate, at the data bit rate).

    Classic CAN: 47 + 8·len bits with an 11-bit id, 67 + 8·len with a 29-bit id (a remote frame
    carries no data). CAN FD: the arbitration phase and the end of the frame at the nominal bit
    rate, and, when the bit-rate switch is on, the data phase (ESI, DLC, data padded to a valid
    FD length, stuff count, CRC and its fixed stuff bits) at the data bit rate. Dynamic stuff bits
    are not counted, so the load is a lower bound (worst-case stuffing adds up to about 20 %), as
    ``canbusload`` reports it by default. Error frames count 0 bits.
    """
    if msg.is_error_frame:
        return 0, 0
    if msg.is_fd:
        n = dlc2len(len2dlc(len(msg.data)))
        nominal = _FD_NOMINAL_EXTENDED if msg.is_extended_id else _FD_NOMINAL_BASE
        data = (_FD_DATA_SHORT if n <= _FD_SHORT_MAX else _FD_DATA_LONG) + 8 * n
        return (nominal, data) if msg.bitrate_switch else (nominal + data, 0)
    n = 0 if msg.is_remote_frame else min(len(msg.data), 8)
    return (_CLASSIC_EXTENDED if msg.is_extended_id else _CLASSIC_BASE) + 8 * n, 0


_KEY_ID_SHIFT = 29  # the EFF / RTR / ERR flag bits of a SocketCAN id → key bits 2 / 1 / 0
_KEY_FLAG_SHIFT = 3  # CANP's FD and BRS flag bits → key bits 3 and 4
_KEY_LENGTH_SHIFT = 5  # the data length (0..64) above them


@functools.cache
def bits_table() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """:func:`frame_bits` of every kind of frame (id flags, FD and BRS, data length), indexed
    by the key :func:`frame_bits_sum` computes."""
    size = (64 + 1) << _KEY_LENGTH_SHIFT
    nominal, data = np.zeros(size, np.int64), np.zeros(size, np.int64)
    for key in range(size):
        id_bits, fd_bits = key & 7, (key >> _KEY_FLAG_SHIFT) & 3
        msg = can.Message(
            is_extended_id=bool(id_bits & 4),
            is_remote_frame=bool(id_bits & 2),
            is_error_frame=bool(id_bits & 1),
            is_fd=bool(fd_bits & 1),
            bitrate_switch=bool(fd_bits & 2),
            data=bytes(key >> _KEY_LENGTH_SHIFT),
        )
        nominal[key], data[key] = frame_bits(msg)
    return nominal, data


def frame_bits_sum(
    can_id: npt.NDArray[np.uint32], flags: npt.NDArray[np.uint8], lengths: npt.NDArray[np.int64]
) -> tuple[int, int]:
    """:func:`frame_bits` summed over many frames given as CANP columns (ids with SocketCAN's
    EFF / RTR / ERR flag bits, CANP flags, data lengths): (nominal bits, data-phase bits)."""
    if not can_id.size:
        return 0, 0
    key = (can_id >> _KEY_ID_SHIFT).astype(np.intp)
    key |= (flags & 3).astype(np.intp) << _KEY_FLAG_SHIFT  # FLAG_FD 0x01, FLAG_BRS 0x02
    key |= np.minimum(lengths, 64) << _KEY_LENGTH_SHIFT
    nominal, data = bits_table()
    return int(nominal[key].sum()), int(data[key].sum())


def frame_time(msg: can.Message, bitrate: int, data_bitrate: int) -> float:
    """Seconds the bus is busy with ``msg``."""
    nominal, data = frame_bits(msg)
    return nominal / bitrate + data / data_bitrate
