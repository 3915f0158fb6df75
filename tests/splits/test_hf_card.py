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
    loaded = datasets.load_dataset(str(root))
    assert {name: len(split) for name, split in loaded.items()} == expected
    if fmt != "webdataset":
        declared = {f["name"] for f in head["dataset_info"]["features"]}
        assert set(loaded["train"].column_names) == declared
        assert {"license", "owner", "subset", "sha256"} <= declared
        assert loaded["train"][0]["license"] == "CC-BY-2.0"
        types = loaded["train"].features
        assert types["url"].dtype == "string" and types["owner"].dtype == "string"  # declared, not guessed
