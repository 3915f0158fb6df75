"""Training: the loss falls, exact resume after a kill, DDP under torchrun (gloo), AugMix+JSD and BCE runs,
and the CLI from train to evaluate to report."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from models.accel import Accel
from models.recipe import load_recipe
from models.runs import load_checkpoint, read_metrics
from models.train import load_train_data, train

CPU = Accel(torch.device("cpu"), amp=False, channels_last=False)
ROOT = Path(__file__).resolve().parents[2]
TINY = {"model": "test_resnet", "batch_size": 8}


def _run(recipe, photos, out, **kw):
    return train(recipe, load_train_data(recipe, [photos], None), out, CPU, **kw)


def test_loss_falls_and_run_folder_describes_itself(photos, tmp_path):
    recipe = load_recipe("tiny-cpu", dict(TINY, epochs=4, lr=0.05))
    _run(recipe, photos, tmp_path / "run")
    history = read_metrics(tmp_path / "run")
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    ckpt = load_checkpoint(tmp_path / "run")
    assert ckpt["config"] == config and ckpt["epoch"] == 4
    assert config["data"][0]["manifest_sha256"] and config["code_revision"]
    assert config["recipe"]["model"] == "test_resnet" and [c["key"] for c in ckpt["classes"]][:2] == ["class0", "class1"]


def _weights(run):
    return load_checkpoint(run)["model"]


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_resume_mid_epoch_gives_the_same_weights(photos, tmp_path):
    recipe = load_recipe("tiny-cpu", dict(TINY, epochs=2, checkpoint_every=1))
    _run(recipe, photos, tmp_path / "full")
    stopped = _run(recipe, photos, tmp_path / "resumed", stop_after_steps=4)  # epoch 1, step 4 of 6
    assert stopped == {"stopped_at": {"epoch": 0, "step": 4}} or stopped["stopped_at"]["step"] > 0
    assert load_checkpoint(tmp_path / "resumed")["epoch"] in (0, 1)
    _run(recipe, photos, tmp_path / "resumed")
    assert _same(_weights(tmp_path / "full"), _weights(tmp_path / "resumed"))
    assert read_metrics(tmp_path / "full") == read_metrics(tmp_path / "resumed") or \
        [m["train_loss"] for m in read_metrics(tmp_path / "full")] == \
        [m["train_loss"] for m in read_metrics(tmp_path / "resumed")]



def test_a_checkpoint_without_scheduler_state_resumes_to_the_same_weights(photos, tmp_path):
    """Checkpoints written before the scheduler was saved: the schedule's position is recomputed from the step.
    Also the metrics' lr column: the rate of each epoch's last step, from the release's per-step cosine."""
    recipe = load_recipe("tiny-cpu", dict(TINY, epochs=2, checkpoint_every=1))
    _run(recipe, photos, tmp_path / "full")
    _run(recipe, photos, tmp_path / "old", stop_after_steps=4)
    ckpt = load_checkpoint(tmp_path / "old")
    assert (ckpt["epoch"], ckpt["step"]) == (0, 4)
    del ckpt["lr_scheduler"]
    for group in ckpt["optimizer"]["param_groups"]:  # the older loop's own key, and the rate it had set last
        group["base_lr"], group["lr"] = group.pop("initial_lr"), 0.5
    torch.save(ckpt, tmp_path / "old" / "checkpoint.pt")
    _run(recipe, photos, tmp_path / "old")
    assert _same(_weights(tmp_path / "full"), _weights(tmp_path / "old"))
    spe, total = 6, 12  # 48 training images, batch 8
    floor = recipe.final_lr / (recipe.lr * recipe.batch_size / 256)
    expected = [recipe.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos((e * spe - 1) / total * math.pi)))
                for e in (1, 2)]
    assert [m["lr"] for m in read_metrics(tmp_path / "full")] == pytest.approx(expected, rel=1e-12)

