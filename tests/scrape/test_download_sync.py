"""Downloads write the store without per-file fsyncs: one sync of the store's filesystem comes before each
batch's commit, so every committed row names a file already on disk; a kill between the two resumes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from curation.db.models import Image, SourceRecord
from curation.db.session import connect, session_scope, upgrade
from curation.download.runner import download, select_records
from curation.emulator import CorpusConfig
from curation.store import ImageStore

CORPUS = CorpusConfig(classes=("goldfish",), styles=("photo", "sketch"), per_cell=15, plants=0, reference_size=0)


def _records(engine, emu) -> list[tuple]:
    with session_scope(engine) as session:
        for photo in emu.corpus.photos:
            session.add(SourceRecord(source="flickr", source_id=photo.id,
                                     url=f"{emu.base_url}/{photo.server}/{photo.id}_{photo.secret}.jpg"))
    with session_scope(engine) as session:
        return select_records(session)


def _files(root: Path) -> set[str]:
    return {p.name for p in root.glob("??/??/*") if not p.name.startswith(".put-")}


def _downloaded(engine) -> set[str]:
    with session_scope(engine) as session:
        return set(session.scalars(select(Image.sha256).join(SourceRecord, SourceRecord.image_id == Image.id)
                                   .where(SourceRecord.status == "downloaded")))


def test_each_batch_is_synced_before_its_commit_and_no_file_is_fsynced(engine, tmp_path, start_emulator,
                                                                       monkeypatch):
    emu = start_emulator(CORPUS)
    records = _records(engine, emu)
    store = ImageStore(tmp_path / "store")
    events: list[tuple[str, set[str]]] = []
    real_sync = ImageStore.sync

    def recording_sync(self) -> None:
        real_sync(self)
        events.append(("sync", _files(self.root)))  # what is on disk once the sync returned

    fsynced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(ImageStore, "sync", recording_sync)
    monkeypatch.setattr(os, "fsync", lambda fd: (fsynced.append(fd), real_fsync(fd)))
    stats = download(engine, store, records, max_pixels=10_000_000, max_bytes=10_000_000, workers=4, batch=7,
                     on_result=lambda s: events.append(("committed", _downloaded(engine))))
    assert stats.downloaded == len(records) == 30 and not fsynced, "the store's files were fsynced one by one"
    commits = len(events) // 2
    assert [kind for kind, _ in events] == ["sync", "committed"] * commits  # each batch: its sync, then its commit
    assert commits >= -(-len(records) // 7)
    before: set[str] = set()
    for (_, on_disk), (_, named) in zip(events[::2], events[1::2]):
        assert named <= on_disk, "a committed row names a file that was not on disk when the batch was synced"
        assert 0 < len(named - before) <= 7  # at most a batch a commit (fewer at the end)
        before = named
    assert len(named) == 30
    for digest in named:
        assert hashlib.sha256(store.read(digest)).hexdigest() == digest


KILLED_AT_SECOND_SYNC = """
import os, signal, sys
from curation.db.session import connect, session_scope
from curation.download.runner import download, select_records
from curation.store import ImageStore

calls = []
def sync_then_die(self):
    calls.append(1)
    if len(calls) == 2:  # the second batch's files are written, its rows not committed
        os.kill(os.getpid(), signal.SIGKILL)
ImageStore.sync = sync_then_die
engine = connect(sys.argv[1])
with session_scope(engine) as session:
    records = select_records(session)
download(engine, ImageStore(sys.argv[2]), records, max_pixels=10_000_000, max_bytes=10_000_000, workers=2,
         batch=10)
"""


def test_killed_between_store_and_commit_resumes_with_every_file_whole(tmp_path, start_emulator):
    emu = start_emulator(CORPUS)
    url = f"sqlite:///{tmp_path / 'curate.sqlite'}"
    engine = connect(url)
    upgrade(engine)
    records = _records(engine, emu)
    store = ImageStore(tmp_path / "store")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", KILLED_AT_SECOND_SYNC, url, str(store.root)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    committed = _downloaded(engine)
    assert len(committed) == 10, "exactly the first batch was committed"
    uncommitted = _files(store.root) - committed
    assert uncommitted, "the killed batch had written files that no row names"
    # a power cut after an unsynced write may leave a file cut short under its final name
    victim = store.path(sorted(uncommitted)[0])
    victim.write_bytes(victim.read_bytes()[:100])
    with session_scope(engine) as session:
        todo = select_records(session)
    assert len(todo) == len(records) - 10
    stats = download(engine, store, todo, max_pixels=10_000_000, max_bytes=10_000_000, workers=4, batch=10)
    assert stats.downloaded == len(todo)
    with session_scope(engine) as session:
        states = set(session.scalars(select(SourceRecord.status)))
    assert states == {"downloaded"}
    digests = _downloaded(engine)
    assert len(digests) == len(records)
    report = store.verify(digests)
    assert report.ok and not report.extra, (report.missing, report.corrupted, report.extra)
    engine.dispose()
