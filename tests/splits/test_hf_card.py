"""The export's README.md header is what Hugging Face reads: license, task and size categories,
every subset as a split, and dataset_info whose features and counts ``datasets`` accepts."""

import csv
from collections import Counter
from pathlib import Path

import pytest
import yaml


def _header(root: Path) -> dict:
    text = (root / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


@pytest.mark.parametrize("fmt", ["imagefolder", "webdataset", "parquet", "csv"])
def test_every_subset_loads_as_a_split_with_its_count(svsf_built, cli, tmp_path, fmt):
    import datasets

    root = tmp_path / fmt
    cli("export", "svsf-small", "--format", fmt, "--out", root)
    with open(root / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    expected = Counter(r["subset"].replace("-", "_") for r in rows)
    head = _header(root)
    assert head["license"] == ["cc-by-2.0"] and head["task_categories"] == ["image-classification"]
    assert head["size_categories"] == ["n<1K"] and len(rows) < 1000
    assert {s["name"]: s["num_examples"] for s in head["dataset_info"]["splits"]} == expected
    loaded = datasets.load_dataset(str(root), cache_dir=str(tmp_path / "hf-cache"))
    assert {name: len(split) for name, split in loaded.items()} == expected
    if fmt != "webdataset":
        declared = {f["name"] for f in head["dataset_info"]["features"]}
        assert set(loaded["train"].column_names) == declared
        assert {"license", "owner", "subset", "sha256"} <= declared
        assert set(loaded["train"]["license"]) == {"CC-BY-2.0"}
        types = loaded["train"].features
        assert types["url"].dtype == "string" and types["owner"].dtype == "string"  # declared, not guessed


def test_license_ids_and_size_categories_by_hand():
    from splits.hub import hf_license, size_category

    assert [hf_license(x) for x in ("CC-BY-2.0", "CC BY-SA 4.0", "CC0-1.0", "All rights reserved", "")] == [
        "cc-by-2.0", "cc-by-sa-4.0", "cc0-1.0", "other", "other"]
    assert [size_category(n) for n in (0, 999, 1000, 99_999, 100_000, 2_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M"]
