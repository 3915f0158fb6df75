"""Import decodes each new file once and stores the filters' hashes: they must be exactly what
``curate filter`` computes itself, and match an independent derivation (Pillow + imagehash)."""

from __future__ import annotations

import hashlib
import math
import shutil

import imagehash
import numpy as np
from PIL import Image
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from curation.db.models import FilterDecision, Image as ImageRow
from tests.curation.test_import import _png_cut_short_with_iend_text
from tests.filters.conftest import encode, photo, planted_folder

COLUMNS = ("width", "height", "format", "mode", "n_frames", "pixel_sha256", "phash", "dhash", "phash_mirror",
           "dhash_mirror", "pixel_mean", "pixel_std", "pixel_rgb", "decode_error")


def _folder(tmp_path):
    src = tmp_path / "src"
    planted_folder(src)
    (src / "cut.png").write_bytes(_png_cut_short_with_iend_text())  # header and tail pass, the decode fails
    shutil.copyfile(src / "orig1.jpg", src / "copy-of-orig1.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6
    (src / "rotated.jpg").write_bytes(encode(photo(7, (300, 200)).transpose(Image.Transpose.ROTATE_90),
                                             quality=95, exif=exif.tobytes()))
    (src / "gray.jpg").write_bytes(encode(photo(8, (320, 240)).convert("L"), quality=90))
    (src / "alpha.png").write_bytes(encode(photo(9).convert("RGBA"), "PNG"))
    return src


def _workspace(tmp_path, monkeypatch, cli, name: str, toml: str = ""):
    root = tmp_path / name
    url = f"sqlite:///{tmp_path / (name + '.sqlite')}"
    monkeypatch.setenv("CURATE_DB", url)
    monkeypatch.setenv("CURATE_WORKSPACE", str(root))
    cli("init", root)
    if toml:
        (root / "curate.toml").write_text(toml)
    return url


def _same(a: dict, b: dict) -> bool:
    """Equal columns; the float statistics to the last bits (numpy's batched sums may round the last one
    differently with another batch of images), everything else exactly."""
    keys = [c for c in COLUMNS if c in b]
    floats = ("pixel_mean", "pixel_std")
    return all(math.isclose(a[c], b[c], rel_tol=1e-12) if c in floats and a[c] is not None and b[c] is not None
               else a[c] == b[c] for c in keys)


def _rows(url: str) -> dict[str, dict]:
    engine = create_engine(url)
    with Session(engine) as session:
        rows = {i.sha256: i for i in session.scalars(select(ImageRow))}
        out = {sha: {c: getattr(i, c) for c in COLUMNS} | {"hashed": i.hashed_at is not None}
               for sha, i in rows.items()}
        decisions = session.execute(select(ImageRow.sha256, FilterDecision.filter, FilterDecision.verdict,
                                           FilterDecision.reason).join(FilterDecision)).all()
    engine.dispose()
    for sha, flt, verdict, reason in decisions:
        out[sha][flt] = (verdict, reason)
    return out


def test_import_stores_exactly_the_hashes_the_filter_computes(tmp_path, monkeypatch, cli):
    src = _folder(tmp_path)
    fused = _workspace(tmp_path, monkeypatch, cli, "fused")
    out = cli("import", src, "--workers", "2").output
    assert "1 identical copies merged" in out
    imported = _rows(fused)
    assert imported and all(r["hashed"] for r in imported.values()), "import hashed every new image"
    assert "hashed 0 (0 undecodable)" in cli("filter").output  # the filter decodes nothing
    assert "imported 0 new" in cli("import", src).output  # a rerun adds nothing and keeps the hashes
    fused_rows = _rows(fused)
    assert all(_same(fused_rows[k], imported[k]) for k in imported)

    # another pixel cap for the filter: import leaves the hashing to `curate filter`, which does it itself
    plain = _workspace(tmp_path, monkeypatch, cli, "plain", "[filter]\nmax_pixels = 178956969\n")
    cli("import", src, "--workers", "1")
    assert not any(r["hashed"] for r in _rows(plain).values())
    assert f"hashed {len(imported)} (1 undecodable)" in cli("filter").output
    filtered = _rows(plain)
    assert set(filtered) == set(fused_rows)
    for sha, row in fused_rows.items():
        assert _same(row, filtered[sha]), sha
        for flt in ("quality", "contamination", "duplicate"):
            assert row.get(flt) == filtered[sha].get(flt), (sha, flt)
    cut = next(r for r in fused_rows.values() if r["decode_error"])
    assert cut["quality"][0] == "reject" and cut["quality"][1].startswith("corrupt") and "truncated" in cut["quality"][1]


def _bits(a: int, b: int) -> int:
    return bin((a ^ b) & ((1 << 64) - 1)).count("1")


def test_imported_hashes_are_the_filters_function_of_the_bytes_and_close_to_imagehash(tmp_path, monkeypatch, cli):
    """Every stored row is ``hash_bytes`` of the file's own bytes with the workspace's pixel cap; and, derived
    independently, imagehash's pHash and dHash of the full decode (and of its mirror image) are within a
    few bits of the draft-decoded hashes, the grey mean within a grey level or two."""
    from curation.config import load_settings
    from curation.filters.hashing import hash_bytes, image_columns

    src = _folder(tmp_path)
    url = _workspace(tmp_path, monkeypatch, cli, "ws")
    cli("import", src)
    rows = _rows(url)
    max_pixels = load_settings(tmp_path / "ws").max_image_pixels
    near = 0
    for path in sorted(src.iterdir()):
        data = path.read_bytes()
        row = rows[hashlib.sha256(data).hexdigest()]
        result = hash_bytes(data, max_pixels=max_pixels)
        expected = {k: v for k, v in image_columns(result, None).items() if k not in ("id", "hashed_at")}
        assert _same({k: row[k] for k in expected}, expected), path.name
        assert (row["width"], row["height"], row["format"]) == (*Image.open(path).size, Image.open(path).format)
        img = Image.open(path)
        if img.mode != "RGB" or path.name == "cut.png" or "exif" in img.info:
            continue
        gray = np.asarray(img.convert("L"), dtype=np.float64)
        if gray.std() < 5:  # a flat picture's DCT is rounding noise: its pHash means nothing
            continue
        flipped = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        assert _bits(_unsigned(row["phash"]), int(str(imagehash.phash(img)), 16)) <= 8, path.name
        assert _bits(_unsigned(row["phash_mirror"]), int(str(imagehash.phash(flipped)), 16)) <= 8, path.name
        assert _bits(_unsigned(row["dhash"]), int(str(imagehash.dhash(img)), 16)) <= 12, path.name
        assert abs(row["pixel_mean"] - gray.mean()) < 2.0, path.name
        near += 1
    assert near >= 10


def _unsigned(value: int) -> int:
    return int(np.int64(value).view(np.uint64))


def test_import_writes_every_column_the_filters_hash_result_fills():
    """Import's fixed column list for hashed images covers every column ``image_columns`` fills, so a new
    hash column cannot be dropped on the way to the database."""
    import datetime as dt

    from curation.filters.hashing import hash_bytes, image_columns
    from curation.ingest.folder import _HASH_COLUMNS, _IMAGE_COLUMNS

    result = hash_bytes(encode(photo(3, (120, 90)), quality=90))
    filled = set(image_columns(result, dt.datetime(2026, 1, 1))) - {"id"}
    assert filled <= set(_IMAGE_COLUMNS + _HASH_COLUMNS) and set(_HASH_COLUMNS) <= filled
