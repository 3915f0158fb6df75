"""What ``curate import`` reads from a folder tree: labels and attributes from folder levels, a CSV
or --set; content deduplication; a renamed folder relabels; clashing attribute names are refused."""

import shutil

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from curation.db.models import ImageClass, SourceRecord
from tests.conftest import make_image_bytes


def _records(db_url) -> dict[str, SourceRecord]:
    engine = create_engine(db_url)
    with Session(engine) as session:
        out = {r.metadata_["relative_path"]: r for r in session.scalars(select(SourceRecord))}
        keys = {c.id: c.key for c in session.scalars(select(ImageClass))}
    engine.dispose()
    return {k: (keys.get(r.class_id), dict(r.metadata_), r.source_id) for k, r in out.items()}


def test_attributes_from_folders_csv_and_set(workspace, db_url, cli, tmp_path):
    src = tmp_path / "in"
    for i, rel in enumerate(["sketch/goldfish/a.jpg", "photo/goldfish/b.jpg", "photo/hammerhead/c.jpg"]):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(make_image_bytes(i))
    (tmp_path / "attrs.csv").write_text("path,camera,class\nphoto/goldfish/b.jpg,old,hammerhead\n")
    cli("import", src, "--path-fields", "rendition/class", "--attributes", tmp_path / "attrs.csv",
        "--set", "batch=2024")
    got = _records(db_url)
    assert got["sketch/goldfish/a.jpg"][0] == "n01443537" and got["sketch/goldfish/a.jpg"][1]["rendition"] == "sketch"
    assert got["photo/goldfish/b.jpg"][0] == "n01494475"  # the CSV's class wins over the folder
    assert got["photo/goldfish/b.jpg"][1]["camera"] == "old"
    assert {v[1]["batch"] for v in got.values()} == {"2024"}


def test_identical_content_merges_and_a_renamed_folder_relabels(workspace, db_url, cli, tmp_path):
    src = tmp_path / "in"
    (src / "lighthouse").mkdir(parents=True)
    for i in range(3):
        (src / "lighthouse" / f"{i}.jpg").write_bytes(make_image_bytes(10 + i))
    shutil.copy(src / "lighthouse" / "0.jpg", src / "lighthouse" / "0 copy.jpg")
    out = cli("import", src, "--label-from-folder")
    assert "imported 3 new" in out.output and "1 identical copies merged" in out.output
    assert "did you mean beacon (n02814860, synonym 'lighthouse')" in out.output
    assert {v[0] for v in _records(db_url).values()} == {None}
    (src / "lighthouse").rename(src / "beacon")  # the user renames the folder and imports again
    again = cli("import", src, "--label-from-folder").output
    assert "imported 0 new" in again and "3 moved" in again and "3 relabelled" in again
    got = _records(db_url)
    assert len(got) == 3 and {v[0] for v in got.values()} == {"n02814860"}
    assert all(path.startswith("beacon/") and v[2].endswith(path) for path, v in got.items())


def test_reserved_attribute_names_and_bad_options_are_refused(workspace, cli, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for args, words in ((["--set", "source=phone"], "source are curate's own columns"),
                        (["--set", "rendition"], "write KEY=VALUE"),
                        (["--path-fields", "class//rendition"], "name every level"),
                        (["--map", "a=b"], "add --label-from-folder")):
        result = cli("import", src, *args, ok=False)
        assert result.exit_code == 1 and words in result.output and "Traceback" not in result.output
