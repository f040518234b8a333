"""Where the lake relies on a library beyond its documented API.

- :func:`httpfs_extension_path` (duckdb-extension-httpfs 1.5.5): the PyPI package ships DuckDB's
  httpfs extension as ``extensions/v<duckdb version>/httpfs.duckdb_extension`` inside its package
  directory; ``LOAD '<path>'`` loads it offline (no download from DuckDB's extension server).
"""

from __future__ import annotations

from pathlib import Path

from logger.core.errors import LakeError

__all__ = ["httpfs_extension_path"]


def httpfs_extension_path() -> Path:
    """The httpfs extension matching the installed DuckDB; :class:`LakeError` when missing."""
    import duckdb  # noqa: PLC0415
    import duckdb_extension_httpfs  # type: ignore[import-untyped]  # noqa: PLC0415

    version = duckdb.__version__
    base = Path(duckdb_extension_httpfs.__file__).parent / "extensions"
    path = base / f"v{version}" / "httpfs.duckdb_extension"
    if not path.is_file():
        found = sorted(p.name for p in base.iterdir()) if base.is_dir() else []
        raise LakeError(
            f"DuckDB {version} has no matching httpfs extension (duckdb-extension-httpfs has "
            f"{', '.join(found) or 'none'}): install duckdb-extension-httpfs=={version}"
        )
    return path
