"""Training and evaluation streaming webdataset shards from an export in an object store (moto's S3 server):
the same weights and the same scores as from the folder the shards were uploaded from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from models.accel import Accel
from models.recipe import load_recipe
from models.runs import load_checkpoint
from models.train import load_train_data, train
from splits.containers import write_tar
from splits.frozen import ManifestRow, read_export, write_metadata

CPU = Accel(torch.device("cpu"), amp=False, channels_last=False)


def _as_webdataset(folder: Path, out: Path) -> Path:
    """The folder export ``folder`` rewritten as one tar shard per subset (the webdataset layout)."""
    export = read_export(folder)
    rows = []
    for subset in export.subsets():
        members = export.subset(subset)
        shard = f"{subset}/{subset}-000000.tar"
        samples = [(row.sha256, "jpg", (folder / row.path).read_bytes(), {"labels": list(row.labels)}, None)
                   for row in members]
        write_tar(out / shard, samples)
        rows += [ManifestRow(f"{shard}#{row.sha256}.jpg", row.sha256, subset, row.labels, row.source, row.source_id,
                             row.url, row.owner, row.license, row.metadata) for row in members]
    write_metadata(out, {**export.info, "name": out.name}, export.classes, rows, f"# {out.name}\n")
    return out


def _upload(local: Path, url: str) -> None:
    from s3fs import S3FileSystem

    fs = S3FileSystem()
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        fs.put_file(str(path), f"{url.removeprefix('s3://')}/{path.relative_to(local).as_posix()}")


def test_training_streams_shards_from_s3_and_matches_the_folder(photos, s3_url, tmp_path, cli, monkeypatch):
    local = _as_webdataset(photos, tmp_path / "photos-wds")
    url = f"{s3_url}/exports/photos-wds"
    _upload(local, url)
    recipe = load_recipe("tiny-cpu", {"model": "test_resnet", "batch_size": 8, "epochs": 1})
    train(recipe, load_train_data(recipe, [local], None), tmp_path / "from-folder", CPU)
    data = load_train_data(recipe, [url], None)
    assert all(isinstance(item.root, str) for item in data.dataset.items)  # streamed, nothing copied
    train(recipe, data, tmp_path / "from-s3", CPU)
    a, b = load_checkpoint(tmp_path / "from-folder")["model"], load_checkpoint(tmp_path / "from-s3")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    config = json.loads((tmp_path / "from-s3" / "config.json").read_text())
    assert config["data"][0]["path"] == url

    monkeypatch.chdir(tmp_path)
    cli("train", "--recipe", "tiny-cpu", "--train", url, "--val", url, "--set", "model=test_resnet", "--epochs", "1",
        "--batch-size", "8", "--out", "runs/s3")
    remote = cli("evaluate", "--checkpoint", "runs/s3", "--sets", f"{url}:val", "--workers", "0", "--resize", "36",
                 "--crop", "32", "--out", "eval-s3").output
    folder = cli("evaluate", "--checkpoint", "runs/s3", "--sets", f"{local}:val", "--workers", "0", "--resize", "36",
                 "--crop", "32", "--out", "eval-folder").output
    scores = [json.loads((tmp_path / d / "results.json").read_text()) for d in ("eval-s3", "eval-folder")]
    errors = [{k: (v["n"], v["error"]) for k, v in s["sets"].items()} for s in scores]
    assert errors[0] == errors[1] and list(errors[0]) == ["photos-wds:val"], (remote, folder)
    assert errors[0]["photos-wds:val"][0] == 16  # every val image scored: 4 classes x 4
    assert scores[0]["sets"]["photos-wds:val"]["path"] == url


def test_set_arguments_with_urls():
    from models.summary import parse_set

    assert parse_set("s3://bucket/exports/r-v1:val,test") == ("s3://bucket/exports/r-v1", ["val", "test"])
    assert parse_set("s3://bucket/exports/r-v1") == ("s3://bucket/exports/r-v1", None)
    assert parse_set("exports/r:val") == (Path("exports/r"), ["val"])


@pytest.mark.slow
def test_ddp_under_torchrun_streams_from_s3(photos, s3_url, tmp_path):
    """Two gloo ranks open the same export URL at once (one shared metadata copy) and train on its shards."""
    url = f"{s3_url}/exports/photos-wds"
    _upload(_as_webdataset(photos, tmp_path / "photos-wds"), url)
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "curation", "train", "--recipe", "tiny-cpu",
           "--train", url, "--set", "model=test_resnet", "--batch-size", "8", "--epochs", "1", "--device", "cpu",
           "--out", str(tmp_path / "ddp")]
    env = dict(os.environ, CURATE_CACHE_DIR=str(tmp_path / "cache"), OMP_NUM_THREADS="1",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = load_checkpoint(tmp_path / "ddp")
    assert ckpt["config"]["world_size"] == 2 and ckpt["config"]["data"][0]["path"] == url
