"""Tiny frozen exports written with ``splits.frozen.write_metadata``: class-coloured images that a small
ResNet learns in a few steps, a rendition-like variant, and a multi-label (DFR-style) export."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from splits.frozen import ClassEntry, ManifestRow, write_metadata

COLOURS = [(220, 40, 40), (40, 200, 60), (50, 60, 220), (230, 210, 40)]


def class_image(rng: np.random.Generator, label: int, size: tuple[int, int], style: str) -> bytes:
    """A photo-like (smooth colour field + noise) or rendition-like (flat colour stripes, posterised) image."""
    from PIL import Image

    w, h = size
    base = np.array(COLOURS[label % len(COLOURS)], dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    shade = 0.75 + 0.25 * np.sin(xx / w * np.pi * rng.uniform(1, 3) + rng.uniform(0, 6))[..., None]
    img = base * shade + rng.normal(0, 18, (h, w, 3))
    if style == "rendition":
        img = np.where(((xx // 6) % 2 == 0)[..., None], img, 255 - img * 0.3)
        img = (img // 64) * 64 + 32
    out = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


def write_export(root: Path, n_per_class: dict[str, int], n_classes: int = 4, seed: int = 0, style: str = "photo",
                 size: tuple[int, int] = (48, 40), keys: Sequence[str] | None = None, multi_label: bool = False,
                 info: dict | None = None) -> Path:
    """An export with subsets ``n_per_class`` (subset -> images per class)."""
    rng = np.random.default_rng(seed)
    keys = list(keys or [f"class{i}" for i in range(n_classes)])
    classes = [ClassEntry(i, k, k.replace("_", " "), None) for i, k in enumerate(keys)]
    rows = []
    for subset, n in n_per_class.items():
        for label in range(len(keys)):
            for _ in range(n):
                data = class_image(rng, label, size, style)
                digest = hashlib.sha256(data).hexdigest()
                rel = f"{subset}/{keys[label]}/{digest}.jpg"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(data)
                labels = (keys[label],)
                if multi_label and rng.random() < 0.5:
                    labels = tuple(sorted({keys[label], keys[int(rng.integers(len(keys)))]}))
                rows.append(ManifestRow(rel, digest, subset, labels, "test", digest[:8], "", "", "cc-by",
                                        {"style": style}))
    write_metadata(root, {"name": root.name, "multi_label": multi_label, "seed": seed, **(info or {})}, classes,
                   rows, f"# {root.name}\n")
    return root


@pytest.fixture
def make_export(tmp_path, monkeypatch):
    """``make_export(name, {"train": 8, "val": 4}, **kw)`` writes a tiny export under tmp_path."""
    monkeypatch.setenv("CURATE_CACHE_DIR", str(tmp_path / "cache"))

    def make(name: str, subsets: dict[str, int], **kwargs) -> Path:
        return write_export(tmp_path / name, subsets, **kwargs)

    return make


@pytest.fixture
def photos(make_export) -> Path:
    return make_export("photos", {"train": 12, "val": 4})


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The test machine is shared: one intra-op thread is many times faster than two contending ones."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
