import io

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageFile

from curation.filters.hashing import HashJob, compute_hashes, dhash_pair, hash_bytes, phash_pair, to_unsigned
from tests.filters.conftest import encode, photo, png_header


def _bits(a: int, b: int) -> int:
    return bin((a ^ b) & ((1 << 64) - 1)).count("1")


def _u(value: int) -> int:
    return int(to_unsigned([value])[0])


def test_hashes_match_imagehash_on_the_same_input_and_mirrors_are_hashes_of_the_flip():
    gray = photo(1).convert("L")
    flipped = gray.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    p, pm = phash_pair(gray)
    d, dm = dhash_pair(gray)
    thumb = gray.resize((32, 32), Image.Resampling.LANCZOS, reducing_gap=1.0)  # pHash and dHash both start here
    mirror = thumb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert _u(p) == int(str(imagehash.phash(thumb)), 16)
    assert _u(pm) == int(str(imagehash.phash(mirror)), 16)
    assert _u(d) == int(str(imagehash.dhash(thumb)), 16)
    assert _u(dm) == int(str(imagehash.dhash(mirror)), 16)
    assert _bits(pm, phash_pair(flipped)[0]) <= 2 and _bits(dm, dhash_pair(flipped)[0]) <= 2  # the flipped image


def test_draft_decoded_hash_is_close_to_the_full_decode_baseline():
    data = encode(photo(2, (800, 600)), quality=90)
    ours = hash_bytes(data)
    baseline = int(str(imagehash.phash(Image.open(io.BytesIO(data)))), 16)
    assert ours.ok and ours.width == 800 and ours.height == 600
    assert _bits(_u(ours.phash), baseline) <= 6


def test_exif_orientation_is_applied_before_hashing():
    upright = photo(3, (300, 200))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera writes; EXIF 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = hash_bytes(encode(stored, quality=95, exif=exif.tobytes()))
    plain = hash_bytes(encode(upright, quality=95))
    assert rotated.ok and _bits(rotated.phash, plain.phash) <= 4
    no_tag = hash_bytes(encode(stored, quality=95))
    assert _bits(no_tag.phash, plain.phash) > 10


