"""The whole offline pipeline at reduced size: every stage hands the next what it needs."""

import json
import os
import subprocess
import sys

import pytest

from splits.frozen import read_export, verify


@pytest.mark.slow
def test_demo_pipeline_end_to_end(tmp_path):
    out = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k not in ("CURATE_DB", "CURATE_WORKSPACE")}
    proc = subprocess.run([sys.executable, "-m", "curation", "demo", "--out", str(out), "--size", "small"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = proc.stdout
    # scrape + filters: every planted problem caught, against the emulator's ground truth
    truth = json.loads((out / "emulator_ground_truth.json").read_text())
    planted = sum(1 for p in truth["photos"] if p.get("plant"))
    assert f"filters caught {planted} of {planted} planted problems" in log
    assert (out / "filter-report.html").exists()
    # labeling: the crowd submitted, aggregation accepted, the reviewer reviewed
    assert "failures: 0" in log and "scripted reviewer: {'accept':" in log
    # splits: Mini-R has train, IID and one test set per rendition style, and verifies
    mini_r = read_export(next((out / "exports").glob("mini-r-v*")))
    assert set(mini_r.subsets()) == {"train", "iid_test", "sketch", "cartoon", "painting", "origami"}
    assert verify(mini_r.root).ok
    styles = {row.subset: row.metadata.get("rendition") for row in mini_r.rows}
    assert styles["train"] == "photo" and styles["sketch"] == "sketch"
    # models: three trained runs, the report tables have a row for every method
    for table in ("imagenet-r", "imagenet-c"):
        report = (out / "models" / "reports" / f"report-{table}.md").read_text()
        for method in ("none", "augmix", "noise2net"):
            assert f"| {method} |" in report, (table, method)
        assert (out / "models" / "reports" / f"report-{table}.png").stat().st_size > 1000
    assert "Mini-R (IID error, rendition error, gap per method)" in log
    assert "curate --workspace" in log and "/join/" in log
