"""Import, download, filter, export, verify and `store verify` once each against a real S3-compatible server.

The workspace's image store and the export target are ``s3://`` URLs on moto's standalone server; what
lands in the bucket is checked with boto3 against digests computed here from the source bytes.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
from sqlalchemy import select
from sqlalchemy.orm import Session

from curation.db.models import FilterDecision, Image as ImageRow, SourceRecord
from curation.db.session import connect, session_scope
from tests.conftest import make_image_bytes
from tests.filters.conftest import encode, photo


def _client(s3_server):
    return boto3.client("s3", endpoint_url=s3_server.endpoint, region_name="us-east-1")


def _keys(s3_server, bucket: str, prefix: str = "") -> dict[str, bytes]:
    client = _client(s3_server)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return {k: client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def _workspace(tmp_path: Path, s3_url: str, monkeypatch, cli) -> Path:
    root = tmp_path / "ws"
    monkeypatch.setenv("CURATE_DB", f"sqlite:///{tmp_path / 'ws.sqlite'}")
    monkeypatch.setenv("CURATE_WORKSPACE", str(root))
    cli("init", root)
    (root / "curate.toml").write_text(f'[curate]\nstore_dir = "{s3_url}/images"\n')
    return root


def test_import_filter_and_store_verify_on_s3(s3_server, s3_url, tmp_path, monkeypatch, cli):
    _workspace(tmp_path, s3_url, monkeypatch, cli)
    folder = tmp_path / "photos"
    folder.mkdir()
    files = {f"orig{i}.jpg": encode(photo(i), quality=95) for i in range(4)}
    files["copy0.jpg"] = encode(photo(0), quality=70)  # a near duplicate of orig0 (other bytes, same picture)
    files["same1.jpg"] = files["orig1.jpg"]  # the very same bytes: one object
    for name, data in files.items():
        (folder / name).write_bytes(data)
    cli("import", folder, "--license", "CC0-1.0")
    bucket = s3_url.removeprefix("s3://")
    stored = _keys(s3_server, bucket, "images/")
    digests = {hashlib.sha256(d).hexdigest() for d in files.values()}
    assert set(stored) == {f"images/{d[:2]}/{d[2:4]}/{d}" for d in digests}
    assert all(hashlib.sha256(data).hexdigest() == key.rsplit("/", 1)[1] for key, data in stored.items())

    cli("filter", "--workers", "1")  # hashing reads every image from the bucket
    engine = connect(f"sqlite:///{tmp_path / 'ws.sqlite'}")
    with Session(engine) as session:
        images = session.scalars(select(ImageRow)).all()
        assert len(images) == 5 and all(i.hashed_at is not None and i.decode_error is None for i in images)
        copy = session.scalar(select(ImageRow.id).where(ImageRow.sha256 == hashlib.sha256(files["copy0.jpg"])
                                                        .hexdigest()))
        decision = session.scalar(select(FilterDecision).where(FilterDecision.image_id == copy,
                                                               FilterDecision.filter == "duplicate",
                                                               FilterDecision.current.is_(True)))
        assert decision.verdict == "reject"
        assert decision.reason == f"duplicate-of:{hashlib.sha256(files['orig0.jpg']).hexdigest()}"
    engine.dispose()

    assert "checked 5: 0 missing, 0 corrupted, 0 files not in the database" in cli("store", "verify").output
    victim = hashlib.sha256(files["orig2.jpg"]).hexdigest()
    _client(s3_server).put_object(Bucket=bucket, Key=f"images/{victim[:2]}/{victim[2:4]}/{victim}", Body=b"bad")
    result = cli("store", "verify", ok=False)
    assert result.exit_code != 0 and f"corrupted {victim}" in result.output


def test_download_stores_into_s3(s3_server, s3_url, tmp_path, monkeypatch, cli):
    from curation.config import load_settings
    from curation.download.runner import download, select_records

    root = _workspace(tmp_path, s3_url, monkeypatch, cli)
    served = {f"/img{i}.jpg": make_image_bytes(100 + i, (40, 30)) for i in range(5)}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            body = served.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        engine = connect(f"sqlite:///{tmp_path / 'ws.sqlite'}")
        with session_scope(engine) as session:
            for path in [*served, "/missing.jpg"]:
                session.add(SourceRecord(source="test", source_id=path, url=base + path))
        with session_scope(engine) as session:
            records = select_records(session)
        store = load_settings(root).store()
        stats = download(engine, store, records, max_pixels=10_000_000, max_bytes=10_000_000, workers=2, tries=1)
        assert stats.downloaded == 5 and sum(stats.rejected.values()) == 1
        with session_scope(engine) as session:
            states = {r.source_id: r.status for r in session.scalars(select(SourceRecord))}
        assert states == {**{p: "downloaded" for p in served}, "/missing.jpg": "rejected"}
        engine.dispose()
    finally:
        server.shutdown()
    stored = _keys(s3_server, s3_url.removeprefix("s3://"), "images/")
    assert {k.rsplit("/", 1)[1] for k in stored} == {hashlib.sha256(b).hexdigest() for b in served.values()}


def test_export_to_s3_and_verify(s3_server, s3_url, tmp_path, monkeypatch, cli):
    from curation.config import load_settings
    from tests.splits.dbdata import populate

    root = _workspace(tmp_path, s3_url, monkeypatch, cli)
    engine = connect(f"sqlite:///{tmp_path / 'ws.sqlite'}")
    with Session(engine, expire_on_commit=False) as session:
        images = populate(session, load_settings(root).store())
        session.commit()
    engine.dispose()
    expected = {i.sha256 for group in images.values() for i in group}
    cli("splits", "build", "imagenet-r")
    target = f"{s3_url}/exports/imagenet-r"
    out = cli("export", "imagenet-r", "--format", "webdataset", "--out", target).output
    assert target in out
    bucket = s3_url.removeprefix("s3://")
    objects = _keys(s3_server, bucket, "exports/imagenet-r/")
    names = {k.removeprefix("exports/imagenet-r/") for k in objects}
    assert {"SHA256SUMS", "manifest.csv", "export.json", "classes.csv"} <= names
    sums = dict(line.split("  ")[::-1] for line in objects["exports/imagenet-r/SHA256SUMS"].decode().splitlines())
    assert set(sums) == names - {"SHA256SUMS"}
    assert all(hashlib.sha256(objects[f"exports/imagenet-r/{n}"]).hexdigest() == d for n, d in sums.items())
    manifest = objects["exports/imagenet-r/manifest.csv"].decode().splitlines()
    assert {line.split(",")[1] for line in manifest[1:]} == expected  # every image, each once
    assert len(manifest) - 1 == len(expected)

    assert cli("verify", target).output.strip().endswith("OK")
    assert cli("verify", target, "--quick").output.strip().endswith("OK")
    again = cli("export", "imagenet-r", "--format", "webdataset", "--out", target, ok=False)
    assert again.exit_code != 0 and "already holds objects" in again.output
    shard = next(n for n in names if n.endswith(".tar"))
    _client(s3_server).put_object(Bucket=bucket, Key=f"exports/imagenet-r/{shard}", Body=b"not a tar")
    result = cli("verify", target, ok=False)
    assert result.exit_code == 1 and f"altered      {shard}" in result.output
