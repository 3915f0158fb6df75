"""DeepFashion Remixed: ingest and the released split protocol, checked against expectations written out
by hand and against a deliberately plain loop over the JSON files (the released loader's rule, written
again here from deepfashion_remix/utils/dataloader/fashion2_loader.py and eval.sh; it does not use
splits/dfr.py or the builder)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from splits.dfr import ingest, write_items
from splits.pipeline import build_spec
from splits.spec import load_spec

REFERENCE = Path(__file__).resolve().parent / "data" / "deepfashion2"  # copies of shared/reference/deepfashion2
PRESETS = Path(__file__).resolve().parents[2] / "splits" / "presets"
# DeepFashion2 category_id -> class key of the dfr class set (README table, lower case with underscores)
CATEGORY = {1: "short_sleeve_top", 2: "long_sleeve_top", 3: "short_sleeve_outwear", 4: "long_sleeve_outwear",
            5: "vest", 6: "sling", 7: "shorts", 8: "trousers", 9: "skirt", 10: "short_sleeve_dress",
            11: "long_sleeve_dress", 12: "vest_dress", 13: "sling_dress"}
# eval.sh: (scale, occlusion, viewpoint, zoom_in) of the IID test and the 8 OOD sets
RELEASED = {"iid_test": (2, 2, 2, 1), "scale_1": (1, 2, 2, 1), "scale_3": (3, 2, 2, 1), "occlusion_1": (2, 1, 2, 1),
            "occlusion_3": (2, 3, 2, 1), "viewpoint_1": (2, 2, 1, 1), "viewpoint_3": (2, 2, 3, 1),
            "zoom_in_2": (2, 2, 2, 2), "zoom_in_3": (2, 2, 2, 3)}


def _item(category_id: int, scale=2, occlusion=2, viewpoint=2, zoom_in=1, style=0) -> dict:
    return {"category_id": category_id, "category_name": CATEGORY.get(category_id, "?").replace("_", " "),
            "style": style, "bounding_box": [0, 0, 10, 10], "landmarks": [], "segmentation": [[0, 0, 1, 1, 2, 2]],
            "scale": scale, "occlusion": occlusion, "viewpoint": viewpoint, "zoom_in": zoom_in}


def _write(root: Path, split: str, stem: str, doc: dict) -> None:
    (root / split / "annos").mkdir(parents=True, exist_ok=True)
    (root / split / "annos" / f"{stem}.json").write_text(json.dumps(doc))


def hand_root(tmp_path: Path) -> Path:
    """Train and validation annotation folders, written by hand (the four reference files among them)."""
    root = tmp_path / "df2"
    (root / "train" / "annos").mkdir(parents=True)
    for name in ("000001.json", "000002.json", "000003.json", "000004.json"):
        shutil.copy(REFERENCE / name, root / "train" / "annos" / name)
    # item2 listed first, each item's keys reversed; item2 and item3 are both skirts of the training values
    item1, item2, item3 = _item(2, scale=1), _item(9), _item(9, style=2)
    _write(root, "train", "000005", {"item2": dict(reversed(list(item2.items()))), "pair_id": 3,
                                     "item1": dict(reversed(list(item1.items()))), "item3": item3, "source": "user"})
    # zoom_in 0 is out of range: that item matches nothing, the trousers still count
    _write(root, "train", "000006", {"source": "shop", "pair_id": 4, "item1": _item(7, zoom_in=0), "item2": _item(8)})
    # a scale written as text never equals 2 (the release compares with `in [2]`)
    _write(root, "train", "000007", {"source": "shop", "pair_id": 1, "item1": _item(1, scale="2")})
    v = "validation"
    _write(root, v, "000001", {"source": "user", "pair_id": 1, "item1": _item(1), "item2": _item(11, viewpoint=3),
                               "item3": _item(5, viewpoint=4)})
    _write(root, v, "000002", {"source": "user", "pair_id": 2, "item1": _item(8), "item2": _item(8, scale=1),
                               "item3": _item(9, scale=1)})
    _write(root, v, "000003", {"source": "shop", "pair_id": 1, "item1": _item(13, occlusion=3),
                               "item2": _item(12, zoom_in=3)})
    _write(root, v, "000004", {"source": "shop", "pair_id": 5, "item1": _item(14), "item2": _item(5, occlusion=1)})
    _write(root, v, "000005", {"item3": _item(3, scale=3), "source": "user", "pair_id": 6,
                               "item1": _item(4, viewpoint=1), "item2": _item(6, zoom_in=2)})
    _write(root, v, "000006", {"source": "user", "pair_id": 7})  # no items: valid, in no subset
    return root


T, V = "train/image/", "validation/image/"
HAND_DFR = {
    ("train", T + "000001.jpg"): "short_sleeve_top",  # only the matching item's category
    ("train", T + "000005.jpg"): "skirt",  # two matching skirts: one label
    ("train", T + "000006.jpg"): "trousers",
    ("iid_test", V + "000001.jpg"): "short_sleeve_top",
    ("iid_test", V + "000002.jpg"): "trousers",
    ("scale_1", V + "000002.jpg"): "trousers|skirt",  # sorted by category id
    ("scale_3", V + "000005.jpg"): "short_sleeve_outwear",
    ("occlusion_1", V + "000004.jpg"): "vest",
    ("occlusion_3", V + "000003.jpg"): "sling_dress",
    ("viewpoint_1", V + "000005.jpg"): "long_sleeve_outwear",
    ("viewpoint_3", V + "000001.jpg"): "long_sleeve_dress",
    ("zoom_in_2", V + "000005.jpg"): "sling",
    ("zoom_in_3", V + "000003.jpg"): "vest_dress",
}
# the concatenated variant adds the train split's matching images to every test set
HAND_CONCAT = {**HAND_DFR, ("iid_test", T + "000001.jpg"): "short_sleeve_top", ("iid_test", T + "000005.jpg"): "skirt",
               ("iid_test", T + "000006.jpg"): "trousers", ("zoom_in_2", T + "000001.jpg"): "trousers",
               ("scale_1", T + "000005.jpg"): "long_sleeve_top"}


def _members(result) -> dict:
    m = result.members
    return dict(zip(zip(m["subset"], m["key"]), m["labels"]))


def _build(root: Path, table: Path, spec):
    result, _, _, _ = build_spec(spec, None, table, root)
    return result


def test_ingest_handles_items_one_by_one(tmp_path):
    root = hand_root(tmp_path)
    result = ingest(root)
    assert result.files == 13 and not result.bad_files
    assert result.images == {"train": 7, "validation": 6} and result.without_items == 1
    assert result.out_of_range == {("zoom_in", "0"): 1, ("scale", '"2"'): 1, ("viewpoint", "4"): 1,
                                   ("category_id", "14"): 1}
    rows = [r for r in result.rows if r["image"] == T + "000005.jpg"]
    assert [r["item"] for r in rows] == [1, 2, 3] and [r["category"] for r in rows] == ["long_sleeve_top", "skirt",
                                                                                          "skirt"]
    sixth = [r for r in result.rows if r["image"] == T + "000006.jpg"]
    assert [(r["category"], r["zoom_in"]) for r in sixth] == [("shorts", "0"), ("trousers", "1")]
    assert not [r for r in result.rows if r["category_id"] == 14]  # no class: left out
    assert {r["df2_split"] for r in result.rows} == {"train", "validation"}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_dfr_presets_give_the_hand_written_subsets_and_labels(tmp_path, fmt):
    root = hand_root(tmp_path)
    table = write_items(ingest(root), tmp_path / f"items.{fmt}")
    dfr = _build(root, table, load_spec("dfr"))
    assert _members(dfr) == HAND_DFR
    assert dfr.report["held_out"] == {}
    concat = _build(root, table, load_spec("dfr-concat"))
    assert _members(concat) == {k: v for k, v in HAND_CONCAT.items()}


def released_loop(root: Path, splits: tuple[str, ...], values: tuple) -> dict:
    """fashion2_loader.get_annotations, plainly: an image is in when any item matches all four values;
    its label is the set of the matching items' categories. Keyed by (split, file stem)."""
    scale, occlusion, viewpoint, zoom_in = values
    out = {}
    for split in splits:
        folder = root / split / "annos"
        for name in sorted(p.name for p in folder.iterdir()):
            anno = json.loads((folder / name).read_text())
            cats = set()
            for key in anno:
                if "item" in key:
                    item = anno[key]
                    if (item["occlusion"] in [occlusion] and item["scale"] in [scale]
                            and item["viewpoint"] in [viewpoint] and item["zoom_in"] in [zoom_in]):
                        cats.add(item["category_id"])
            if cats:
                out[(split, name[:-5])] = sorted(cats)
    return out


