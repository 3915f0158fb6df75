"""The image store on a real S3-compatible server (moto's standalone server, through s3fs/botocore)."""

from __future__ import annotations

import hashlib

import pytest

from curation.errors import CurateError
from curation.store import ImageStore, open_store


def _keys(s3_server, bucket: str) -> set[str]:
    """Object keys as S3 itself lists them (boto3, independent of the store's own listing)."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server.endpoint, region_name="us-east-1")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def test_put_read_verify_against_s3(s3_server, s3_url, tmp_path):
    store = open_store(f"{s3_url}/images")
    assert store.remote
    blobs = [b"alpha", b"beta", b"gamma" * 1000]
    digests = [store.put(b) for b in blobs]
    assert digests == [hashlib.sha256(b).hexdigest() for b in blobs]
    assert store.put(b"alpha") == digests[0]  # idempotent
    src = tmp_path / "f.bin"
    src.write_bytes(b"x" * 300_000)
    big = store.put_file(src)
    assert big == hashlib.sha256(b"x" * 300_000).hexdigest()
    bucket = s3_url.removeprefix("s3://")
    expected = {f"images/{d[:2]}/{d[2:4]}/{d}" for d in digests + [big]}
    assert _keys(s3_server, bucket) == expected
    assert store.read(digests[1]) == b"beta" and digests[2] in store and "0" * 64 not in store
    with store.open(digests[2]) as fh:
        assert fh.read() == b"gamma" * 1000
    assert store.location(digests[0]) == f"{s3_url}/images/{digests[0][:2]}/{digests[0][2:4]}/{digests[0]}"
    with pytest.raises(TypeError):
        store.path(digests[0])
    assert sorted(store.iter_digests()) == sorted(digests + [big])

    store.fs.pipe_file(f"{bucket}/images/{digests[1][:2]}/{digests[1][2:4]}/{digests[1]}", b"tampered")
    store.fs.rm_file(f"{bucket}/images/{digests[2][:2]}/{digests[2][2:4]}/{digests[2]}")
    orphan = store.put(b"orphan")
    report = store.verify(digests)
    assert report.missing == [digests[2]] and report.corrupted == [digests[1]]
    assert report.extra == sorted([orphan, big]) and report.temporary == [] and not report.ok
    quick = store.verify(digests, rehash=False)
    assert quick.corrupted == [] and quick.missing == [digests[2]]
    assert store.clean_temporary() == 0


def test_local_store_is_unchanged(tmp_path):
    store = open_store(tmp_path / "store")
    assert isinstance(store, ImageStore) and not store.remote
    digest = store.put(b"local")
    assert (tmp_path / "store" / digest[:2] / digest[2:4] / digest).read_bytes() == b"local"
    assert store.location(digest) == str(tmp_path / "store" / digest[:2] / digest[2:4] / digest)


@pytest.mark.parametrize("table", ['aws_secret_access_key = "abc"', 'key = "AKIA"', 'secret = "x"'])
def test_credentials_in_curate_toml_are_refused(tmp_path, table):
    from curation.config import load_settings

    (tmp_path / "curate.toml").write_text(f'[curate]\nstore_dir = "s3://b/p"\n\n[store]\n{table}\n')
    with pytest.raises(CurateError, match="credentials never go in curate.toml"):
        load_settings(tmp_path, environ={})


def test_password_in_store_url_and_unknown_store_key_are_refused(tmp_path):
    from curation.config import load_settings

    (tmp_path / "curate.toml").write_text('[curate]\nstore_dir = "s3://AKIA:hunter2@bucket/p"\n')
    with pytest.raises(CurateError, match="carries a password") as info:
        load_settings(tmp_path, environ={})
    assert "hunter2" not in str(info.value)
    (tmp_path / "curate.toml").write_text('[curate]\nstore_dir = "s3://b/p"\n[store]\nendpoint = "x"\n')
    with pytest.raises(CurateError, match="valid keys are endpoint_url, region"):
        load_settings(tmp_path, environ={})


def test_endpoint_comes_from_store_table(tmp_path):
    from curation.config import load_settings

    (tmp_path / "curate.toml").write_text('[curate]\nstore_dir = "s3://b/p/"\n[store]\n'
                                          'endpoint_url = "http://127.0.0.1:9"\nregion = "eu-west-1"\n')
    settings = load_settings(tmp_path, environ={})
    assert settings.store_path == "s3://b/p"
    store = settings.store()
    assert store.remote and store.options == {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9",
                                                                "region_name": "eu-west-1"}}
