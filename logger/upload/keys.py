"""Object keys: the ``[upload]`` template filled in for one stored file (deterministic)."""

from __future__ import annotations

from logger.store.layout import StoredFile, partition

__all__ = ["object_key"]


def object_key(template: str, vin: str, exchange: str, file: StoredFile) -> str:
    """The key of ``file``: ``{date}`` is ``YYYY-MM-DD`` and ``{hour}`` the UTC hour as the store
    writes it (unpadded, so engines read ``hour=`` as an integer), both of ``first_ns``."""
    date, hour = partition(file.first_ns)
    return template.format(
        vin=vin,
        exchange=exchange,
        table=file.table,
        date=date.removeprefix("date="),
        hour=hour.removeprefix("hour="),
        first_ns=file.first_ns,
        last_ns=file.last_ns,
        seq=file.seq,
    )