def random_root(tmp_path: Path, n: int = 160, seed: int = 7) -> Path:
    """Many images per split: 1-4 items, keys shuffled, pair_ids shared, values biased to the training ones
    and 1 in 10 out of range (0 or 4)."""
    rng = np.random.default_rng(seed)
    root = tmp_path / "df2r"
    train_values = {"scale": 2, "occlusion": 2, "viewpoint": 2, "zoom_in": 1}

    def value(attr):
        r = rng.random()
        return train_values[attr] if r < 0.6 else int(rng.choice([0, 4])) if r > 0.9 else int(rng.integers(1, 4))

    for split in ("train", "validation"):
        for i in range(1, n + 1):
            items = {f"item{k}": _item(int(rng.integers(1, 14)), **{a: value(a) for a in train_values})
                     for k in range(1, int(rng.integers(1, 5)) + 1)}
            doc = {"source": "user", "pair_id": int(rng.integers(1, 30)), **items}
            keys = list(doc)
            rng.shuffle(keys)
            _write(root, split, f"{i:06d}", {k: doc[k] for k in keys})
    return root


def _expected(root: Path, spec_name: str, test_splits: tuple[str, ...]) -> dict:
    out = {}
    for (split, stem), cats in released_loop(root, ("train",), RELEASED["iid_test"]).items():
        out[("train", f"{split}/image/{stem}.jpg")] = "|".join(CATEGORY[c] for c in cats)
    for subset, values in RELEASED.items():
        for (split, stem), cats in released_loop(root, test_splits, values).items():
            out[(subset, f"{split}/image/{stem}.jpg")] = "|".join(CATEGORY[c] for c in cats)
    return out


