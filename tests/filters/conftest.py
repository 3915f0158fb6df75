"""Images for the filter tests: photo-like pictures (smooth random structure), their planted
copies, and bad files, all generated here."""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image


def photo(seed: int, size: tuple[int, int] = (240, 180)) -> Image.Image:
    """A distinct RGB picture: smooth random blobs at a few scales plus a little grain."""
    rng = np.random.default_rng(seed)
    w, h = size
    out = np.zeros((h, w, 3), dtype=np.float32)
    for cells, amp in ((3, 1.0), (6, 0.6), (12, 0.3)):
        grid = (rng.random((cells, cells, 3)) * 255).astype(np.uint8)
        out += amp * np.asarray(Image.fromarray(grid).resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
    out = out / 1.9 + rng.normal(0, 2, (h, w, 3))
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def encode(img: Image.Image, fmt: str = "JPEG", **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that is only a header claiming ``width`` x ``height`` pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + b"\x00\x00\x00\x00IEND\xaeB`\x82")


def planted_folder(root, n_originals: int = 6) -> dict[str, str]:
    """A folder of originals with planted copies and bad files; returns file name -> what it is."""
    root.mkdir(parents=True, exist_ok=True)
    kinds: dict[str, str] = {}

    def put(name: str, data: bytes, kind: str) -> None:
        (root / name).write_bytes(data)
        stamp = 1_600_000_000 + 60 * len(kinds)  # upload order = write order (keeper tie-break)
        os.utime(root / name, (stamp, stamp))
        kinds[name] = kind

    for i in range(n_originals):
        put(f"orig{i}.jpg", encode(photo(i), quality=92), "original")
    base = photo(0)
    put("reencode0.jpg", encode(base, quality=60), "reencode")
    put("big1.jpg", encode(photo(1).resize((480, 360), Image.Resampling.BICUBIC), quality=90), "bigger")
    put("mirror2.jpg", encode(photo(2).transpose(Image.Transpose.FLIP_LEFT_RIGHT), quality=90), "mirror")
    put("orig3.png", encode(photo(3), "PNG"), "pixels-a")
    put("orig3-again.png", encode(photo(3), "PNG", compress_level=1), "pixels-b")
    put("black.jpg", encode(Image.new("RGB", (200, 150), (2, 2, 2))), "black")
    put("flat.png", encode(Image.new("RGB", (200, 150), (90, 140, 200)), "PNG"), "flat")
    put("tiny.jpg", encode(photo(50, (20, 20))), "tiny")
    put("wide.jpg", encode(photo(51, (600, 100))), "aspect")
    frames = [photo(60 + k) for k in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
    put("anim.gif", buf.getvalue(), "animated")
    return kinds


@pytest.fixture
def planted(tmp_path):
    folder = tmp_path / "planted"
    return folder, planted_folder(folder)
