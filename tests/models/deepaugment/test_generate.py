"""Static generation: a frozen export with aligned labels; resumable after a kill, no duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from curation.errors import CurateError
from models.deepaugment.generate import GenerateConfig, generate, progress_dir
from splits import frozen
from tests.models.deepaugment.conftest import build_export


def shas(root: Path) -> dict[str, str]:
    return {r.path: r.sha256 for r in frozen.read_export(root).rows}


def test_edsr_generation_is_an_aligned_export(export, edsr_weights, tmp_path):
    out = tmp_path / "edsr"
    cfg = GenerateConfig("edsr", str(edsr_weights), side=8, shard_size=4, batch=3)
    result = generate(cfg, export, out, workers=1)
    assert result.written == 6 and not result.failed and result.shards_run == 2
    assert frozen.verify(out).ok
    src, dst = frozen.read_export(export), frozen.read_export(out)
    assert (out / "classes.csv").read_bytes() == (export / "classes.csv").read_bytes()
    by_path = {r.path: r for r in src.rows}
    for row in dst.rows:
        assert row.labels == by_path[row.source_id].labels and row.source == "deepaugment-edsr"
        assert row.metadata["augmented_from"] == by_path[row.source_id].sha256
        with Image.open(out / row.path) as img:
            assert min(img.size) == 32 and img.format == "JPEG"  # shorter side 8 in, x4 out
    assert not progress_dir(out).exists()


def test_cae_generation_and_failures(tmp_path, cae_weights):
    export = build_export(tmp_path / "src", n=4, bad=1)
    out = tmp_path / "cae"
    result = generate(GenerateConfig("cae", str(cae_weights), side=16, shard_size=2), export, out, workers=1)
    assert result.written == 3 and len(result.failed) == 1 and "not-an-image" in result.failed[0][1]
    assert frozen.read_export(out).info["failed"] == [list(result.failed[0])]
    again = generate(GenerateConfig("cae", str(cae_weights), side=16, shard_size=2), export, out, workers=1)
    assert again.shards_run == 0 and again.failed == result.failed
    for row in frozen.read_export(out).rows:
        with Image.open(out / row.path) as img:
            assert min(img.size) == 16


def test_resume_after_interruption_has_no_duplicates_and_same_bytes(export, edsr_weights, tmp_path):
    cfg = GenerateConfig("edsr", str(edsr_weights), side=8, shard_size=1)
    clean_run = generate(cfg, export, tmp_path / "whole", workers=1)
    assert clean_run.written == 6
    out, seen = tmp_path / "resumed", []

    def die(shard):
        seen.append(shard["index"])
        if len(seen) == 3:  # the third shard's images are on disk but not recorded: as if killed here
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(cfg, export, out, workers=1, on_shard=die)
    assert len(list(progress_dir(out).glob("shard-*.json"))) == 2 and not (out / "export.json").exists()
    result = generate(cfg, export, out, workers=1)
    assert result.shards_skipped == 2 and result.shards_run == 4
    rows = frozen.read_export(out).rows
    assert len(rows) == len({r.path for r in rows}) == 6
    assert shas(out) == shas(tmp_path / "whole")
    assert frozen.verify(out).ok
    again = generate(cfg, export, out, workers=1)
    assert again.shards_run == 0 and shas(out) == shas(tmp_path / "whole")


def test_other_settings_refused(export, edsr_weights, tmp_path):
    out = tmp_path / "o"
    generate(GenerateConfig("edsr", str(edsr_weights), side=8), export, out, workers=1)
    with pytest.raises(CurateError, match="other settings"):
        generate(GenerateConfig("edsr", str(edsr_weights), side=8, seed=1), export, out, workers=1)
    with pytest.raises(CurateError, match="other settings"):  # the arithmetic is a setting too
        generate(GenerateConfig("edsr", str(edsr_weights), side=8, precision="bf16"), export, out, workers=1)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(CurateError, match="not empty"):
        generate(GenerateConfig("edsr", str(edsr_weights), side=8), export, tmp_path / "busy", workers=1)


@pytest.mark.slow
def test_generation_resumes_after_sigkill(tmp_path, edsr_weights):
    export = build_export(tmp_path / "src", n=16, size=(40, 32))
    out = tmp_path / "killed"
    args = [sys.executable, "-c", "from curation.cli import main; main()", "deepaugment", "generate",
            "--method", "edsr", "--train", str(export), "--out", str(out), "--weights", str(edsr_weights),
            "--side", "24", "--shard-size", "1", "--workers", "1"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(progress_dir(out).glob("shard-*.json"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    recorded = len(list(progress_dir(out).glob("shard-*.json")))
    assert 3 <= recorded < 16, "the run should have been killed part-way"
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{16 - recorded} shards run, {recorded} resumed" in done.stdout
    rows = frozen.read_export(out).rows
    assert len(rows) == len({r.path for r in rows}) == 16 and frozen.verify(out).ok
    files = [p for p in out.rglob("*.jpg")]
    assert len(files) == 16 and not list(out.rglob("*.tmp"))


@pytest.mark.slow
def test_ray_and_process_pool_give_the_same_export(export, edsr_weights, tmp_path):
    import ray

    cfg = GenerateConfig("edsr", str(edsr_weights), side=8, shard_size=2)
    pool = generate(cfg, export, tmp_path / "pool", workers=2)
    try:
        on_ray = generate(cfg, export, tmp_path / "ray", ray="auto", workers=2)
    finally:
        ray.shutdown()
    assert pool.written == on_ray.written == 6
    assert shas(tmp_path / "pool") == shas(tmp_path / "ray") and frozen.verify(tmp_path / "ray").ok
