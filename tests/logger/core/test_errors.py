"""Every exception class the project defines derives from SdvLoggerError, and the tree drawn in
``logger/core/errors.py``'s docstring names each of them."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from logger.core import errors
from logger.core.errors import SdvLoggerError

PACKAGES = ("logger", "canp", "spi", "dbc", "hw")
#: Run as a script in a process of its own (standard library only), never imported by the service.
NOT_IMPORTED = {"hw.socketcan_drain"}


def project_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for root in PACKAGES:
        package = importlib.import_module(root)
        for info in pkgutil.walk_packages(package.__path__, f"{root}."):
            if info.name in NOT_IMPORTED:
                continue
            module = importlib.import_module(info.name)
            for name, obj in inspect.getmembers(module, inspect.isclass):
                if issubclass(obj, BaseException) and obj.__module__ == info.name:
                    found[f"{info.name}.{name}"] = obj
    return found


def test_every_exception_derives_from_the_root() -> None:
    found = project_exceptions()
    assert len(found) >= 20, sorted(found)
    outside = sorted(name for name, cls in found.items() if not issubclass(cls, SdvLoggerError))
    assert outside == [], f"not under SdvLoggerError: {outside}"


def test_the_drawn_tree_names_every_exception() -> None:
    drawn = errors.__doc__ or ""
    missing = sorted(
        name for name, cls in project_exceptions().items() if cls.__name__ not in drawn
    )
    assert missing == [], f"not drawn in logger/core/errors.py: {missing}"
