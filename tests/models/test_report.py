"""Tables and the IID-vs-OOD plot from stored results."""

from __future__ import annotations

import json

import pytest

from curation.errors import CurateError
from models.report import build_table, to_latex, write_report


def _results(tmp_path, label, iid_err, ood_err, aug):
    run = tmp_path / label
    run.mkdir()
    sets = {"rend:test": {"kind": "imagenet-r", "role": "ood", "error": ood_err, "calibration_rms": 0.1}}
    summary = {"imagenet-r": {"iid_error": iid_err, "ood_error": ood_err, "gap": ood_err - iid_err,
                              "per_set": {"rend:test": ood_err}}}
    (run / "results.json").write_text(json.dumps({"label": label, "model": "resnet50", "aug": aug, "sets": sets,
                                                  "summary": summary, "weights": f"w/{label}.pth"}))
    return run


def test_imagenet_r_table_plot_and_fit(tmp_path, cli):
    runs = [_results(tmp_path, "base", 0.10, 0.60, "none"), _results(tmp_path, "augmix_run", 0.12, 0.55, "augmix"),
            _results(tmp_path, "da", 0.14, 0.50, "deepaugment+augmix")]
    out = write_report("imagenet-r", runs, tmp_path / "rep")
    assert "| base | resnet50 | w/base.pth | none | ? | fp32 | 10.0 | 60.0 | 50.0 | 10.0 |" in out["markdown"]
    # three collinear points: OOD acc = 40, 45, 50 at IID acc 90, 88, 86 -> slope -2.5, no effective robustness
    assert out["fit"]["slope"] == pytest.approx(-2.5)
    assert all(abs(v) < 1e-9 for v in out["fit"]["effective_robustness"].values())
    tex = (tmp_path / "rep" / "report-imagenet-r.tex").read_text()
    assert r"augmix\_run" in tex and r"\begin{tabular}" in tex
    assert (tmp_path / "rep" / "report-imagenet-r.png").read_bytes()[:4] == b"\x89PNG"
    res = cli("report", *runs, "--table", "imagenet-r", "--out", tmp_path / "rep2")
    assert "fit OOD = -2.50 x IID" in res.output


def test_report_errors(tmp_path):
    run = _results(tmp_path, "base", 0.1, 0.6, "none")
    with pytest.raises(CurateError, match="no dfr results|none of the runs"):
        write_report("dfr", [run], tmp_path / "rep")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CurateError, match="no results.json in .*evaluate first"):
        write_report("imagenet-r", [tmp_path / "empty"], tmp_path / "rep")
    with pytest.raises(ValueError, match="valid names"):
        build_table("cifar", [])
    assert "50\\%" in to_latex(["a", "b", "c", "d"], [["x", "y", "z", "50%"]], "t")


def test_dfr_table_names_the_released_metric(tmp_path):
    run = tmp_path / "dfr_run"
    run.mkdir()
    summary = {"dfr": {"metric": "dfr_weighted_pr_auc", "per_set": {"dfr:scale_1": 0.5, "dfr:zoom_in_2": 0.3},
                       "iid": 0.8, "ood_average": 0.4, "n_ood_sets": 2}}
    (run / "results.json").write_text(json.dumps({"label": "base", "model": "resnet50", "aug": "none", "sets": {},
                                                  "summary": summary}))
    header, rows = build_table("dfr", [json.loads((run / "results.json").read_text())])
    assert header[-1] == "OOD average weighted PR-AUC" and "mAP" not in " ".join(header)
    assert rows == [["base", "resnet50", "?", "none", "?", "fp32", "50.0", "30.0", "40.0"]]


def test_an_empty_or_partial_plot_says_why(tmp_path):
    from models.report import accuracy_points, plot_note

    with_iid = _results(tmp_path, "base", 0.1, 0.6, "none")
    no_iid = _results(tmp_path, "noiid", 0.1, 0.5, "none")
    data = json.loads((no_iid / "results.json").read_text())
    data["summary"]["imagenet-r"]["iid_error"] = None
    (no_iid / "results.json").write_text(json.dumps(data))
    alone = write_report("imagenet-r", [no_iid], tmp_path / "rep")
    assert alone["plot_note"].startswith("no point to plot") and "--iid" in alone["plot_note"]
    both = write_report("imagenet-r", [with_iid, no_iid], tmp_path / "rep")
    assert "1 run(s) not plotted: no IID result" in both["plot_note"] and "no fitted line" in both["plot_note"]
    assert plot_note("imagenet-r", [], accuracy_points("imagenet-r", [])).startswith("no point to plot")
