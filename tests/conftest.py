"""Shared fixtures: a workspace on each database (SQLite and a real PostgreSQL), CLI invocation,
small generated images. Database tests take ``db_url`` and so run once per backend."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from click.testing import CliRunner

from tests.pg import PostgresServer
from tests.s3 import S3Server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on a free local port, for the whole session (like PostgreSQL)."""
    server = S3Server().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_url(s3_server, monkeypatch) -> str:
    """``s3://<fresh bucket>``, with the endpoint and dummy credentials in the environment (as a user sets them)."""
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    import fsspec

    fsspec.config.conf.pop("s3", None)
    from s3fs import S3FileSystem

    S3FileSystem.clear_instance_cache()  # a cached client may hold another test's endpoint
    return f"s3://{s3_server.create_bucket()}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@pytest.fixture
def engine(db_url):
    from curation.db.session import connect, upgrade

    engine = connect(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine):
    from sqlalchemy.orm import Session

    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def workspace(tmp_path, db_url, monkeypatch) -> Path:
    """An initialised workspace whose database is ``db_url``; CURATE_DB/CURATE_WORKSPACE point at it."""
    root = tmp_path / "ws"
    monkeypatch.setenv("CURATE_DB", db_url)
    monkeypatch.setenv("CURATE_WORKSPACE", str(root))
    result = CliRunner().invoke(_root(), ["init", str(root)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return root


def _root():
    from curation.cli import root

    return root


@pytest.fixture
def cli():
    """Run ``curate`` in-process: ``cli("status")`` returns click's Result."""
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True, input: str | None = None):
        result = runner.invoke(_root(), [str(a) for a in args], input=input, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, f"curate {' '.join(map(str, args))} failed:\n{result.output}"
        return result

    return invoke


def make_image_bytes(seed: int, size: tuple[int, int] = (64, 48), fmt: str = "JPEG") -> bytes:
    """A small random image, different for each seed."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = (rng.random((size[1], size[0], 3)) * 255).astype("uint8")
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture
def image_bytes():
    return make_image_bytes


def pytest_collection_modifyitems(config, items):
    """``gpu`` tests skip without CUDA; every other test always runs."""
    if not any("gpu" in item.keywords for item in items):
        return
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda or os.environ.get("CURATE_FORCE_GPU_TESTS"):
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
