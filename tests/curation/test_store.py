import hashlib

from curation.store import ImageStore


def test_put_is_content_addressed_and_idempotent(tmp_path):
    store = ImageStore(tmp_path / "store")
    digest = store.put(b"hello")
    assert digest == hashlib.sha256(b"hello").hexdigest()
    assert store.put(b"hello") == digest and store.read(digest) == b"hello"
    src = tmp_path / "f.bin"
    src.write_bytes(b"x" * 3_000_000)
    assert store.put_file(src) == hashlib.sha256(src.read_bytes()).hexdigest()
    assert not list((tmp_path / "store").rglob(".put-*")), "temporary files left behind"


def test_verify_finds_missing_corrupted_and_extra(tmp_path):
    store = ImageStore(tmp_path / "store")
    a, b, c = store.put(b"a"), store.put(b"b"), store.put(b"c")
    store.path(b).write_bytes(b"tampered")
    store.path(c).unlink()
    extra = store.put(b"orphan")
    report = store.verify([a, b, c])
    assert report.missing == [c] and report.corrupted == [b] and report.extra == [extra]
    assert not report.ok


def test_rejects_non_digest_paths(tmp_path):
    import pytest

    with pytest.raises(ValueError):
        ImageStore(tmp_path).path("../../etc/passwd")