@pytest.mark.parametrize("mode", ["CMYK", "I;16", "I", "P+transparency", "LA", "L", "1", "RGBA", "F"])
def test_every_odd_mode_hashes(mode):
    base = photo(4)
    if mode == "CMYK":
        data = encode(base.convert("CMYK"), "JPEG", quality=95)
    elif mode in ("I;16", "I"):
        values = (np.asarray(base.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
        img = Image.fromarray(values) if mode == "I;16" else Image.fromarray(values.astype(np.int32))
        data = encode(img, "PNG") if mode == "I;16" else encode(img, "TIFF")
    elif mode == "P+transparency":
        pal = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
        data = encode(pal, "PNG", transparency=0)
    elif mode == "F":
        data = encode(Image.fromarray(np.asarray(base.convert("L"), dtype=np.float32) / 255.0), "TIFF")
    else:
        data = encode(base.convert(mode), "PNG")
    result = hash_bytes(data)
    assert result.ok, result.reason
    assert None not in (result.phash, result.dhash, result.phash_mirror, result.dhash_mirror, result.pixel_sha256)
    reference = hash_bytes(encode(base.convert("L"), "PNG"))
    if mode not in ("1", "P+transparency"):  # dithering / palette quantisation move a few bits
        assert _bits(result.phash, reference.phash) <= 6, mode
    assert 8 < result.std and 40 < result.mean < 220


def test_sixteen_bit_is_rescaled_not_clipped():
    values = np.linspace(0, 65535, 200 * 100).reshape(100, 200).astype(np.uint16)
    result = hash_bytes(encode(Image.fromarray(values), "PNG"))
    assert result.ok and 100 < result.mean < 155 and result.std > 50


def test_decompression_bomb_header_is_refused_before_decoding(monkeypatch):
    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    result = hash_bytes(png_header(50_000, 50_000))
    assert not result.ok and result.reason.startswith("decompression-bomb")


@pytest.mark.parametrize("data, kind", [
    (b"", "empty-file"), (b"not an image at all", "not-an-image"),
    (None, "corrupt"),  # truncated JPEG
])
def test_bad_bytes_become_reasons(data, kind):
    if data is None:
        data = encode(photo(5, (400, 300)), quality=95)[:2000]
    result = hash_bytes(data)
    assert not result.ok and result.reason.startswith(kind)


def test_pool_hashes_files_and_reports_missing_ones(tmp_path):
    paths = []
    for i in range(5):
        path = tmp_path / f"{i}.jpg"
        path.write_bytes(encode(photo(i)))
        paths.append(path)
    jobs = [HashJob(i, str(p), 10**8, want_sha256=True) for i, p in enumerate(paths)]
    jobs.append(HashJob(99, str(tmp_path / "missing.jpg"), 10**8))
    results = {r.key: r for r in compute_hashes(jobs, workers=2, chunk=2)}
    assert set(results) == {0, 1, 2, 3, 4, 99}
    assert all(results[i].ok and len(results[i].sha256) == 64 for i in range(5))
    assert not results[99].ok and results[99].reason.startswith("unreadable")


@pytest.mark.slow
def test_hashing_runs_on_ray(tmp_path):
    import ray
    jobs = []
    for i in range(6):
        path = tmp_path / f"{i}.jpg"
        path.write_bytes(encode(photo(i)))
        jobs.append(HashJob(i, str(path), 10**8))
    try:
        results = {r.key: r for r in compute_hashes(jobs, ray="auto", chunk=2)}
    finally:
        ray.shutdown()
    local = {r.key: r for r in compute_hashes(jobs, workers=1)}
    assert sorted(results) == list(range(6))
    assert all(results[i].phash == local[i].phash and results[i].pixel_sha256 == local[i].pixel_sha256 for i in range(6))


_FIELDS = ("ok", "width", "height", "format", "mode", "n_frames", "pixel_sha256", "phash", "dhash", "phash_mirror",
           "dhash_mirror", "mean", "std", "rgb")


def _pillow_only(monkeypatch):
    """Send every JPEG down Pillow's own open, draft and load (neither libjpeg-turbo path)."""
    from curation.filters import hashing

    monkeypatch.setattr(hashing, "_plain_jpeg", lambda *args: None)
    monkeypatch.setattr(hashing, "_turbo_draft", lambda img, data: None)


@pytest.mark.parametrize("mode,size,options", [
    ("RGB", (900, 700), {}), ("L", (900, 700), {}), ("RGB", (501, 377), {"progressive": True}),
    ("RGB", (640, 480), {"subsampling": 0}), ("RGB", (2600, 1900), {}), ("L", (97, 65), {}),
    ("RGB", (240, 180), {}), ("RGB", (330, 200), {}), ("L", (1000, 130), {})])  # where turbo's 3/8 or 5/8 would fit
def test_turbojpeg_paths_give_pillows_pixels_and_hashes(mode, size, options, monkeypatch):
    """Both libjpeg-turbo paths (the bare-header one and the one after Pillow's header parse) give every
    value Pillow's own draft + load gives."""
    from curation.filters import hashing

    data = encode(photo(6, size).convert(mode), quality=88, **options)
    assert hashing._plain_header(data) == 1  # no APP1: the plain-header path takes it
    fast = hash_bytes(data)
    monkeypatch.setattr(hashing, "_plain_jpeg", lambda *args: None)
    after_parse = hash_bytes(data)
    _pillow_only(monkeypatch)
    slow = hash_bytes(data)
    assert fast.ok and after_parse.ok and slow.ok
    for name in _FIELDS:
        assert getattr(fast, name) == getattr(slow, name) == getattr(after_parse, name), name


def test_pixel_digest_is_sha256_of_pillows_draft_pixels():
    """The stored pixel digest, derived here from Pillow alone: mode, full size, draft size, raw pixels."""
    import hashlib

    data = encode(photo(8, (800, 600)), quality=90)
    img = Image.open(io.BytesIO(data))
    img.draft("RGB", (64, 64))
    img.load()
    expected = hashlib.sha256(f"RGB:800x600:{img.size[0]}x{img.size[1]}:".encode() + img.tobytes()).hexdigest()
    assert img.size == (100, 75) and hash_bytes(data).pixel_sha256 == expected


def _with_app1(data: bytes, payload: bytes) -> bytes:
    return data[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:]


def _exif_block(order: bytes, entries: list[tuple[int, int, int, int]]) -> bytes:
    """An EXIF APP1 payload written by hand: TIFF header, IFD0 with ``entries`` (tag, type, count, value)."""
    o = "little" if order == b"II" else "big"
    body = order + (42).to_bytes(2, o) + (8).to_bytes(4, o) + len(entries).to_bytes(2, o)
    for tag, kind, count, value in entries:
        body += tag.to_bytes(2, o) + kind.to_bytes(2, o) + count.to_bytes(4, o) + value.to_bytes(2, o) + b"\0\0"
    return b"Exif\x00\x00" + body + (0).to_bytes(4, o)


def test_only_headers_with_nothing_but_an_exif_orientation_skip_pillows_parse():
    from curation.filters.hashing import _plain_header

    base = photo(9, (120, 90))
    data = encode(base, quality=90)
    assert _plain_header(data) == 1
    upright, turned = Image.Exif(), Image.Exif()
    upright[0x0112], turned[0x0112] = 1, 6
    assert _plain_header(encode(base, quality=90, exif=upright.tobytes())) == 1  # Pillow's own EXIF writer
    assert _plain_header(encode(base, quality=90, exif=turned.tobytes())) == 6
    assert _plain_header(_with_app1(data, _exif_block(b"MM", [(0x0112, 3, 1, 8)]))) == 8  # big-endian
    assert _plain_header(_with_app1(data, _exif_block(b"II", [(0x010F, 2, 4, 0)]))) == 1  # no orientation tag
    assert _plain_header(_with_app1(data, _exif_block(b"II", [(0x0112, 3, 1, 9)]))) is None  # no such orientation
    assert _plain_header(_with_app1(data, _exif_block(b"II", [(0x0112, 3, 1, 1), (0x0112, 3, 1, 6)]))) is None
    assert _plain_header(_with_app1(data, _exif_block(b"II", [(0x0112, 4, 1, 1)]))) is None  # not a SHORT
    assert _plain_header(_with_app1(data, b"Exif\x00\x00II*\x00\xff\xff\x00\x00")) is None  # IFD out of range
    two = _with_app1(_with_app1(data, _exif_block(b"II", [])), _exif_block(b"II", []))
    assert _plain_header(two) is None  # two EXIF blocks
    xmp = b'http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    assert _plain_header(_with_app1(data, xmp)) is None  # XMP can turn it too
    assert _plain_header(data[:40]) is None  # header cut short before the scan
    app2 = b"\xff\xe2\x00\x0aMPF\x00\x00\x00\x00\x00"  # a multi-picture index: Pillow calls it MPO
    assert _plain_header(data[:2] + app2 + data[2:]) is None


@pytest.mark.parametrize("name", ["upright", "no-orientation", "big-endian", "turned", "xmp-turned", "bad-ifd",
                                  *(f"orientation-{k}" for k in range(2, 9))])
def test_jpegs_with_metadata_hash_as_pillow_alone_hashes_them(name, monkeypatch):
    """Whichever path a JPEG with EXIF or XMP takes, every value is what Pillow's own open, draft, load and
    EXIF transpose give."""
    data = encode(photo(11, (640, 480)), quality=90)
    payload = {f"orientation-{k}": _exif_block(b"MM" if k % 2 else b"II", [(0x0112, 3, 1, k)]) for k in range(2, 9)}
    payload |= {
        "upright": _exif_block(b"II", [(0x0112, 3, 1, 1)]),
        "no-orientation": _exif_block(b"II", [(0x010F, 2, 4, 0)]),
        "big-endian": _exif_block(b"MM", [(0x0112, 3, 1, 1)]),
        "turned": _exif_block(b"II", [(0x0112, 3, 1, 6)]),
        "xmp-turned": b'http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description tiff:Orientation="8"/>'
                      b'</x:xmpmeta>',
        "bad-ifd": b"Exif\x00\x00II*\x00\xff\xff\x00\x00",
    }
    payload = payload[name]
    plain = hash_bytes(data)
    data = _with_app1(data, payload)
    fast = hash_bytes(data)
    _pillow_only(monkeypatch)
    slow = hash_bytes(data)
    assert fast.ok == slow.ok
    for field in _FIELDS:
        assert getattr(fast, field) == getattr(slow, field), field
    if name in ("turned", "xmp-turned") or name.startswith("orientation-"):  # turned: other pixels and hashes
        assert fast.pixel_sha256 != plain.pixel_sha256 and _bits(fast.phash, plain.phash) > 10
    elif name != "bad-ifd":
        assert fast.pixel_sha256 == plain.pixel_sha256 and fast.phash == plain.phash


def test_jpeg_over_the_pixel_cap_is_refused_with_pillows_reason():
    data = encode(photo(10, (400, 300)), quality=90)
    result = hash_bytes(data, max_pixels=100_000)
    assert not result.ok and result.reason.startswith("decompression-bomb") and result.phash is None


def test_jpeg_with_a_recoverable_libjpeg_warning_still_hashes():
    """Stray bytes before a marker make libjpeg warn; Pillow decodes such files, and so do the filters."""
    import simplejpeg

    data = encode(photo(7, (400, 300)), quality=90)
    scan = data.index(b"\xff\xda")
    damaged = data[:scan] + b"\x00\x00\x00" + data[scan:]
    with pytest.raises(ValueError, match="extraneous bytes"):  # the fast path refuses it ...
        simplejpeg.decode_jpeg(damaged)
    clean, result = hash_bytes(data), hash_bytes(damaged)  # ... and Pillow's path takes it
    assert result.ok, result.reason
    assert result.pixel_sha256 == clean.pixel_sha256 and result.phash == clean.phash


@pytest.mark.parametrize("size", [(1, 1), (7, 40), (31, 33), (32, 32), (33, 32), (64, 64), (94, 125), (125, 94),
                                  (200, 33), (500, 375), (1000, 17), (4000, 3000)])
def test_thumbnail_on_the_image_core_is_pillows_resize(size):
    """The thumbnail computed on Pillow's image core is byte for byte Pillow's own LANCZOS resize with
    ``reducing_gap=1.0`` (the public call), whatever the size."""
    from curation.filters.hashing import _thumb32_bytes

    rng = np.random.default_rng(size[0] * 7919 + size[1])
    gray = Image.fromarray(rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8), "L")
    expected = gray.resize((32, 32), Image.Resampling.LANCZOS, reducing_gap=1.0).tobytes()
    assert _thumb32_bytes(gray) == expected