def test_every_subset_matches_the_released_loop_on_each_split_and_concatenated(tmp_path):
    root = random_root(tmp_path)
    table = write_items(ingest(root), tmp_path / "items.parquet")
    dfr = _members(_build(root, table, load_spec("dfr")))
    assert dfr == _expected(root, "dfr", ("validation",))
    assert {s for s, _ in dfr} == {"train", *RELEASED}  # every subset has images
    concat = _members(_build(root, table, load_spec("dfr-concat")))
    assert concat == _expected(root, "dfr-concat", ("train", "validation"))
    # the train split's own test sets: a spec of the user's with test.where = train
    own = tmp_path / "train-only.toml"
    own.write_text((PRESETS / "dfr.toml").read_text().replace('name = "dfr"', 'name = "dfr-train"')
                   .replace('where = { df2_split = "validation" }', 'where = { df2_split = "train" }'))
    assert _members(_build(root, table, load_spec(own))) == _expected(root, "own", ("train",))


def test_deviations_are_options_and_count_what_they_remove(tmp_path):
    root = random_root(tmp_path)
    table = write_items(ingest(root), tmp_path / "items.parquet")
    full = _members(_build(root, table, load_spec("dfr")))
    text = (PRESETS / "dfr.toml").read_text()
    spec = tmp_path / "dev.toml"
    spec.write_text(text.replace('name = "dfr"', 'name = "dfr-dev"')
                    .replace('disjoint_by = "none"', 'disjoint_by = "pair_id"')
                    .replace('[iid_test]', '[iid_test]\nsize = 5'))
    result = _build(root, table, load_spec(spec))
    got = _members(result)
    held = result.report["held_out"]
    # pair_id disjointness: a test image is held out when its pair_id has a training image (plain count)
    train_pairs = {json.loads((root / "train" / "annos" / (Path(k).stem + ".json")).read_text())["pair_id"]
                   for s, k in full if s == "train"}
    for subset in RELEASED:
        keys = [k for s, k in full if s == subset]
        shared = [k for k in keys if json.loads((root / "validation" / "annos" / (Path(k).stem + ".json"))
                                                .read_text())["pair_id"] in train_pairs]
        assert held.get(f"{subset} (shares a group with train)", 0) == len(shared)
        if subset != "iid_test":
            assert {k for s, k in got if s == subset} == set(keys) - set(shared)
    kept_iid = len([k for s, k in full if s == "iid_test"]) - held.get("iid_test (shares a group with train)", 0)
    assert held["iid_test (size cap 5)"] == kept_iid - 5 and len([1 for s, _ in got if s == "iid_test"]) == 5


