import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from curation.db.models import Image, ImageClass, SourceRecord
from curation.store import ImageStore
from tests.conftest import make_image_bytes


def _sample_folder(root, n_per_class=3):
    for cls in ("goldfish", "Great White Shark", "not_a_class"):
        (root / cls).mkdir(parents=True)
        for i in range(n_per_class):
            (root / cls / f"{i}.jpg").write_bytes(make_image_bytes(hash((cls, i)) % 10_000))
    (root / "goldfish" / "copy.jpg").write_bytes((root / "goldfish" / "0.jpg").read_bytes())
    (root / "readme.txt").write_text("not an image")
    (root / "goldfish" / "truncated.jpg").write_bytes(make_image_bytes(5, (200, 200))[:300])
    (root / "goldfish" / "bomb.png").write_bytes(_png_header(50_000, 50_000))


def _png_header(width, height):
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + b"\x00\x00\x00\x00IEND\xaeB`\x82")


def test_import_labels_rejects_and_is_idempotent(workspace, db_url, cli, tmp_path):
    src = tmp_path / "src"
    _sample_folder(src)
    out = cli("import", src, "--class-set", "imagenet-r", "--label-from-folder").output
    assert "imported 9 new" in out and "1 identical copies merged" in out and "3 rejected" in out
    assert "not_a_class" in out
    engine = create_engine(db_url)
    with Session(engine) as session:
        records = session.scalars(select(SourceRecord)).all()
        assert len(records) == 12  # copy.jpg has the bytes of goldfish/0.jpg: merged into its candidate
        reasons = sorted((r.error or "").split(":")[0] for r in records if r.status == "rejected")
        assert reasons == ["corrupt", "decompression-bomb", "not-an-image"]
        assert session.scalar(select(func.count()).select_from(Image)) == 9  # copy.jpg shares its image
        labels = {r.metadata_["relative_path"]: r.class_id for r in records}
        goldfish = session.scalar(select(ImageClass.id).where(ImageClass.key == "n01443537"))
        shark = session.scalar(select(ImageClass.id).where(ImageClass.name == "great white shark"))
        assert labels["goldfish/1.jpg"] == goldfish and labels["Great White Shark/0.jpg"] == shark
        assert labels["not_a_class/0.jpg"] is None and "copy.jpg" not in str(labels)
        first = next(r for r in records if r.metadata_["relative_path"] == "goldfish/0.jpg")
        assert first.metadata_["copies"] == ["goldfish/copy.jpg"]
        good = next(r for r in records if r.status == "downloaded")
        assert good.url.startswith("file://") and good.license == "unknown" and good.image.width == 64
    engine.dispose()
    out = cli("import", src, "--class-set", "imagenet-r").output
    assert "imported 0 new, 13 already known, 0 identical copies merged" in out  # 12 paths + the copy
    status = cli("status").output
    assert "candidates" in status and "12" in status and "decompression-bomb" in status
    assert "checked 9: 0 missing, 0 corrupted" in cli("store", "verify").output


def test_store_verify_exit_code_on_damage(workspace, cli, tmp_path):
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "x.jpg").write_bytes(make_image_bytes(1))
    cli("import", src)
    store = ImageStore(workspace / "store")
    digest = next(store.iter_digests())
    store.path(digest).write_bytes(b"rot")
    result = cli("store", "verify", ok=False)
    assert result.exit_code == 1 and f"corrupted {digest}" in result.output


def test_classes_import_and_list(workspace, cli, tmp_path):
    f = tmp_path / "birds.csv"
    f.write_text("name\nrobin\nblue jay\n")
    assert "2 classes" in cli("classes", "import", f, "--name", "birds").output
    listing = cli("classes", "list").output
    assert "birds" in listing and "imagenet-r" in listing and "200" in listing
    assert "blue jay" in cli("classes", "list", "birds").output


@pytest.mark.slow
def test_killed_import_resumes_to_the_same_result(workspace, db_url, tmp_path):
    src = tmp_path / "many"
    src.mkdir()
    for i in range(400):
        (src / f"{i:04d}.jpg").write_bytes(make_image_bytes(i, (96, 96)))
    env = {**os.environ, "CURATE_DB": db_url, "CURATE_WORKSPACE": str(workspace)}
    cmd = [sys.executable, "-m", "curation", "import", str(src), "--batch", "20"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    engine = create_engine(db_url)
    deadline = time.time() + 60
    while time.time() < deadline:
        with Session(engine) as session:
            if session.scalar(select(func.count()).select_from(SourceRecord)) >= 60:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Session(engine) as session:
        partial = session.scalar(select(func.count()).select_from(SourceRecord))
    assert 0 < partial < 400, "the import was not interrupted part-way"
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    store = ImageStore(workspace / "store")
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(SourceRecord)) == 400
        digests = session.scalars(select(Image.sha256)).all()
        assert len(digests) == 400
        assert session.scalar(select(func.count()).where(SourceRecord.status != "downloaded")) == 0
    engine.dispose()
    assert store.verify(digests).ok


def _png_cut_short_with_iend_text():
    """A PNG cut in its pixel data whose text chunk contains 'IEND': the tail check passes, the decode fails."""
    import io

    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("note", "IEND")
    buf = io.BytesIO()
    Image.open(io.BytesIO(make_image_bytes(11, (200, 150)))).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()[: len(buf.getvalue()) // 2]


def test_import_probes_headers_links_and_filter_decodes_once(workspace, db_url, cli, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"{i}.jpg").write_bytes(make_image_bytes(40 + i, (120, 90)))
    whole = make_image_bytes(50, (200, 150))
    (src / "cut.jpg").write_bytes(whole[: len(whole) // 2])  # no end-of-image marker: refused at import
    (src / "cut.png").write_bytes(_png_cut_short_with_iend_text())
    out = cli("import", src).output
    assert "imported 4 new" in out and "1 rejected (truncated: 1)" in out
    store = ImageStore(workspace / "store")
    engine = create_engine(db_url)
    with Session(engine) as session:
        refused = session.scalar(select(SourceRecord).where(SourceRecord.status == "rejected"))
        assert refused.source_id.endswith("cut.jpg") and "end-of-image" in refused.error
        digest = session.scalar(select(Image.sha256).join(SourceRecord).where(SourceRecord.source_id.like("%0.jpg")))
        assert os.path.samefile(store.path(digest), src / "0.jpg"), "same filesystem: hard-linked"
    cli("filter")
    from curation.db.models import FilterDecision

    with Session(engine) as session:
        cut = session.scalar(select(Image.id).join(SourceRecord).where(SourceRecord.source_id.like("%cut.png")))
        reasons = session.scalars(select(FilterDecision.reason).where(
            FilterDecision.image_id == cut, FilterDecision.verdict == "reject")).all()
        assert reasons and all(r.startswith("corrupt") and "truncated" in r for r in reasons)
        good = session.scalar(select(Image.id).join(SourceRecord).where(SourceRecord.source_id.like("%1.jpg")))
        assert not session.scalars(select(FilterDecision).where(
            FilterDecision.image_id == good, FilterDecision.verdict == "reject")).all()
    engine.dispose()


def test_import_copy_flag_keeps_the_store_independent(workspace, db_url, cli, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes(make_image_bytes(60))
    cli("import", src, "--copy")
    engine = create_engine(db_url)
    with Session(engine) as session:
        digest = session.scalar(select(Image.sha256))
    engine.dispose()
    stored = ImageStore(workspace / "store").path(digest)
    assert not os.path.samefile(stored, src / "a.jpg") and stored.read_bytes() == (src / "a.jpg").read_bytes()
