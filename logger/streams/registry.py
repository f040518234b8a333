"""The stream plugin registry: look plugins up by name or id.

Built-in plugins are imported lazily by module path (as python-can does with its interfaces);
third-party plugins register through the entry-point group ``sdv_logger.streams`` or in code.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from logger.core.errors import PluginError
from logger.core.stream_ids import BUILTIN_STREAMS, CUSTOM_MIN_ID
from logger.streams.plugin import StreamPlugin

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "sdv_logger.streams"

#: name → "module:Class" of the built-in streams (ids in :data:`BUILTIN_STREAMS`); imported
#: only when used.
BUILTIN: dict[str, str] = {
    "raw": "logger.streams.raw:RawPlugin",
    "spi": "spi.plugin:SpiPlugin",
    "canp": "canp.plugin:CanpPlugin",
}


def _load(target: str) -> type[StreamPlugin]:
    module, _, attr = target.partition(":")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"cannot load stream plugin {target!r}: {exc}") from exc
    if not (isinstance(obj, type) and issubclass(obj, StreamPlugin)):
        raise PluginError(f"{target!r} is not a StreamPlugin subclass")
    return obj


class PluginRegistry:
    """Plugins by name and id: built-ins, then entry points, then those registered in code."""

    def __init__(self, eps: Iterable[EntryPoint] | None = None) -> None:
        self._by_name: dict[str, type[StreamPlugin]] = {}
        self._lazy: dict[str, str] = dict(BUILTIN)
        self._ids: dict[int, str] = {pid: name for name, pid in BUILTIN_STREAMS.items()}
        self._eps = {
            ep.name: ep for ep in (entry_points(group=ENTRY_POINT_GROUP) if eps is None else eps)
        }

    def register(self, cls: type[StreamPlugin]) -> None:
        """Register a plugin class; its ``name`` and ``id`` must be free (custom ids are >= 16)."""
        name, pid = getattr(cls, "name", None), getattr(cls, "id", None)
        if not isinstance(name, str) or not isinstance(pid, int):
            raise PluginError(
                f"{cls.__qualname__} needs class attributes 'name' (str) and 'id' (int)"
            )
        known = self._by_name.get(name)
        if known is not None and known is not cls:
            raise PluginError(
                f"stream plugin name {name!r} is already taken by {known.__qualname__}"
            )
        owner = self._ids.get(pid)
        if owner is not None and owner != name:
            raise PluginError(f"stream plugin id {pid} is already taken by {owner!r}")
        if name not in BUILTIN and pid < CUSTOM_MIN_ID:
            raise PluginError(
                f"custom stream plugin {name!r} needs an id >= {CUSTOM_MIN_ID}, got {pid}"
            )
        self._by_name[name] = cls
        self._ids[pid] = name
        self._lazy.pop(name, None)

    def get(self, key: str | int) -> type[StreamPlugin]:
        """The plugin class for a name (``"canp"``) or an id (``2``)."""
        name = self._name_for(key)
        if name in self._by_name:
            return self._by_name[name]
        if name in self._lazy:
            cls = _load(self._lazy[name])
        elif name in self._eps:
            try:
                loaded = self._eps[name].load()
            except Exception as exc:
                raise PluginError(
                    f"entry point {name!r} of {ENTRY_POINT_GROUP} failed to load: {exc}"
                ) from exc
            if not (isinstance(loaded, type) and issubclass(loaded, StreamPlugin)):
                raise PluginError(f"entry point {name!r} does not name a StreamPlugin subclass")
            cls = loaded
        else:
            raise PluginError(f"unknown stream {key!r}; known: {', '.join(self.names())}")
        self.register(cls)
        return cls

    def _name_for(self, key: str | int) -> str:
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            pid = int(key)
            if pid not in self._ids:
                for name in list(self._eps):  # an entry point's id is known only once loaded
                    if name not in self._by_name:
                        self.get(name)
            if pid not in self._ids:
                raise PluginError(f"unknown stream id {pid}; known: {sorted(self._ids)}")
            return self._ids[pid]
        return key

    def names(self) -> list[str]:
        return sorted({*self._by_name, *self._lazy, *self._eps})
