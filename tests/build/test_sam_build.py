"""What `make build` (sam build) produced in .aws-sam/build: run after a build, skipped otherwise."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"
LAYER = BUILD / "SharedLayer" / "python"
MIGRATE = BUILD / "MigrateFunction"

pytestmark = pytest.mark.skipif(
    not (BUILD / "template.yaml").is_file(), reason="no .aws-sam/build: run `make build` first"
)

EM_AARCH64 = 183
ELFCLASS64 = 2


def elf_machine(path: Path) -> tuple[int, int]:
    """(EI_CLASS, e_machine) of an ELF file."""
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
    byteorder = "<" if header[5] == 1 else ">"
    (machine,) = struct.unpack(byteorder + "H", header[18:20])
    return header[4], machine


def test_layer_extensions_are_aarch64() -> None:
    libraries = sorted(LAYER.rglob("*.so"))
    assert any(p.parent.name == "pydantic_core" for p in libraries), "pydantic-core's extension is missing"
    for library in libraries:
        assert elf_machine(library) == (ELFCLASS64, EM_AARCH64), f"{library.relative_to(LAYER)} is not aarch64"


def test_layer_leaves_the_aws_sdk_to_the_runtime() -> None:
    for package in ("boto3", "botocore", "s3transfer"):
        assert not (LAYER / package).exists(), f"{package} is bundled in the layer"


def test_layer_holds_the_shared_package_and_its_ca_bundle() -> None:
    assert (LAYER / "shared" / "__init__.py").is_file()
    assert list((LAYER / "shared" / "certs").glob("*.pem")), "the CA bundle did not reach the layer"
    assert (LAYER / "pg8000").is_dir() and (LAYER / "aws_lambda_powertools").is_dir()


def test_layer_bytecode_is_precompiled_for_python313() -> None:
    # /opt is read-only on Lambda: without .pyc files every cold start compiles the layer again.
    assert list((LAYER / "shared" / "__pycache__").glob("settings.cpython-313.pyc"))
    assert list((LAYER / "pydantic" / "__pycache__").glob("*.cpython-313.pyc"))


def test_migrate_artifact_ships_the_migrations() -> None:
    assert (MIGRATE / "migrate_app.py").is_file()
    assert (MIGRATE / "migrations" / "0001_create_initial_schema.sql").is_file()
    for shipped in (MIGRATE / "migrations").glob("*.sql"):
        source = ROOT / "sql" / "migrations" / shipped.name
        # Files added or edited since the build are a stale build, not a broken one.
        if source.is_file() and source.stat().st_mtime <= shipped.stat().st_mtime:
            assert shipped.read_bytes() == source.read_bytes(), f"{shipped.name} differs from sql/migrations"


def test_named_statements_reach_the_artifacts() -> None:
    assert (LAYER / "shared" / "fragments.sql").is_file(), "the layer's SQL fragments did not reach the layer"
    assert (LAYER / "shared" / "migrations.sql").is_file()
    for resource in ("users", "posts", "comments", "stats"):
        artifact = BUILD / f"{resource.capitalize()}Function" / f"{resource}.sql"
        assert artifact.is_file(), f"{artifact.name} did not reach the {resource} artifact"


def test_built_template_points_at_the_artifacts() -> None:
    text = (BUILD / "template.yaml").read_text()
    for artifact in ("SharedLayer", "UsersFunction", "PostsFunction", "CommentsFunction", "StatsFunction"):
        assert (BUILD / artifact).is_dir(), artifact
        assert artifact in text
