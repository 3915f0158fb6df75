"""bench/download.py's machinery on a few images: each contender downloads every image, curate keeps its
guarantees (a row per photo, bytes under their sha256) and its profile accounts for the time."""

from __future__ import annotations

import hashlib
from sqlalchemy import select

from curation.db.models import Image, SourceRecord
from curation.db.session import session_scope
from curation.emulator import CorpusConfig
from curation.emulator.api import photo_record
from curation.flickr.photos import pick_url
from tests.fixtures.bench import load_bench


def test_download_bench_contenders_fetch_every_image(tmp_path, start_emulator):
    bench = load_bench("download")
    emu = start_emulator(CorpusConfig(classes=("goldfish",), styles=("photo", "sketch"), per_cell=6, plants=0,
                                      reference_size=0))
    extras = {"license", "date_upload", "url_c", "url_l", "url_o", "url_z", "url_m"}
    records = [photo_record(p, extras, emu.base_url, emu.max_side, False) for p in emu.corpus.photos]
    urls = [pick_url(r, ("url_c", "url_l", "url_o"))[1] for r in records]  # as curate picks them
    assert bench.threadpool(urls, tmp_path / "pool", 4) == len(records) == len(list((tmp_path / "pool").iterdir()))
    settings, engine = bench.curate_setup(tmp_path / "ws", records)
    stats, seconds = bench.curate_run(settings, engine, 4)
    assert stats.downloaded == len(records) and not stats.failed and not stats.rejected
    with session_scope(engine) as session:
        rows = session.execute(select(SourceRecord.status, Image.sha256).join(Image)).all()
    engine.dispose()
    assert len(rows) == len(records) and {status for status, _ in rows} == {"downloaded"}
    for _, digest in rows:
        path = settings.store_path / digest[:2] / digest[2:4] / digest
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert stats.seconds["network"] > 0 and stats.seconds["database"] > 0
    assert "network" in stats.profile(seconds, 6) and "database" in stats.profile(seconds, 6)
