"""Synthetic JPEG exports for the benchmarks (photo-like images at a realistic size)."""

from __future__ import annotations

import hashlib
import io
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from splits.frozen import ClassEntry, ManifestRow, write_metadata


def _image(args: tuple[int, int, int, int]) -> bytes:
    from PIL import Image

    seed, label, width, height = args
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(40, 220, 3) + 30 * np.sin(label + np.arange(3))
    field = np.sin(xx / rng.uniform(8, 40) + rng.uniform(0, 6)) * np.cos(yy / rng.uniform(8, 40))
    img = base * (0.7 + 0.3 * field[..., None]) + rng.normal(0, 8, (height, width, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def make_export(root: Path, n: int, n_classes: int, size: tuple[int, int], subset: str, workers: int = 8) -> Path:
    """An export of ``n`` JPEGs laid out as ``subset/<class>/<sha>.jpg`` (ImageFolder-compatible)."""
    root = Path(root)
    if (root / "SHA256SUMS").exists():
        return root
    keys = [f"c{i:03d}" for i in range(n_classes)]
    jobs = [(i, i % n_classes, size[0], size[1]) for i in range(n)]
    rows = []
    with ProcessPoolExecutor(workers) as pool:
        for (seed, label, _, _), data in zip(jobs, pool.map(_image, jobs, chunksize=32)):
            digest = hashlib.sha256(data).hexdigest()
            rel = f"{subset}/{keys[label]}/{digest}.jpg"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
            rows.append(ManifestRow(rel, digest, subset, (keys[label],)))
    classes = [ClassEntry(i, k, k) for i, k in enumerate(keys)]
    write_metadata(root, {"name": root.name}, classes, rows, f"# {root.name}\nsynthetic benchmark export\n")
    return root


def target_line(name: str, measured: float, goal: float, unit: str) -> str:
    verdict = "met" if measured >= goal else "missed"
    return f"TARGET {name}: {measured:.2f}{unit} (target >= {goal:g}{unit}) {verdict}"
