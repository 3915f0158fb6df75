import dataclasses
import json
import shutil
from pathlib import Path

import pandas as pd

from splits.dfr import ingest, write_items
from splits.pipeline import build_spec
from splits.spec import load_spec

REFERENCE = Path(__file__).resolve().parent / "data" / "deepfashion2"  # copies of shared/reference/deepfashion2
TRAIN_VALUES = {"scale": 2, "occlusion": 2, "zoom_in": 1, "viewpoint": 2}


def _item(category_id: int, name: str, **attrs) -> dict:
    return {"category_id": category_id, "category_name": name, "style": 0, "bounding_box": [0, 0, 10, 10],
            "landmarks": [], "segmentation": [[0, 0, 1, 1, 2, 2]], **TRAIN_VALUES, **attrs}


def deepfashion_root(tmp_path: Path) -> Path:
    """The four reference files plus two made here, under train/annos (one with items out of order)."""
    annos = tmp_path / "df2" / "train" / "annos"
    annos.mkdir(parents=True)
    for name in ("000001.json", "000002.json", "000003.json", "000004.json"):
        shutil.copy(REFERENCE / name, annos / name)
    # 000005: item2 listed first, keys of each item in reverse order; item1 is a scale-1 shift, item2 in-distribution
    item1 = _item(2, "long sleeve top", scale=1)
    item2 = _item(9, "skirt")
    doc = {"item2": dict(reversed(list(item2.items()))), "pair_id": 3, "item1": dict(reversed(list(item1.items()))),
           "source": "user"}
    (annos / "000005.json").write_text(json.dumps(doc))
    (annos / "000006.json").write_text(json.dumps({"source": "shop", "pair_id": 4,
                                                   "item1": _item(7, "shorts", occlusion=3)}))
    (annos / "000007.json").write_text("{not json")
    (annos / "000008.json").write_text(json.dumps({"source": "shop", "pair_id": 5, "item1": _item(1, "x", scale=9)}))
    return tmp_path / "df2"


def test_ingest_reads_items_in_any_key_order_and_records_bad_files(tmp_path):
    result = ingest(deepfashion_root(tmp_path))
    assert result.files == 8 and sorted(result.rejected) == ["train/annos/000007.json", "train/annos/000008.json"]
    assert "scale is 9, outside 1-3" in result.rejected["train/annos/000008.json"]
    frame = pd.DataFrame(result.rows)
    assert len(frame) == 9  # 2 + 1 + 1 + 2 + 2 + 1 items
    first = frame[frame["image"] == "train/image/000001.jpg"].set_index("item")
    assert first.loc[1, "category"] == "short_sleeve_top" and first.loc[2, "category"] == "trousers"
    assert first.loc[2, "zoom_in"] == 2 and set(first["pair_id"]) == {1} and set(first["df2_source"]) == {"user"}
    fifth = frame[frame["image"] == "train/image/000005.jpg"]
    assert fifth["item"].tolist() == [1, 2] and fifth["category"].tolist() == ["long_sleeve_top", "skirt"]
    assert set(frame["df2_split"]) == {"train"}


def _build(tmp_path, **changes):
    root = deepfashion_root(tmp_path)
    table = write_items(ingest(root), tmp_path / "items.csv")
    spec = dataclasses.replace(load_spec("dfr"), iid_test=None, **changes)
    result, classes, meta, _ = build_spec(spec, None, table, root)
    return {(s, k): labels for s, k, labels in zip(result.members["subset"], result.members["key"],
                                                   result.members["labels"])}, result


def test_an_image_joins_every_subset_one_of_its_items_matches(tmp_path):
    members, result = _build(tmp_path, disjoint_by="none")
    assert members == {
        ("train", "train/image/000001.jpg"): "short_sleeve_top",    # only the matching item's category
        ("zoom_in_2", "train/image/000001.jpg"): "trousers",         # item2 differs in zoom_in only
        ("train", "train/image/000005.jpg"): "skirt",
        ("scale_1", "train/image/000005.jpg"): "long_sleeve_top",
        ("occlusion_3", "train/image/000006.jpg"): "shorts",
    }
    assert result.report["classes"]["train"] == {"short_sleeve_top": 1, "skirt": 1}
    item_col = result.members.set_index(["subset", "key"])["item"]
    assert item_col[("scale_1", "train/image/000005.jpg")] == "1"


def test_pair_id_disjointness_keeps_a_product_on_one_side(tmp_path):
    members, result = _build(tmp_path)  # the preset: disjoint_by = pair_id
    assert ("zoom_in_2", "train/image/000001.jpg") not in members
    assert ("scale_1", "train/image/000005.jpg") not in members
    assert ("occlusion_3", "train/image/000006.jpg") in members
    assert result.report["held_out"] == {"scale_1 (shares a group with train)": 1,
                                         "zoom_in_2 (shares a group with train)": 1}


def test_dfr_cli_ingest_build_export(table_workspace, cli, tmp_path):
    from splits.frozen import read_export, verify

    root = deepfashion_root(tmp_path)
    out = cli("dfr", "ingest", root, "--out", tmp_path / "items.parquet").output
    assert "ingested 9 items of 6 images from 8 files (2 rejected)" in out
    spec = tmp_path / "dfr_small.toml"
    text = (Path(__file__).resolve().parents[2] / "splits" / "presets" / "dfr.toml").read_text()
    spec.write_text(text.replace('name = "dfr"', 'name = "dfr-small"').replace("fraction = 0.1", "size = 1")
                    .replace('disjoint_by = "pair_id"', 'disjoint_by = "none"'))
    for name in ("000001", "000005", "000006"):
        (root / "train" / "image").mkdir(exist_ok=True)
        (root / "train" / "image" / f"{name}.jpg").write_bytes(f"jpeg {name}".encode())
    cli("splits", "build", spec, "--metadata", tmp_path / "items.parquet", "--images-root", root)
    cli("export", "dfr-small", "--format", "imagefolder", "--out", tmp_path / "export")
    export = read_export(tmp_path / "export")
    assert export.multi_label and len(export.classes) == 13
    rows = {(r.subset, r.labels) for r in export.rows}
    assert ("zoom_in_2", ("trousers",)) in rows and ("occlusion_3", ("shorts",)) in rows
    assert all(r.path.startswith(f"{r.subset}/") for r in export.rows)
    assert verify(tmp_path / "export").ok