def _cli_env(tmp_path):
    return dict(os.environ, CURATE_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")


@pytest.mark.slow
def test_resume_after_sigkill_matches_an_uninterrupted_run(photos, tmp_path):
    args = ["--recipe", "tiny-cpu", "--train", str(photos), "--set", "model=test_resnet", "--batch-size", "8",
            "--epochs", "3", "--set", "checkpoint_every=1", "--device", "cpu"]
    env = _cli_env(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "curation", "train", *args, "--out", str(tmp_path / "killed")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (tmp_path / "killed" / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    assert load_checkpoint(tmp_path / "killed")["epoch"] < 3
    for out in ("killed", "clean"):
        done = subprocess.run([sys.executable, "-m", "curation", "train", *args, "--out", str(tmp_path / out)],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    assert _same(_weights(tmp_path / "killed"), _weights(tmp_path / "clean"))


@pytest.mark.slow
def test_ddp_with_two_gloo_processes(photos, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "curation", "train", "--recipe",
           "tiny-cpu", "--train", str(photos), "--set", "model=test_resnet", "--batch-size", "8", "--epochs", "2",
           "--device", "cpu", "--out", str(tmp_path / "ddp")]
    done = subprocess.run(cmd, env=_cli_env(tmp_path), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = load_checkpoint(tmp_path / "ddp")
    assert ckpt["config"]["world_size"] == 2 and ckpt["epoch"] == 2
    history = read_metrics(tmp_path / "ddp")
    assert history[-1]["images"] == 48  # both ranks' samples counted (48 = 4 classes x 12, 3 steps x 2 x 8)
    assert done.stdout.count("trained test_resnet") == 1  # only rank 0 reports


def test_augmix_jsd_and_dfr_bce_through_the_cli(cli, make_export, photos, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dfr = make_export("dfr", {"train": 6, "iid_test": 2, "scale_1": 2}, keys=["top", "skirt", "dress"],
                      n_classes=3, multi_label=True)
    cli("train", "--recipe", "tiny-dfr-cpu", "--train", dfr, "--val", dfr, "--set", "model=test_resnet",
        "--epochs", "1", "--batch-size", "6", "--out", "runs/dfr")
    res = cli("evaluate", "--checkpoint", "runs/dfr", "--sets", dfr, "--workers", "0", "--resize", "36", "--crop", "32")
    assert "OOD average weighted PR-AUC" in res.output and "released DFR metric" in res.output and "dfr:scale_1 [dfr, ood]" in res.output
    result = cli("train", "--recipe", "tiny-cpu", "--train", photos, "--aug", "augmix", "--aug-opt", "augmix.severity=3",
                 "--set", "model=test_resnet", "--epochs", "1", "--batch-size", "8", "--out", "runs/augmix")
    assert "trained test_resnet (augmix; start scratch, head new; fp32)" in result.output
    config = json.loads((tmp_path / "runs/augmix/config.json").read_text())
    assert config["aug"] == [{"name": "augmix", "options": {"all_ops": False, "alpha": 1.0, "depth": -1, "fill": 0,
                                                           "jsd": True, "jsd_weight": 12.0, "severity": 3, "width": 3}}]
    rend = make_export("rend", {"test": 3}, style="rendition", seed=9)
    cli("corrupt", photos, "--out", "photos-c", "--subset", "val", "--corruptions", "gaussian_noise,contrast",
        "--severities", "1,5", "--resize", "36", "--crop", "32", "--workers", "1")
    out = cli("evaluate", "--checkpoint", "runs/augmix", "--sets", f"{photos}:val", rend, "photos-c", "--iid",
              f"{photos}:val", "--workers", "0", "--resize", "36", "--crop", "32").output
    assert "photos-c:gaussian_noise-5 [imagenet-c, ood]" in out and "mCE" in out
    report = cli("report", "runs/augmix", "runs/dfr", "--table", "imagenet-c", "--out", "reports").output
    assert "| augmix | test_resnet | runs/augmix/checkpoint.pt | augmix | scratch | fp32 |" in report
    # a 4-class set under 2 corruptions x 2 severities is not ImageNet-C: its mCE is marked, with the reasons
    assert "not comparable: 71 of the 75 corruption x severity sets are missing" in report
    assert "hold 4 classes, not ImageNet's 1000" in report and "the model is not 1000-way" in report
    assert all((tmp_path / "reports" / f"report-imagenet-c.{ext}").stat().st_size > 0 for ext in ("md", "csv", "tex", "png"))


def test_two_training_exports_concatenate_with_classes_aligned_by_key(photos, make_export, tmp_path):
    extra = make_export("generated", {"generated": 2}, keys=["class3", "class1", "class9"], seed=7)  # no 'train'
    recipe = load_recipe("tiny-cpu", dict(TINY, epochs=1))
    data = load_train_data(recipe, [photos, extra], None)
    assert [c.key for c in data.classes] == ["class0", "class1", "class2", "class3", "class9"]
    assert len(data.dataset) == 48 + 6  # photos' train subset (not its val) + every row of the generated set
    by_key = {it.row.labels[0]: it.labels[0] for it in data.dataset.items}
    assert by_key["class1"] == 1 and by_key["class9"] == 4
    train(recipe, data, tmp_path / "run", CPU)
    assert len(load_checkpoint(tmp_path / "run")["model"]["fc.weight"]) == 5
