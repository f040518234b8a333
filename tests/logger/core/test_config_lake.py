"""``[lake]``: the three catalog kinds, the defaults taken from ``[parquet]`` and ``[upload]``, and
every wrong value an error naming the file and the key. README's ``[lake]`` examples parse."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from logger.core.config import load_config, parse_config
from logger.core.config_lake import LakeConfig, lake_prefix
from logger.core.config_parse_lake import default_lake
from logger.core.errors import ConfigError

README = Path(__file__).resolve().parents[3] / "README.md"
UPLOAD = """
[parquet]
dir = "vehicles/V1"
[upload]
endpoint = "http://127.0.0.1:9000"
bucket = "fleet"
region = "eu-central-1"
prefix = "plant7/vehicle={vin}/exchange={exchange}"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sdvlog.toml"
    path.write_text(text)
    return path


def test_without_a_lake_section_there_is_no_lake_but_its_defaults_come_from_upload() -> None:
    cfg = parse_config(tomllib.loads(UPLOAD))
    assert cfg.lake is None
    lake = default_lake(cfg.parquet, cfg.upload)
    assert lake == LakeConfig(
        catalog="sql",
        catalog_dir=Path("vehicles/V1/.lake"),
        bucket="fleet",
        endpoint="http://127.0.0.1:9000",
        region="eu-central-1",
        prefix="plant7/",
    )
    bare = parse_config({})
    assert default_lake(bare.parquet, bare.upload) == LakeConfig(catalog_dir=Path("data/.lake"))


def test_the_lake_takes_each_upload_key_it_does_not_name_itself() -> None:
    text = UPLOAD + '[lake]\nregion = "us-west-2"\nprefix = ""\nnamespace = "trucks"\n'
    lake = parse_config(tomllib.loads(text)).lake
    assert lake is not None
    assert (lake.bucket, lake.endpoint, lake.region, lake.prefix, lake.namespace) == (
        "fleet",
        "http://127.0.0.1:9000",
        "us-west-2",
        "",
        "trucks",
    )
    local = parse_config(tomllib.loads(UPLOAD + '[lake]\ndir = "lake"\n')).lake
    assert local is not None and (local.bucket, local.dir) == (None, Path("lake"))


@pytest.mark.parametrize(
    ("template", "prefix"),
    [
        ("vehicle={vin}/exchange={exchange}", ""),
        ("plant7/vehicle={vin}/exchange={exchange}", "plant7/"),
        ("a/b/v-{vin}", "a/b/"),
        ("fleet", ""),
    ],
)
def test_the_lake_prefix_is_the_fixed_folders_of_the_upload_template(
    template: str, prefix: str
) -> None:
    assert lake_prefix(template) == prefix


def test_each_catalog_kind_parses() -> None:
    glue = parse_config(
        tomllib.loads(
            '[lake]\ncatalog = "glue"\nglue_endpoint = "http://127.0.0.1:5000"\n'
            'glue_region = "eu-west-1"\nwarehouse = "s3://meta/wh"\nbucket = "fleet"\n'
            'access_key_env = "K"\nsecret_key_env = "S"\n'
        )
    ).lake
    assert glue == LakeConfig(
        catalog="glue",
        glue_endpoint="http://127.0.0.1:5000",
        glue_region="eu-west-1",
        warehouse="s3://meta/wh",
        bucket="fleet",
        access_key_env="K",
        secret_key_env="S",
    )
    rest = parse_config(
        tomllib.loads(
            '[lake]\ncatalog = "rest"\nuri = "https://cat.example:8181"\nwarehouse = "prod"\n'
            'token_env = "T"\n'
        )
    ).lake
    assert rest == LakeConfig(
        catalog="rest", uri="https://cat.example:8181", warehouse="prod", token_env="T"
    )
    sql = parse_config(tomllib.loads('[lake]\ncatalog_dir = "cat"\ndir = "lake"\n')).lake
    assert sql == LakeConfig(catalog_dir=Path("cat"), dir=Path("lake"))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("catalog = 'hive'", "lake.catalog"),
        ("catalog = 'rest'", "lake.uri"),
        ("catalog = 'rest'\nuri = 'ftp://x'", "lake.uri"),
        ("catalog = 'rest'\nuri = 'http://x'\ntoken = 'secret'", "lake.token"),
        (
            "catalog = 'rest'\nuri = 'http://x'\ntoken_env = 'A'\ncredential_env = 'B'",
            "lake.credential_env",
        ),
        ("uri = 'http://x'", "lake.uri"),
        ("token_env = 'T'", "lake.token_env"),
        ("warehouse = 's3://w'", "lake.warehouse"),
        ("catalog = 'glue'\ncatalog_dir = 'cat'", "lake.catalog_dir"),
        ("catalog = 'glue'\nglue_endpoint = 'localhost:5000'", "lake.glue_endpoint"),
        ("glue_region = 'eu-west-1'", "lake.glue_region"),
        ("endpoint = '127.0.0.1:9000'", "lake.endpoint"),
        ("access_key_env = 'K'", "lake.secret_key_env"),
        ("secret_key_env = 'S'", "lake.access_key_env"),
        ("secret_key = 'S'", "lake.secret_key"),
        ("namespace = 'a.b'", "lake.namespace"),
        ("bucket = 'b'\ndir = 'd'", "lake.dir"),
        ("bucket = ''", "lake.bucket"),
        ("bucket = 3", "lake.bucket"),
        ("catalgo = 'sql'", "lake.catalgo"),
    ],
)
def test_broken_lake_values_name_their_key_and_file(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, f"[lake]\n{text}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == key, str(err.value)
    assert str(path) in str(err.value)


def readme_lake_blocks() -> list[str]:
    """The ``toml`` blocks of README's "Fleet lake" section."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Fleet lake") :]
    section = section[: section.index("\n## ", 1)]
    return [part.split("\n```", 1)[0] for part in section.split("```toml\n")[1:]]


def test_readme_lake_examples_parse_one_of_each_kind() -> None:
    blocks = readme_lake_blocks()
    lakes = [parse_config(tomllib.loads(block)).lake for block in blocks]
    assert sorted(lake.catalog for lake in lakes if lake is not None) == ["glue", "rest", "sql"]
