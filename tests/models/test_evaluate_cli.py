"""``curate evaluate`` / ``curate report`` as a user runs them: per-image predictions and per-class results on
disk, sets kept apart per export, earlier evaluations never replaced silently, reports found where evaluate
writes, and argument errors before any model is built."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
import torchvision

KEYS = ["ant", "bee", "cat", "dog", "eel", "fox", "gnu"]


def _weights(path: Path, n: int, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    torch.save(torchvision.models.resnet18(num_classes=n).state_dict(), path)
    return path


def _csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _evaluate(cli, weights, *sets, ok=True, extra=()):
    return cli("evaluate", "--model", "resnet18", "--weights", weights, "--sets", *sets, "--resize", "36", "--crop",
               "32", "--workers", "0", "--batch-size", "8", *extra, ok=ok)


def test_per_image_predictions_per_class_and_exports_kept_apart(cli, make_export, tmp_path):
    split = make_export("photos", {"val": 2, "test": 2}, keys=KEYS, n_classes=7)
    copy = make_export("photos-wds", {"test": 2}, keys=KEYS, n_classes=7, seed=3, info={"name": "photos"})
    out = _evaluate(cli, _weights(tmp_path / "w7.pth", 7), split, copy, extra=("--out", tmp_path / "ev")).output
    results = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert set(results["sets"]) == {"photos:val", "photos:test", "photos-wds:test"}  # one split, two exports
    assert "images/s" in out and "per-image predictions" in out and "lowest class accuracy" in out
    for key, res in results["sets"].items():
        rows = _csv(tmp_path / "ev" / res["predictions"])
        assert len(rows) == res["n"] == 14 and res["images_per_s"] > 0
        assert {r["image"] for r in rows} == {r.path for r in _manifest_rows(Path(res["path"]), res["subsets"])}
        assert res["error"] == pytest.approx(sum(r["correct"] == "0" for r in rows) / len(rows))
        assert all((r["pred"] == r["true"]) == (r["correct"] == "1") for r in rows)
        assert all(r["top5"].split("|")[0] == r["pred"] and len(r["top5"].split("|")) == 5 for r in rows)
        top5_hits = sum(r["true"] in r["top5"].split("|") for r in rows)
        assert res["top5_error"] == pytest.approx(1 - top5_hits / len(rows))
        for cls in KEYS:  # per-class accuracy, by a plain loop over the images
            mine = [r["correct"] == "1" for r in rows if r["true"] == cls]
            assert res["per_class"][cls] == {"n": len(mine), "accuracy": pytest.approx(sum(mine) / len(mine))}
        confusion = {(r["true"], r["pred"]): int(r["count"]) for r in _csv(tmp_path / "ev" / res["confusion"])}
        assert confusion == dict(Counter((r["true"], r["pred"]) for r in rows))
    assert results["sets"]["photos:val"]["role"] == "iid" and results["sets"]["photos-wds:test"]["role"] == "ood"
    assert results["sets"]["photos-wds:test"]["export"] == "photos"  # the split's name is kept beside the key


def _manifest_rows(root: Path, subsets: list[str]):
    from splits.frozen import read_export

    return [r for r in read_export(root).rows if r.subset in subsets]


def test_an_earlier_evaluation_is_never_replaced_silently(cli, make_export, tmp_path):
    a = make_export("a", {"test": 1}, keys=KEYS[:3], n_classes=3)
    b = make_export("b", {"test": 1}, keys=KEYS[:3], n_classes=3, seed=2)
    w1, w2 = _weights(tmp_path / "w1.pth", 3), _weights(tmp_path / "w2.pth", 3, seed=1)
    ev = ("--out", tmp_path / "ev")
    _evaluate(cli, w1, a, extra=ev)
    before = (tmp_path / "ev" / "results.json").read_bytes()
    again = _evaluate(cli, w1, a, ok=False, extra=ev)
    assert again.exit_code == 1 and "already holds results for a:test" in again.output
    assert "--overwrite" in again.output and "Traceback" not in again.output
    other = _evaluate(cli, w2, b, ok=False, extra=ev)
    assert other.exit_code == 1 and "w1.pth" in other.output and "w2.pth" in other.output
    size = _evaluate(cli, w1, b, ok=False, extra=(*ev, "--resize", "40"))
    assert size.exit_code == 1 and "resize 36, not 40" in size.output
    assert (tmp_path / "ev" / "results.json").read_bytes() == before
    _evaluate(cli, w1, b, extra=ev)  # same weights and settings, new sets: added beside the earlier ones
    assert set(json.loads((tmp_path / "ev" / "results.json").read_text())["sets"]) == {"a:test", "b:test"}
    _evaluate(cli, w2, b, extra=(*ev, "--overwrite"))
    replaced = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert set(replaced["sets"]) == {"b:test"} and replaced["weights"].endswith("w2.pth")
    assert not (tmp_path / "ev" / "predictions" / "a_test.csv").exists()  # the replaced evaluation's files go too


def test_report_finds_what_evaluate_wrote_and_picks_the_table(cli, make_export, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    only_ood = make_export("renders", {"test": 1}, keys=KEYS[:3], n_classes=3)
    _evaluate(cli, _weights(tmp_path / "r18.pth", 3), only_ood)
    assert (tmp_path / "runs" / "eval-resnet18-r18" / "results.json").is_file()
    (tmp_path / "runs" / "untrained").mkdir()  # a run folder without an evaluation, as runs/* brings
    out = cli("report", *sorted((tmp_path / "runs").iterdir()), "--out", tmp_path / "rep").output
    assert "no results.json in 1 of the paths" in out and "untrained" in out
    assert "svsf:" in out and "| eval-resnet18-r18 | resnet18 |" in out and "r18.pth" in out
    assert "plot: no point to plot: no run has both an IID and an OOD" in out
    assert (tmp_path / "rep" / "report-svsf.png").read_bytes()[:4] == b"\x89PNG"
    whole = cli("report", tmp_path / "runs", "--out", tmp_path / "rep2").output  # the folder of runs itself
    assert "| eval-resnet18-r18 |" in whole
    none = cli("report", tmp_path / "runs" / "untrained", ok=False)
    assert none.exit_code == 1 and "evaluate first" in none.output


def _no_model_building(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was built before the arguments were checked")

    monkeypatch.setattr("models.registry.create_model", refuse)
    monkeypatch.setattr("models.registry.load_named", refuse)


def test_argument_errors_come_before_any_model_is_built(cli, make_export, tmp_path, monkeypatch):
    _no_model_building(monkeypatch)
    export = make_export("three", {"test": 1}, keys=KEYS[:3], n_classes=3)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not weights")
    unknown = cli("evaluate", "--model", "resnet-nope", "--weights", garbage, "--sets", export, ok=False)
    assert unknown.exit_code == 1 and "unknown model 'resnet-nope'" in unknown.output  # before reading the file
    wrong = _evaluate(cli, _weights(tmp_path / "w5.pth", 5), export, ok=False)
    assert wrong.exit_code == 1 and "a 5-way model cannot score these 3 classes" in wrong.output
    image = next(Path(export).glob("test/*/*.jpg"))
    image.write_bytes(image.read_bytes() + b"x")
    altered = _evaluate(cli, _weights(tmp_path / "w3.pth", 3), export, ok=False)
    assert altered.exit_code == 1 and "altered" in altered.output


SCRIPT = """
import sys
from curation.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    print("exit", exc.code)
print("torch imported:", "torch" in sys.modules)
"""


@pytest.mark.parametrize("case", ["missing", "not-an-export", "no-subset"])
def test_set_errors_arrive_without_importing_torch(make_export, tmp_path, case):
    export = make_export("three", {"test": 1}, keys=KEYS[:3], n_classes=3)
    (tmp_path / "plain").mkdir()
    spec = {"missing": str(tmp_path / "nowhere"), "not-an-export": str(tmp_path / "plain"),
            "no-subset": f"{export}:tset"}[case]
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-c", SCRIPT, "evaluate", "--model", "resnet18", "--weights", "w.pth",
                          "--sets", spec], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert "exit 1" in run.stdout and "torch imported: False" in run.stdout, run.stdout + run.stderr
    expected = {"missing": "does not exist", "not-an-export": "not a curate export", "no-subset": "no subset 'tset'"}
    assert expected[case] in run.stdout + run.stderr


def test_progress_bar_is_on_stderr_and_off_when_quiet_or_not_a_terminal(cli, make_export, tmp_path, monkeypatch):
    from models import cli as models_cli

    made = []
    real = models_cli._Bar

    def spy(disable):
        made.append(disable)
        return real(disable)

    monkeypatch.setattr(models_cli, "_Bar", spy)
    export = make_export("three", {"test": 1}, keys=KEYS[:3], n_classes=3)
    weights = _weights(tmp_path / "w3.pth", 3)
    _evaluate(cli, weights, export, extra=("--out", tmp_path / "a"))  # CliRunner's stderr is not a terminal
    _evaluate(cli, weights, export, extra=("--out", tmp_path / "b", "--quiet"))
    assert made == [True, True]
    bar = real(disable=False)
    assert bar.progress.console.stderr and not bar.progress.disable