def _ingest_cli(cli, root, out, *extra, ok=True):
    return cli("dfr", "ingest", root, "--out", out, *extra, ok=ok)


def test_ingest_refuses_bad_files_unless_asked_to_skip_them(table_workspace, cli, tmp_path):
    root = hand_root(tmp_path)
    (root / "validation" / "annos" / "000007.json").write_text("{not json")
    _write(root, "validation", "000008", {"source": "shop", "pair_id": 5, "item1": {"category_id": 1, "scale": 2}})
    out = tmp_path / "items.parquet"
    refused = _ingest_cli(cli, root, out, ok=False)
    assert refused.exit_code != 0 and not out.exists()
    assert "validation/annos/000007.json: not valid JSON" in refused.output
    assert "validation/annos/000008.json: item1 lacks occlusion, zoom_in, viewpoint" in refused.output
    assert "2 of 15 annotation files" in refused.output and "--skip-bad" in refused.output
    assert "Traceback" not in refused.output
    done = _ingest_cli(cli, root, out, "--skip-bad")
    assert "skipped validation/annos/000007.json" in done.output
    assert "skipped validation/annos/000008.json" in done.output
    assert "2 bad files skipped" in done.output and out.exists()
    assert "zoom_in: 0 x1" in done.output and "viewpoint: 4 x1" in done.output and 'scale: "2" x1' in done.output
    assert "category_id outside 1-13 (left out: no class): 14 x1" in done.output


def test_dfr_cli_ingest_build_export(table_workspace, cli, tmp_path):
    from splits.frozen import read_export, verify

    root = hand_root(tmp_path)
    out = cli("dfr", "ingest", root, "--out", tmp_path / "items.parquet").output
    assert "ingested 24 items of 13 images (train 7, validation 6, 1 without items)" in out, out
    for split, stem in {(Path(k).parts[0], Path(k).stem) for _, k in HAND_DFR}:
        (root / split / "image").mkdir(exist_ok=True)
        (root / split / "image" / f"{stem}.jpg").write_bytes(f"jpeg {split} {stem}".encode())
    built = cli("splits", "build", "dfr", "--metadata", tmp_path / "items.parquet", "--images-root", root).output
    assert "held out by" not in built
    cli("export", "dfr", "--format", "imagefolder", "--out", tmp_path / "export")
    export = read_export(tmp_path / "export")
    assert export.multi_label and len(export.classes) == 13
    rows = {(r.subset, r.labels) for r in export.rows}
    assert ("scale_1", ("trousers", "skirt")) in rows and ("zoom_in_3", ("vest_dress",)) in rows
    assert len(export.rows) == len(HAND_DFR)
    assert verify(tmp_path / "export").ok
    # a deviation prints what it removed: pair_id 1 has train images, so validation 000001 and 000003 go
    spec = tmp_path / "dfr-pairs.toml"
    spec.write_text((PRESETS / "dfr.toml").read_text().replace('name = "dfr"', 'name = "dfr-pairs"')
                    .replace('disjoint_by = "none"', 'disjoint_by = "pair_id"'))
    built = cli("splits", "build", spec, "--metadata", tmp_path / "items.parquet", "--images-root", root).output
    assert "held out by the spec's options" in built
    for subset in ("iid_test", "viewpoint_3", "occlusion_3", "zoom_in_3"):
        assert f"{subset} (shares a group with train)" in built


def test_a_split_folder_instead_of_the_root_is_explained(table_workspace, cli, tmp_path):
    root = hand_root(tmp_path)
    out = tmp_path / "items.csv"
    done = _ingest_cli(cli, root / "train", out)
    assert "7 images are not under <split>/annos" in done.output
    built = cli("splits", "build", "dfr", "--metadata", out, "--images-root", root, ok=False)
    assert built.exit_code != 0 and "no image matches the training filter (df2_split=train" in built.output
    assert "Traceback" not in built.output
