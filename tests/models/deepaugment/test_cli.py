"""``curate deepaugment fit`` and ``generate`` end to end on a tiny export, offline."""

from __future__ import annotations

import torch

from models.deepaugment.edsr import edsr_names
from splits import frozen


def test_fit_resume_and_generate(cli, export, tmp_path):
    weights = tmp_path / "w" / "edsr.pt"
    first = cli("deepaugment", "fit", "edsr", "--train", export, "--out", weights, "--steps", "4", "--batch", "2",
                "--patch", "16", "--n-feats", "8")
    assert "4 steps on 6 images" in first.output
    ckpt = torch.load(f"{weights}.ckpt", weights_only=False)
    assert ckpt["step"] == 4
    more = cli("deepaugment", "fit", "edsr", "--train", export, "--out", weights, "--steps", "6", "--batch", "2",
               "--patch", "16", "--n-feats", "8")
    assert "6 steps" in more.output  # continued from step 4
    other = cli("deepaugment", "fit", "edsr", "--train", export, "--out", weights, "--steps", "8", "--batch", "3",
                "--patch", "16", "--n-feats", "8", ok=False)
    assert other.exit_code != 0 and "other settings" in other.output  # a different batch: refuse to mix runs
    saved = torch.load(weights, weights_only=True)
    assert set(saved["state_dict"]) == set(edsr_names()) and saved["metrics"]["steps"] == 6
    out = tmp_path / "edsr-export"
    gen = cli("deepaugment", "generate", "--method", "edsr", "--train", export, "--out", out, "--weights", weights,
              "--side", "8", "--workers", "1")
    assert "6 images" in gen.output and frozen.verify(out).ok
    exact = cli("deepaugment", "generate", "--method", "edsr", "--train", export, "--out", tmp_path / "fp32",
                "--weights", weights, "--side", "8", "--workers", "1", "--precision", "fp32")
    assert "6 images" in exact.output and "precision fp32" in (tmp_path / "fp32" / "README.md").read_text()


def test_fit_learns(export, tmp_path):
    from models.deepaugment.fit import FitConfig, fit

    result = fit(FitConfig("cae", steps=12, batch=2, patch=16, save_every=5), export, tmp_path / "cae.pt")
    assert result["metrics"]["final_loss"] < result["metrics"]["first_loss"]
    from models.deepaugment.cae import build

    build(str(tmp_path / "cae.pt"))  # the output loads by the published names


def test_fit_resumes_from_checkpoint(export, tmp_path):
    from models.deepaugment.fit import FitConfig, fit

    cfg = FitConfig("edsr", steps=6, batch=2, patch=16, n_feats=8, save_every=3)
    whole = fit(cfg, export, tmp_path / "a.pt")
    calls = []

    def stop(step, loss):
        calls.append(step)
        if step == 4:  # checkpoint at step 3 exists; die before the next one
            raise KeyboardInterrupt

    try:
        fit(cfg, export, tmp_path / "b.pt", on_step=stop)
    except KeyboardInterrupt:
        pass
    resumed_steps = []
    resumed = fit(cfg, export, tmp_path / "b.pt", on_step=lambda s, l: resumed_steps.append(s))
    assert resumed_steps == [4, 5, 6]
    a = torch.load(tmp_path / "a.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b.pt", weights_only=True)["state_dict"]
    assert all(torch.allclose(a[k], b[k]) for k in a)
    assert resumed["metrics"]["final_loss"] == whole["metrics"]["final_loss"]


def test_generate_without_weights_says_what_to_do(cli, export, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("deepaugment", "generate", "--method", "cae", "--train", export, "--out", tmp_path / "o", ok=False)
    assert result.exit_code != 0 and "curate deepaugment fit cae" in result.output


def test_generate_mode_is_recorded(cli, export, edsr_weights, tmp_path):
    for mode, faithful in (("faithful", True), ("intended", False)):
        out = tmp_path / mode
        result = cli("deepaugment", "generate", "--method", "edsr", "--train", export, "--out", out, "--weights",
                     edsr_weights, "--side", "8", "--workers", "1", "--mode", mode)
        assert "6 images" in result.output
        info = frozen.read_export(out).info["deepaugment"]
        assert info["faithful"] is faithful and info["precision"] == "fp32"  # fp32 unless asked otherwise
    wrong = cli("deepaugment", "generate", "--method", "edsr", "--train", export, "--out", tmp_path / "x",
                "--weights", edsr_weights, "--mode", "released", ok=False)
    assert wrong.exit_code != 0 and "faithful" in wrong.output
    tiny = cli("deepaugment", "generate", "--method", "cae", "--train", export, "--out", tmp_path / "y",
               "--weights", edsr_weights, "--side", "2", ok=False)
    assert tiny.exit_code != 0 and "at least 4 pixels" in tiny.output
