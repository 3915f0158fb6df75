"""Table-based splits honour the filters: an image the workspace's filters rejected never reaches a
split or an export, unless the user overrides it, and then the dataset card says so."""

from __future__ import annotations

import csv
import hashlib
import shutil

import pytest
from PIL import Image

from tests.filters.conftest import encode, photo

SPEC = """
name = "{name}"
class_set = "auto"
seed = 1
[source]
kind = "table"
[labels]
from = "column"
column = "label"
[train]
where = {{ domain = "photo" }}
[iid_test]
size = 2
[[ood]]
name = "sketch"
change = {{ domain = "sketch" }}
"""


def _table(root):
    """12 distinct images + an exact copy, a mirror, a near duplicate and a black image, all in the table."""
    rows = []
    for i in range(12):
        name = f"img{i}.jpg"
        (root / name).write_bytes(encode(photo(100 + i), quality=92))
        rows.append((name, "cat" if i % 2 else "dog", "photo" if i < 8 else "sketch"))
    shutil.copy(root / "img0.jpg", root / "copy0.jpg")
    (root / "mirror1.jpg").write_bytes(encode(photo(101).transpose(Image.Transpose.FLIP_LEFT_RIGHT), quality=90))
    (root / "small2.jpg").write_bytes(encode(photo(102).resize((200, 150)), quality=70))
    (root / "black.jpg").write_bytes(encode(Image.new("RGB", (200, 150), (1, 1, 1))))
    rows += [("copy0.jpg", "dog", "photo"), ("mirror1.jpg", "cat", "sketch"), ("small2.jpg", "dog", "photo"),
             ("black.jpg", "cat", "photo")]
    with open(root / "table.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("image", "label", "domain"), *rows])
    return {"copy0.jpg": "img0.jpg", "mirror1.jpg": "img1.jpg", "small2.jpg": "img2.jpg"}


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_table_split_leaves_out_rejected_images_unless_overridden(table_workspace, cli, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    pairs = _table(data)
    cli("import", data)
    cli("filter", "--workers", "1")
    for name in ("strict", "loose"):
        (tmp_path / f"{name}.toml").write_text(SPEC.format(name=name))

    built = cli("splits", "build", tmp_path / "strict.toml", "--metadata", data / "table.csv").output
    assert "refused (filter: duplicate)" in built and "refused (filter: quality)" in built
    cli("export", "strict", "--format", "csv", "--out", tmp_path / "strict")
    with open(tmp_path / "strict" / "manifest.csv", newline="") as fh:
        exported = {r["sha256"] for r in csv.DictReader(fh)}
    assert _digest(data / "black.jpg") not in exported
    for copy, original in pairs.items():  # one image of each planted pair (the identical copy has one digest)
        assert (_digest(data / copy) in exported) + (_digest(data / original) in exported) == 1 or \
            _digest(data / copy) == _digest(data / original)
    assert len(exported) == 12  # the 12 distinct pictures, each once
    assert "Rejected images included by override" not in (tmp_path / "strict" / "README.md").read_text()

    loose = cli("splits", "build", tmp_path / "loose.toml", "--metadata", data / "table.csv", "--include-rejected")
    assert "kept 4 image(s) the filters or reviews rejected" in loose.output
    cli("export", "loose", "--format", "csv", "--out", tmp_path / "loose")
    card = (tmp_path / "loose" / "README.md").read_text()
    assert "## Rejected images included by override" in card
    assert "This export contains 4 image(s) that curate's filters or reviews rejected" in card
    with open(tmp_path / "loose" / "manifest.csv", newline="") as fh:
        assert _digest(data / "black.jpg") in {r["sha256"] for r in csv.DictReader(fh)}


def test_table_column_named_like_a_manifest_column_is_refused(table_workspace, cli, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jpg").write_bytes(encode(photo(1)))
    (data / "table.csv").write_text("image,label,domain,subset\na.jpg,dog,photo,x\n")
    (tmp_path / "s.toml").write_text(SPEC.format(name="s"))
    result = cli("splits", "build", tmp_path / "s.toml", "--metadata", data / "table.csv", ok=False)
    assert result.exit_code == 1 and "column(s) subset clash" in result.output and "'meta_subset'" in result.output
    assert "Traceback" not in result.output
