import os
import re
from pathlib import Path

import pytest

from splits.frozen import list_files, read_export, verify


def _tree(root: Path) -> dict[str, bytes]:
    return {rel: (root / rel).read_bytes() for rel in list_files(root)}


def test_export_refuses_licenses_credits_owners_and_escapes_markdown(svsf_built, cli, svsf_table_dir, tmp_path):
    out = cli("export", "svsf-small", "--out", tmp_path / "v1").output
    export = read_export(tmp_path / "v1")
    card = (tmp_path / "v1" / "README.md").read_text()
    refused = export.info["refused"]
    assert list(refused) == ["license: All rights reserved is not in the allow-list"]
    assert f"refused {refused['license: All rights reserved is not in the allow-list']}: license" in out
    assert all(r.license == "CC-BY-2.0" for r in export.rows)
    assert {s: len(export.subset(s)) for s in export.subsets()} == {
        s: n for s, n in export.info["subsets"].items()}
    flickr = [r for r in export.rows if r.source == "flickr"]
    assert {r.owner for r in flickr} == {"12345@N01", "67890@N02"}
    for owner in ("12345@N01", "67890@N02"):  # every Flickr owner is credited ...
        assert f"(https://www.flickr.com/people/{owner}/)" in card
    # ... and their untrusted names cannot inject links, emphasis, HTML or table cells
    assert not re.search(r"(?<!\\)\]\(javascript", card) and "\\[x\\](javascript:alert(1))" in card
    assert "<b>" not in card and "Ann \\*bold\\*" in card and "Bob \\<b\\>\\| pipe" in card
    assert "## Licenses" in card and "## Images per country and subset" in card
    assert export.info["seed"] == 3 and export.info["spec"]["name"] == "svsf-small" and export.info["tool_version"]
    assert (tmp_path / "v1" / "spec.toml").exists()
    assert export.classes[0].key == "auto_repair" and len(export.classes) == 20


@pytest.mark.parametrize("fmt", ["imagefolder", "webdataset", "parquet", "csv"])
def test_reexport_is_byte_identical_and_frozen(svsf_built, cli, tmp_path, fmt):
    cli("export", "svsf-small", "--format", fmt, "--out", tmp_path / "a")
    cli("export", "svsf-small", "--format", fmt, "--out", tmp_path / "b")
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    result = cli("export", "svsf-small", "--format", fmt, "--out", tmp_path / "a", ok=False)
    assert result.exit_code != 0 and "exports are frozen" in result.output
    assert cli("verify", tmp_path / "a").output.strip().endswith("OK")
    export = read_export(tmp_path / "a")
    row = export.rows[0]
    import hashlib

    assert hashlib.sha256(export.read_bytes(row)).hexdigest() == row.sha256


def test_verify_lists_missing_altered_and_extra(svsf_built, cli, tmp_path):
    root = tmp_path / "v1"
    cli("export", "svsf-small", "--out", root)
    rows = read_export(root).rows
    (root / rows[0].path).unlink()
    (root / rows[1].path).write_bytes(b"tampered")
    (root / "train" / "stray.jpg").write_bytes(b"extra")
    result = cli("verify", root, ok=False)
    assert result.exit_code == 1
    assert f"missing      {rows[0].path}" in result.output and f"altered      {rows[1].path}" in result.output
    assert "extra        train/stray.jpg" in result.output and "FAILED" in result.output
    outcome = verify(root)
    assert outcome.missing == [rows[0].path] and outcome.altered == [rows[1].path]


def test_verify_detects_an_altered_image_inside_a_shard(svsf_built, cli, tmp_path):
    import tarfile

    root = tmp_path / "wds"
    cli("export", "svsf-small", "--format", "webdataset", "--out", root)
    shard = root / read_export(root).rows[0].path.split("#")[0]
    with tarfile.open(shard) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(shard, "w") as tar:
        for member, data in members:
            data = b"x" * len(data) if member.name.endswith(".jpg") and member is members[0][0] else data
            import io

            tar.addfile(member, io.BytesIO(data))
    outcome = verify(root)
    assert outcome.altered == [shard.relative_to(root).as_posix()] and outcome.inconsistent


