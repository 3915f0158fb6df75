"""Fixtures: a tiny frozen export built here, and small clean weight files with the published names."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from splits import frozen
from tests.conftest import make_image_bytes

CLASSES = ["n01443537", "n01484850", "n01494475"]


def build_export(root: Path, n: int = 6, size: tuple[int, int] = (24, 20), bad: int = 0) -> Path:
    """``n`` images over three classes (``bad`` of them corrupt bytes) as a frozen export."""
    rows = []
    for i in range(n):
        data = make_image_bytes(i, size=size) if i >= bad else b"not an image" * 10
        sha = hashlib.sha256(data).hexdigest()
        key = CLASSES[i % len(CLASSES)]
        rel = f"train/{key}/{sha}.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        rows.append(frozen.ManifestRow(rel, sha, "train", (key,), source="folder", source_id=str(i),
                                       metadata={"style": "photo"}))
    classes = [frozen.ClassEntry(i, k, f"class {i}", 10 * i) for i, k in enumerate(CLASSES)]
    frozen.write_metadata(root, {"name": "tiny"}, classes, rows, "# tiny\n")
    return root


@pytest.fixture
def export(tmp_path) -> Path:
    return build_export(tmp_path / "export")


@pytest.fixture
def edsr_weights(tmp_path) -> Path:
    import torch

    from models.deepaugment.edsr import EDSR

    torch.manual_seed(0)
    path = tmp_path / "edsr.pt"
    torch.save(EDSR(n_feats=8).state_dict(), path)
    return path


@pytest.fixture
def cae_weights(tmp_path) -> Path:
    import torch

    from models.deepaugment.cae import CAE

    torch.manual_seed(0)
    path = tmp_path / "model_final.state"
    torch.save(CAE().state_dict(), path)
    return path
