"""Generated SVSF-style metadata tables and images, for the demo, the tests and ``bench/split_build.py``."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

COUNTRIES = ("US", "Mexico", "Canada", "France")
YEARS = ("2017", "2018", "2019")
CAMERAS = ("new", "old")


def svsf_table(n: int, rng: np.random.Generator, classes: list[str]):
    """A table with columns image, class, country, year, camera, business_id, license, owner.

    Attribute frequencies favour the training distribution (US/Mexico/Canada, 2019, new camera) so that
    every SVSF subset can be filled. Image paths are ``img/NNNNNNN.jpg``.
    """
    import pandas as pd

    country = rng.choice(len(COUNTRIES), n, p=[0.5, 0.15, 0.15, 0.2])
    year = rng.choice(len(YEARS), n, p=[0.15, 0.15, 0.7])
    camera = rng.choice(len(CAMERAS), n, p=[0.8, 0.2])
    ids = np.arange(n)
    names = np.char.add(np.char.add("img/", np.char.zfill(ids.astype(str), 7)), ".jpg").astype(object)
    return pd.DataFrame({
        "image": names, "class": np.asarray(classes, dtype=object)[rng.integers(0, len(classes), n)],
        "country": np.asarray(COUNTRIES, dtype=object)[country], "year": np.asarray(YEARS, dtype=object)[year],
        "camera": np.asarray(CAMERAS, dtype=object)[camera],
        "business_id": np.char.add("b", (rng.integers(0, max(1, n // 3), n)).astype(str)).astype(object),
        "license": "CC-BY-2.0", "owner": "",
    })


def jpeg_bytes(seed: int, size: tuple[int, int] = (64, 48), quality: int = 85) -> bytes:
    """A small generated JPEG, different for each seed."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (size[1] // 8 + 1, size[0] // 8 + 1, 3), dtype=np.uint8)
    pixels = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))[: size[1], : size[0]]
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def write_images(root: Path, names: list[str], seed: int = 0, size: tuple[int, int] = (64, 48)) -> None:
    """Write one generated JPEG at each relative path under ``root``."""
    for i, name in enumerate(names):
        path = Path(root) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg_bytes(seed * 1_000_003 + i, size))
