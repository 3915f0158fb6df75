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


def test_temporaries_of_dead_writers_are_listed_and_only_those_removed(tmp_path):
    import os
    import subprocess
    import sys
    import time

    store = ImageStore(tmp_path / "store")
    digest = store.put(b"an image")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()  # a pid that has exited
    folder = store.path(digest).parent
    names = {f".put-{dead}-a": True, f".put-{os.getpid()}-b": False, ".put-old": True, ".put-new": False}
    for name in names:
        (folder / name).write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(folder / ".put-old", (two_hours_ago, two_hours_ago))
    report = store.verify([digest])
    assert report.ok and len(report.temporary) == 4 and report.extra == []
    assert store.clean_temporary() == 2
    assert {p.name for p in store.iter_temporary()} == {n for n, stale in names.items() if not stale}
    assert store.read(digest) == b"an image"