def test_missing_source_files_are_refused_with_the_reason(svsf_built, cli, svsf_table_dir, tmp_path):
    export_rows = None
    cli("export", "svsf-small", "--out", tmp_path / "full")
    export_rows = read_export(tmp_path / "full").rows
    victim = export_rows[0].source_id
    os.unlink(svsf_table_dir / victim)
    out = cli("export", "svsf-small", "--out", tmp_path / "partial").output
    assert "refused 1: missing source file" in out
    assert len(read_export(tmp_path / "partial").rows) == len(export_rows) - 1


@pytest.mark.slow
def test_an_export_loads_in_torchvision_huggingface_and_webdataset(svsf_built, cli, tmp_path):
    import webdataset as wds
    from datasets import load_dataset
    from torchvision.datasets import ImageFolder

    cli("export", "svsf-small", "--format", "imagefolder", "--out", tmp_path / "if")
    export = read_export(tmp_path / "if")
    train = export.subset("train")
    folder = ImageFolder(str(tmp_path / "if" / "train"))
    assert len(folder) == len(train)
    image, target = folder[0]
    assert image.size == (32, 24) and folder.classes[target] in export.class_index()
    assert sorted(folder.classes) == sorted({r.label for r in train})

    data = load_dataset("imagefolder", data_dir=str(tmp_path / "if" / "iid_test"), split="train",
                        cache_dir=str(tmp_path / "hf-cache"))
    iid = {r.path.split("/", 1)[1]: r for r in export.subset("iid_test")}
    assert len(data) == len(iid) and set(data.column_names) >= {"image", "label", "labels", "country", "sha256"}
    sample = data[0]
    assert sample["image"].size == (32, 24) and sample["label"] in export.class_index()
    assert {(d["sha256"], d["label"]) for d in data} == {(r.sha256, r.label) for r in iid.values()}
    files = {s: f"{s}/**" for s in export.subsets()}
    everything = load_dataset("imagefolder", data_dir=str(tmp_path / "if"), data_files=files,
                              cache_dir=str(tmp_path / "hf-cache"))
    assert {s: len(everything[s]) for s in everything} == {s: len(export.subset(s)) for s in export.subsets()}

    cli("export", "svsf-small", "--format", "webdataset", "--out", tmp_path / "wds")
    shards = sorted(str(p) for p in (tmp_path / "wds" / "train").glob("*.tar"))
    samples = list(wds.WebDataset(shards, shardshuffle=False).decode("pil").to_tuple("jpg", "cls", "json"))
    index = export.class_index()
    assert len(samples) == len(train)
    for image, cls, meta in samples[:20]:
        assert image.size == (32, 24) and cls == index[meta["labels"][0]] and meta["subset"] == "train"


def test_table_images_the_database_rejected_are_refused(table_workspace, cli, svsf_table_dir, tmp_path):
    import hashlib

    import pandas as pd
    from sqlalchemy.orm import Session

    from curation.config import load_settings
    from curation.db.models import FilterDecision, Image
    from curation.db.session import connect

    table = pd.read_csv(svsf_table_dir / "table.csv", dtype=str, keep_default_na=False)
    table["sha256"] = [hashlib.sha256((svsf_table_dir / p).read_bytes()).hexdigest() for p in table["image"]]
    table.to_csv(svsf_table_dir / "table.csv", index=False)
    cli("splits", "build", svsf_table_dir / "spec.toml", "--metadata", svsf_table_dir / "table.csv")
    cli("export", "svsf-small", "--out", tmp_path / "before")
    victim = read_export(tmp_path / "before").rows[0]
    engine = connect(load_settings(table_workspace).database_url)
    with Session(engine) as session:
        image = Image(sha256=victim.sha256, n_bytes=1)
        session.add(image)
        session.flush()
        session.add(FilterDecision(image_id=image.id, filter="near-duplicate", verdict="reject", reason="dup of 7"))
        session.commit()
    engine.dispose()
    (svsf_table_dir / read_export(tmp_path / "before").rows[1].source_id).write_bytes(b"changed after the build")
    out = cli("export", "svsf-small", "--out", tmp_path / "after").output
    assert "refused 1: filter: near-duplicate (dup of 7)" in out and "refused 1: altered source file" in out
    assert len(read_export(tmp_path / "after").rows) == len(read_export(tmp_path / "before").rows) - 2
