"""Datasets over frozen exports: checksum verification with a cache, class alignment by key, targets."""

from __future__ import annotations

import numpy as np
import pytest

from curation.errors import CurateError
from models.data import (EpochSampler, ExportDataset, aligned_classes, collect_items, open_export, verify_cached)
from models.transforms import EvalTransform, TrainTransform


def test_verification_is_cached_and_catches_altered_files(photos):
    assert verify_cached(photos) > 0
    assert verify_cached(photos) == 0  # second run: nothing rehashed
    victim = next((photos / "train").rglob("*.jpg"))
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(CurateError, match="differ from SHA256SUMS"):
        open_export(photos)
    (photos / "stray.txt").write_text("x")
    with pytest.raises(CurateError, match="extra"):
        open_export(photos)


def test_concatenated_exports_align_labels_by_class_key(make_export):
    a = make_export("a", {"train": 1}, keys=["cat", "dog", "eel"])
    b = make_export("b", {"train": 1}, keys=["dog", "fox"], seed=3)  # ImageFolder would call dog 0 here
    exports = [open_export(a), open_export(b)]
    classes = aligned_classes(exports)
    assert [c.key for c in classes] == ["cat", "dog", "eel", "fox"]
    items = collect_items(exports, ["train"], classes)
    by_key = {(it.export, it.row.labels[0]): it.labels[0] for it in items}
    assert by_key[("a", "dog")] == by_key[("b", "dog")] == 1
    assert by_key[("b", "fox")] == 3


def test_unknown_class_is_a_clear_error(make_export):
    a = make_export("a", {"test": 1}, keys=["cat", "dog"])
    with pytest.raises(CurateError, match="does not know"):
        collect_items([open_export(a)], None, aligned_classes([open_export(make_export("b", {"x": 1}, keys=["cat"]))]))


def test_multi_label_targets_and_views(make_export):
    root = make_export("dfr", {"train": 3}, keys=["top", "skirt", "dress"], multi_label=True, seed=2)
    export = open_export(root)
    classes = aligned_classes([export])
    items = collect_items([export], ["train"], classes)
    ds = ExportDataset(items, len(classes), TrainTransform(24, views=3), multi_label=True, seed=1)
    views, target, index = ds[0]
    assert len(views) == 3 and views[0].shape == (3, 24, 24)
    assert target.tolist() == [1.0 if i in items[0].labels else 0.0 for i in range(3)]
    assert any(len(it.labels) > 1 for it in items)
    again = ExportDataset(items, len(classes), TrainTransform(24, views=3), multi_label=True, seed=1)[0][0][1]
    assert np.array_equal(views[1].numpy(), again.numpy())  # same (seed, epoch, index) -> same crop


def test_epoch_sampler_is_deterministic_sharded_and_resumable():
    s = EpochSampler(10, True, seed=4)
    s.set_epoch(2)
    full = list(s)
    s.set_epoch(2, start=4)
    assert list(s) == full[4:]
    ranks = [EpochSampler(10, True, 4, rank=r, world=2, drop_last=True) for r in range(2)]
    for r in ranks:
        r.set_epoch(2)
    assert sorted(list(ranks[0]) + list(ranks[1])) == sorted(full)


def test_eval_transform_resizes_then_crops():
    from PIL import Image

    out = EvalTransform(36, 32)(Image.new("RGB", (80, 40)))
    assert out.size == (32, 32)
    assert EvalTransform(0, 0)(Image.new("RGB", (80, 40))).size == (80, 40)


def test_images_inside_a_webdataset_tar_are_read(tmp_path, monkeypatch):
    import hashlib
    import io
    import tarfile

    from PIL import Image

    from splits.frozen import ClassEntry, ManifestRow, write_metadata

    monkeypatch.setenv("CURATE_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "wds"
    root.mkdir()
    rows = []
    with tarfile.open(root / "shard-000000.tar", "w") as tar:
        for i, key in enumerate(["cat", "dog"]):
            buf = io.BytesIO()
            Image.new("RGB", (20 + i, 10), (200 * i, 50, 50)).save(buf, "JPEG")
            data = buf.getvalue()
            info = tarfile.TarInfo(f"{i:04d}.jpg")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            rows.append(ManifestRow(f"shard-000000.tar#{i:04d}.jpg", hashlib.sha256(data).hexdigest(), "test", (key,)))
    write_metadata(root, {"name": "wds"}, [ClassEntry(0, "cat", "cat"), ClassEntry(1, "dog", "dog")], rows, "# wds\n")
    export = open_export(root)
    items = collect_items([export], None, aligned_classes([export]))
    ds = ExportDataset(items, 2, EvalTransform(0, 0))
    assert [tuple(ds[i][0][0].shape) for i in range(2)] == [(3, 10, 20), (3, 10, 21)]
    assert hashlib.sha256(items[1].read_bytes()).hexdigest() == rows[1].sha256


def test_device_decoding_path_runs_on_cpu_for_jpeg_and_png(tmp_path):
    """The GPU evaluation path (bytes -> decode -> resize/crop on the device), exercised with device=cpu."""
    import torch
    from PIL import Image

    from models.accel import JpegBytesDataset, collate_bytes, decode_on_device
    from models.data import Item, load_rgb, to_tensor
    from splits.frozen import ManifestRow

    items = []
    for i, fmt in enumerate(("JPEG", "PNG")):
        arr = (np.random.default_rng(i).random((90, 120, 3)) * 255).astype(np.uint8)
        path = tmp_path / f"img{i}.{fmt.lower()}"
        Image.fromarray(arr).save(path, fmt)
        items.append(Item(path, (0,), ManifestRow(path.name, "", "test", ("a",)), "x"))
    ds = JpegBytesDataset(items, None, "eval", 56, 64)
    datas, boxes, _, _ = collate_bytes([ds[i] for i in range(2)])
    got = decode_on_device(datas, boxes, torch.device("cpu")).float()
    want = torch.stack([to_tensor(EvalTransform(64, 56)(load_rgb(it.path))) for it in items]).float()
    assert got.shape == want.shape == (2, 3, 56, 56)
    assert (got - want).abs().mean() < 6  # same picture; resamplers differ slightly on noise
    train = JpegBytesDataset(items, None, "train", 32, seed=3)
    assert decode_on_device(*collate_bytes([train[0], train[1]])[:2], torch.device("cpu")).shape == (2, 3, 32, 32)
