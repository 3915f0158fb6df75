"""croissant.json in every export: valid for mlcroissant (offline), loads back with the right counts."""

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

mlc = pytest.importorskip("mlcroissant")


def _manifest_counts(root: Path) -> Counter:
    with open(root / "manifest.csv", newline="") as fh:
        return Counter(r["subset"] for r in csv.DictReader(fh))


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.mark.parametrize("fmt", ["imagefolder", "parquet"])
def test_croissant_validates_and_loads_back_per_split(svsf_built, cli, tmp_path, fmt):
    root = tmp_path / fmt
    cli("export", "svsf-small", "--format", fmt, "--out", root)
    meta = json.loads((root / "croissant.json").read_text())
    for item in meta["distribution"]:  # every file object's sha256 is the file's
        if item["@type"] == "cr:FileObject":
            assert item["sha256"] == hashlib.sha256((root / item["contentUrl"]).read_bytes()).hexdigest()
    dataset = mlc.Dataset(jsonld=root / "croissant.json")  # raises on a validation error
    assert not dataset.metadata.ctx.issues.errors
    images = list(dataset.records("images"))
    counts = Counter(_text(r["images/split"]) for r in images)
    assert counts == _manifest_counts(root) and sum(counts.values()) > 0
    splits = {_text(r["splits/name"]) for r in dataset.records("splits")}
    assert splits == set(counts)
    licenses = {_text(r["images/license"]) for r in images}
    assert licenses == {"CC-BY-2.0"} and meta["license"] == ["CC-BY-2.0"]
    owners = {p["identifier"] for p in meta["creator"]}
    assert {"flickr:12345@N01", "flickr:67890@N02"} <= owners
    assert meta["rai:dataLimitations"] and "flickr" in meta["rai:dataCollection"]
    assert "Refused at export" in meta["rai:dataAnnotationProtocol"]
    classes = list(dataset.records("classes"))
    assert len(classes) == 20
