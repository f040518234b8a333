"""The lake's Iceberg catalog of the kind ``[lake] catalog`` names (:data:`CATALOGS`).

* ``sql``: pyiceberg's SQL catalog on SQLite, ``<catalog_dir>/catalog.db``, table metadata under
  ``<catalog_dir>/warehouse``: nothing to run, the default.
* ``glue``: AWS Glue (``glue_endpoint`` for an S3-compatible endpoint that serves the Glue API);
  table metadata goes under ``warehouse`` (an ``s3://`` address) unless the Glue database has
  a location of its own.
* ``rest``: an Iceberg REST catalog at ``uri``, its bearer token in the variable ``token_env``
  (or OAuth2 client credentials in ``credential_env``), ``warehouse`` as that catalog means it.

Every catalog reads the lake's objects with the lake's S3 settings (:class:`LakeSource`).
Failures of the catalog itself (unreachable, refused, missing) are :class:`LakeError` naming the
catalog's kind and address.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from logger.core.config_lake import CatalogKind, LakeConfig
from logger.core.errors import LakeError
from logger.lake.source import LakeSource

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

__all__ = ["CATALOGS", "catalog_errors", "open_lake_catalog"]

#: The catalog's name inside pyiceberg (it appears in nothing the lake stores).
_NAME = "lake"


def _sql(cfg: LakeConfig, source: LakeSource, create: bool) -> Catalog:
    from pyiceberg.catalog.sql import SqlCatalog  # noqa: PLC0415 - only the lake needs it

    assert cfg.catalog_dir is not None  # LakeConfig requires it for 'sql'
    db = cfg.catalog_dir / "catalog.db"
    if not create and not db.is_file():
        raise LakeError(f"no lake catalog at {db}: run 'sdvlog lake register' first")
    warehouse = cfg.catalog_dir / "warehouse"
    warehouse.mkdir(parents=True, exist_ok=True)
    return SqlCatalog(
        _NAME,
        uri=f"sqlite:///{db.resolve()}",
        warehouse=warehouse.resolve().as_uri(),
        **source.fileio_properties(),
    )


def _glue(cfg: LakeConfig, source: LakeSource, create: bool) -> Catalog:
    from pyiceberg.catalog import WAREHOUSE_LOCATION  # noqa: PLC0415
    from pyiceberg.catalog.glue import (  # noqa: PLC0415
        GLUE_ACCESS_KEY_ID,
        GLUE_CATALOG_ENDPOINT,
        GLUE_REGION,
        GLUE_SECRET_ACCESS_KEY,
        GlueCatalog,
    )

    props = {**source.fileio_properties(), GLUE_REGION: cfg.glue_region or source.region}
    if cfg.glue_endpoint is not None:
        props[GLUE_CATALOG_ENDPOINT] = cfg.glue_endpoint
    if cfg.warehouse is not None:
        props[WAREHOUSE_LOCATION] = cfg.warehouse
    pair = source.credentials() if source.access_key_env is not None else None
    if pair is not None:  # else boto3's usual chain, as for S3
        props[GLUE_ACCESS_KEY_ID], props[GLUE_SECRET_ACCESS_KEY] = pair
    catalog = GlueCatalog(_NAME, **props)
    if create and cfg.warehouse is None and not _location(catalog, cfg.namespace):
        raise LakeError(
            f"lake.warehouse: the Glue database {cfg.namespace!r} has no location; give "
            'warehouse = "s3://BUCKET/PATH" for the tables\' Iceberg metadata'
        )
    return catalog


def _location(catalog: Catalog, namespace: str) -> str | None:
    """The location of an existing namespace (a Glue database's ``LocationUri``), if any."""
    from pyiceberg.exceptions import NoSuchNamespaceError  # noqa: PLC0415

    try:
        return catalog.load_namespace_properties(namespace).get("location")
    except NoSuchNamespaceError:
        return None


def _rest(cfg: LakeConfig, source: LakeSource, create: bool) -> Catalog:
    from pyiceberg.catalog import TOKEN, URI, WAREHOUSE_LOCATION  # noqa: PLC0415
    from pyiceberg.catalog.rest import CREDENTIAL, RestCatalog  # noqa: PLC0415

    assert cfg.uri is not None  # LakeConfig requires it for 'rest'
    props = {**source.fileio_properties(), URI: cfg.uri}
    if cfg.warehouse is not None:
        props[WAREHOUSE_LOCATION] = cfg.warehouse
    if cfg.token_env is not None:
        props[TOKEN] = _variable(cfg.token_env, "lake.token_env")
    if cfg.credential_env is not None:
        props[CREDENTIAL] = _variable(cfg.credential_env, "lake.credential_env")
    return RestCatalog(_NAME, **props)


#: ``[lake] catalog`` → the function that makes that catalog.
CATALOGS: Mapping[CatalogKind, Callable[[LakeConfig, LakeSource, bool], Catalog]] = {
    "sql": _sql,
    "glue": _glue,
    "rest": _rest,
}


def _variable(name: str, key: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise LakeError(f"{key} names the variable {name}, which is not set")
    return value


def _address(cfg: LakeConfig, source: LakeSource) -> str:
    """Where the catalog is, as an error message names it (each kind has its own keys)."""
    return str(
        cfg.uri
        or cfg.glue_endpoint
        or (cfg.catalog_dir and cfg.catalog_dir / "catalog.db")
        or f"AWS Glue in {cfg.glue_region or source.region}"
    )


@contextmanager
def catalog_errors(cfg: LakeConfig, source: LakeSource) -> Iterator[None]:
    """Turn the catalog's own failures (its client's exceptions) into :class:`LakeError`."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415
    from pyiceberg.exceptions import (  # noqa: PLC0415
        CommitFailedException,
        NoSuchNamespaceError,
        NoSuchTableError,
        RESTError,
    )
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    failures: tuple[type[Exception], ...] = (OSError, BotoCoreError, ClientError)
    failures += (SQLAlchemyError, RESTError, CommitFailedException)
    failures += (NoSuchNamespaceError, NoSuchTableError)
    try:
        yield
    except failures as exc:
        raise LakeError(_failed(cfg, source, exc)) from exc


def _failed(cfg: LakeConfig, source: LakeSource, exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{cfg.catalog} catalog at {_address(cfg, source)}: {text}"


def open_lake_catalog(cfg: LakeConfig, source: LakeSource, create: bool = False) -> Catalog:
    """The catalog ``cfg`` names, its namespace made with ``create``; without ``create`` a
    catalog or namespace that does not exist yet is a :class:`LakeError`."""
    from pyiceberg.exceptions import NoSuchNamespaceError  # noqa: PLC0415

    with catalog_errors(cfg, source):
        try:
            catalog = CATALOGS[cfg.catalog](cfg, source, create)
        except ValueError as exc:  # the client cannot use what the catalog answered
            raise LakeError(_failed(cfg, source, exc)) from exc
        if create:
            catalog.create_namespace_if_not_exists(cfg.namespace)
            return catalog
        try:
            catalog.load_namespace_properties(cfg.namespace)
        except NoSuchNamespaceError as exc:
            raise LakeError(
                f"no lake namespace {cfg.namespace!r} in the {cfg.catalog} catalog at "
                f"{_address(cfg, source)}: run 'sdvlog lake register' first"
            ) from exc
    return catalog
