"""The README's "Your own images" path, end to end, as a new user takes it:

import a folder tree (class/rendition/file) -> filter (planted copies, a mirror, a near duplicate,
black and tiny images, a reference-set leak) -> split (train, IID test, two OOD sets) -> export in
every format -> load each with its own library (torchvision, datasets, webdataset, pandas) and count
every subset -> evaluate a small random ResNet-18 -> report.

Expected counts come from how the folder is built here, never from what curate printed.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from tests.filters.conftest import encode, photo

# the reference facts: ImageNet-R class, its wnid and its index into the 1000 ImageNet logits
CLASSES = {"goldfish": ("n01443537", 1), "lighthouse": ("n02814860", 437), "hammerhead": ("n01494475", 4)}
PHOTOS, SKETCHES, CARTOONS = 12, 4, 4
SPEC = """
name = "my-r"
class_set = "imagenet-r"
seed = 5
[source]
kind = "db"
[labels]
from = "reviewed"
[train]
where = { rendition = "photo" }
[iid_test]
fraction = 0.25
[[ood]]
name = "sketch"
change = { rendition = "sketch" }
[[ood]]
name = "cartoon-style"
change = { rendition = "cartoon" }
[leakage]
max_distance = 4
"""


def _tree(root: Path, reference: Path) -> dict[str, set[str]]:
    """in/<class>/<rendition>/<file>; returns the planted files each rejection rule must catch."""
    from PIL import Image

    seed = 0
    for name in CLASSES:
        for rendition, n in (("photo", PHOTOS), ("sketch", SKETCHES), ("cartoon", CARTOONS)):
            folder = root / name / rendition
            folder.mkdir(parents=True)
            for i in range(n):
                seed += 1
                (folder / f"{name[:4]}_{i}.jpg").write_bytes(encode(photo(seed), quality=92))
    gold, light, hammer = (root / n / "photo" for n in CLASSES)
    shutil.copy(gold / "gold_0.jpg", gold / "copy of gold_0.jpg")  # identical bytes: merged at import
    first = Image.open(gold / "gold_1.jpg")
    (gold / "gold_1 small.jpg").write_bytes(encode(first.resize((200, 150)), quality=70))  # near duplicate
    mirrored = Image.open(light / "ligh_0.jpg").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    (light / "ligh_0 flipped.jpg").write_bytes(encode(mirrored, quality=90))
    (root / "goldfish" / "sketch" / "black.jpg").write_bytes(encode(Image.new("RGB", (200, 150), (1, 1, 1))))
    (root / "hammerhead" / "cartoon" / "tiny.jpg").write_bytes(encode(photo(999, (24, 24))))
    reference.mkdir()
    leak = photo(777)
    (reference / "ILSVRC2012_val_00000001.JPEG").write_bytes(encode(leak, quality=85))
    (hammer / "leak.jpg").write_bytes(encode(leak, quality=95))
    return {"pairs": {"gold_1.jpg|gold_1 small.jpg", "ligh_0.jpg|ligh_0 flipped.jpg"},
            "never": {"black.jpg", "tiny.jpg", "leak.jpg", "copy of gold_0.jpg"}}


def _expected() -> dict[str, int]:
    """Per subset: the original photos (of each planted pair one is kept, the leak is not) split 75/25;
    the original sketches and cartoons (the planted black and tiny images are not)."""
    photos = len(CLASSES) * PHOTOS
    iid = round(0.25 * photos)
    return {"train": photos - iid, "iid_test": iid, "sketch": len(CLASSES) * SKETCHES,
            "cartoon-style": len(CLASSES) * CARTOONS}


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_own_images_to_a_verified_export_and_an_evaluation(table_workspace, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src, ref = tmp_path / "in", tmp_path / "ref"
    planted = _tree(src, ref)

    # import: the lighthouse folder names no class; curate suggests the WordNet synonym's class
    first = cli("import", src, "--class-set", "imagenet-r", "--path-fields", "class/rendition")
    assert "1 identical copies merged" in first.output
    assert "lighthouse: did you mean beacon (n02814860, synonym 'lighthouse')" in first.output
    again = cli("import", src, "--class-set", "imagenet-r", "--path-fields", "class/rendition",
                "--map", "lighthouse=beacon").output
    lighthouse_files = sum(1 for p in (src / "lighthouse").rglob("*.jpg"))
    assert "0 new" in again and f"{lighthouse_files} relabelled" in again

    cli("reference", "add", ref, "--name", "imagenet-val", "--workers", "1")
    cli("filter", "--workers", "1")
    assert "identical copies merged" in cli("status").output
    report = cli("filter", "report", "--out", tmp_path / "fr.html", "--groups", tmp_path / "groups.csv").output
    assert "groups.csv" in report
    with open(tmp_path / "groups.csv", newline="") as fh:
        groups = list(csv.DictReader(fh))
    copy_rows = [r for r in groups if r["role"] == "identical-copy"]
    assert len(copy_rows) == 1  # the second of the two identical files, whichever the walk met second
    assert Path(copy_rows[0]["relative_path"]).name in {"gold_0.jpg", "copy of gold_0.jpg"}
    for pair in planted["pairs"]:  # each planted pair is one group: a keeper and a rejected duplicate
        names = pair.split("|")
        rows = [r for r in groups if Path(r["relative_path"]).name in names and r["role"] != "identical-copy"]
        assert len({r["group"] for r in rows}) == 1 and sorted(r["decision"] for r in rows) == ["kept", "rejected"]

    (tmp_path / "my-r.toml").write_text(SPEC)
    refused = cli("splits", "build", tmp_path / "my-r.toml", ok=False)
    assert refused.exit_code == 1 and "--labels-from source" in refused.output
    cli("splits", "build", tmp_path / "my-r.toml", "--labels-from", "source")
    expected = _expected()

    exports = {fmt: tmp_path / "exports" / f"my-r-{fmt}" for fmt in ("imagefolder", "webdataset", "parquet", "csv")}
    for fmt, out in exports.items():
        cli("export", "my-r", "--format", fmt, "--out", out)
        assert "OK" in cli("verify", out).output
        for path in [out / "manifest.csv", out / "README.md", *out.rglob("metadata.jsonl"), *out.glob("*.csv")]:
            text = path.read_text()
            assert str(tmp_path) not in text and "file://" not in text  # nothing of the curator's disk
    _check_no_rejected(exports["imagefolder"], src, planted)
    _check_torchvision(exports["imagefolder"], expected)
    _check_datasets(exports, expected)
    _check_webdataset(exports["webdataset"], expected)
    _check_pandas(exports, expected)
    _check_card_recipes(exports, expected)
    _check_evaluate_and_report(cli, exports["imagefolder"], expected, tmp_path)


def _check_no_rejected(export: Path, src: Path, planted: dict) -> None:
    with open(export / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    exported = {r["sha256"] for r in rows}
    by_name = {p.name: _sha(p) for p in src.rglob("*.jpg")}
    for name in planted["never"] - {"copy of gold_0.jpg"}:
        assert by_name[name] not in exported, name
    for pair in planted["pairs"]:
        assert sum(by_name[n] in exported for n in pair.split("|")) == 1, pair
    assert all(r["source_id"] and not r["source_id"].startswith("/") for r in rows)  # relative to the import root
    names = {r["path"].rsplit("/", 1)[-1] for r in rows}
    assert "gold_2.jpg" in names or "gold_2-2.jpg" in names  # original file names, hash in the manifest


def _check_torchvision(export: Path, expected: dict[str, int]) -> None:
    from torchvision.datasets import ImageFolder

    from splits.loading import target_map

    logits = {wnid: logit for wnid, logit in CLASSES.values()}
    for subset, n in expected.items():
        ds = ImageFolder(str(export / subset))
        assert len(ds) == n, subset
        ds.target_transform = target_map(export, ds.classes, to="logit")
        for path, raw in ds.samples[:: max(1, n // 5)]:
            assert ds.target_transform(raw) == logits[Path(path).parent.name]


def _check_datasets(exports: dict[str, Path], expected: dict[str, int]) -> None:
    import datasets

    for fmt in ("imagefolder", "parquet", "webdataset", "csv"):
        loaded = datasets.load_dataset(str(exports[fmt]))
        counts = {name: len(split) for name, split in loaded.items()}
        assert counts == {k.replace("-", "_"): v for k, v in expected.items()}, fmt
    parquet = datasets.load_dataset(str(exports["parquet"]))
    assert {"license", "owner", "source", "url", "subset"} <= set(parquet["sketch"].column_names)


def _check_webdataset(export: Path, expected: dict[str, int]) -> None:
    import torch
    import webdataset as wds

    from splits.loading import target_map

    to_logit = target_map(export, to="logit")
    allowed = {logit for _, logit in CLASSES.values()}
    for subset, n in expected.items():
        shards = sorted(str(p) for p in (export / subset).glob("*.tar"))
        data = wds.WebDataset(shards, shardshuffle=False).to_tuple("__key__", "cls")
        loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=2)
        seen = [(key, int(cls)) for key, cls in loader]
        assert len(seen) == n and len({k for k, _ in seen}) == n, subset
        assert {to_logit(c) for _, c in seen} <= allowed


def _check_pandas(exports: dict[str, Path], expected: dict[str, int]) -> None:
    import pandas as pd

    for subset, n in expected.items():
        frame = pd.read_parquet(exports["parquet"] / f"{subset}.parquet")
        assert len(frame) == n and set(frame["subset"]) == {subset}
        assert {"license", "owner", "source", "source_id", "url"} <= set(frame.columns)
        table = pd.read_csv(exports["csv"] / f"{subset}.csv")
        assert len(table) == n and (table["license"] == "unknown").all()
    manifest = pd.read_csv(exports["csv"] / "manifest.csv")
    assert manifest.groupby("subset").size().to_dict() == expected


def _check_card_recipes(exports: dict[str, Path], expected: dict[str, int]) -> None:
    """The card's csv-only snippet, run as a user would paste it, gives ImageNet logits."""
    logits = {wnid: logit for wnid, logit in CLASSES.values()}
    for fmt in ("imagefolder", "webdataset", "parquet"):
        card = (exports[fmt] / "README.md").read_text()
        code = card.split("Without curate installed")[1].split("```python\n")[1].split("```")[0]
        scope: dict = {}
        exec(code.replace("DIR", str(exports[fmt])), scope)
        if fmt == "imagefolder":
            got = [(Path(p).parent.name, scope["ds"].target_transform(t)) for p, t in scope["ds"].samples]
            assert len(got) == expected["train"] and all(logits[k] == t for k, t in got)
        elif fmt == "webdataset":
            targets = [t for _, t in scope["ds"]]
            assert len(targets) == expected["train"] and set(targets) == set(logits.values())
        else:
            assert list(scope["targets"]) == [logits[k] for k in scope["frame"]["label"]]


def _check_evaluate_and_report(cli, export: Path, expected: dict[str, int], tmp_path: Path) -> None:
    import torch
    import torchvision

    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(num_classes=1000).state_dict(), tmp_path / "r18.pth")
    sets = [f"{export}:{s}" for s in ("iid_test", "sketch", "cartoon-style")]
    out = cli("evaluate", "--model", "resnet18", "--weights", tmp_path / "r18.pth", "--sets", *sets,
              "--iid", f"{export}:iid_test", "--resize", "36", "--crop", "32", "--workers", "0",
              "--out", tmp_path / "eval").output
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    by_subset = {name.rsplit(":", 1)[-1]: r for name, r in results["sets"].items()}
    assert {s: r["n"] for s, r in by_subset.items()} == {s: expected[s] for s in by_subset}
    assert {r["protocol"] for r in by_subset.values()} == {"imagenet-r-200-of-1000"}
    assert by_subset["iid_test"]["role"] == "iid" and by_subset["sketch"]["role"] == "ood"
    assert "evaluated resnet18" in out
    table = cli("report", tmp_path / "eval", "--table", "imagenet-r", "--out", tmp_path / "rep").output
    iid_error = 100 * by_subset["iid_test"]["error"]
    assert f"{iid_error:.1f}" in table
