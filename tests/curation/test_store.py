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


def test_put_local_links_on_the_same_filesystem(tmp_path):
    import os

    store = ImageStore(tmp_path / "store")
    src = tmp_path / "a.jpg"
    src.write_bytes(b"image bytes")
    digest = hashlib.sha256(b"image bytes").hexdigest()
    assert store.put_local(src, digest) == "linked"
    assert os.path.samefile(src, store.path(digest)) and store.read(digest) == b"image bytes"
    assert store.put_local(src, digest) == "present"
    assert store.verify([digest]).ok


def test_put_local_copies_when_asked_or_when_the_link_fails(tmp_path, monkeypatch):
    import errno
    import os

    store = ImageStore(tmp_path / "store")
    data = b"y" * 3_000_000
    src = tmp_path / "b.jpg"
    src.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    assert store.put_local(src, digest, link=False) == "copied"
    assert not os.path.samefile(src, store.path(digest)) and store.read(digest) == data
    store.path(digest).unlink()

    def cross_device(*args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    assert store.put_local(src, digest) == "copied"
    assert store.read(digest) == data and not list((tmp_path / "store").rglob(".put-*"))


def test_put_local_replaces_a_stored_file_cut_short(tmp_path):
    store = ImageStore(tmp_path / "store")
    src = tmp_path / "c.jpg"
    src.write_bytes(b"complete content")
    digest = hashlib.sha256(b"complete content").hexdigest()
    store.path(digest).parent.mkdir(parents=True)
    store.path(digest).write_bytes(b"compl")  # what a crash before the sync may leave
    assert store.put_local(src, digest) == "linked"
    assert store.verify([digest]).ok


def test_unsynced_put_fsyncs_nothing_and_sync_flushes_the_store_filesystem(tmp_path, monkeypatch):
    import os

    import curation.store as store_module

    store = ImageStore(tmp_path / "store")
    fsynced, synced = [], []
    monkeypatch.setattr(os, "fsync", lambda fd: fsynced.append(fd))
    digest = store.put(b"batch image", durable=False)
    assert digest == hashlib.sha256(b"batch image").hexdigest() and store.read(digest) == b"batch image"
    assert fsynced == [] and not list((tmp_path / "store").rglob(".put-*"))
    assert store.put(b"durable image") and len(fsynced) == 2  # the file, then its folder

    def syncfs(fd: int) -> int:
        synced.append(os.fstat(fd).st_dev)
        return 0

    monkeypatch.setattr(store_module, "_syncfs", lambda: syncfs)
    store.sync()
    assert synced == [os.stat(tmp_path / "store").st_dev]  # the store's own filesystem, once
    whole_system = []
    monkeypatch.setattr(store_module, "_syncfs", lambda: None)  # no syncfs (not Linux): sync everything
    monkeypatch.setattr(os, "sync", lambda: whole_system.append(True))
    store.sync()
    assert whole_system == [True]


def test_put_replaces_a_file_cut_short_or_altered_and_keeps_a_whole_one(tmp_path):
    store = ImageStore(tmp_path / "store")
    data = b"an image that a power cut may cut short"
    digest = hashlib.sha256(data).hexdigest()
    store.path(digest).parent.mkdir(parents=True)
    for damaged in (b"", data[:10], b"X" * len(data)):  # what an unsynced write may leave after a crash
        store.path(digest).write_bytes(damaged)
        assert store.put(data, durable=False) == digest and store.read(digest) == data
        store.path(digest).write_bytes(damaged)
        assert store.put(data) == digest and store.read(digest) == data
    before = store.path(digest).stat().st_ino
    assert store.put(data, durable=False, sha256=digest) == digest
    assert store.path(digest).stat().st_ino == before, "a whole file was rewritten"
    assert store.verify([digest]).ok and not list((tmp_path / "store").rglob(".put-*"))
