"""bench/ui_load.py misses its target (and exits non-zero) on any lost or duplicated vote."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from curate_demo.crowd import SimResult, Submission

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ui_load.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("ui_load_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def crowd() -> SimResult:
    result = SimResult()
    result.submissions = [Submission("w1", "A", "cat", ["t1", "t2"], ["t1"]),
                          Submission("w2", "B", "cat", ["t1", "t2"], [])]
    result.latencies = {"static": [0.01, 0.02], "hit_page": [0.02, 0.03]}
    return result


def test_ui_load_target_needs_every_vote_once(capsys):
    bench = load_bench()
    right = [("A", "t1", True), ("A", "t2", False), ("B", "t1", False), ("B", "t2", False)]
    counts = {"submitted": 2}
    assert bench.report(crowd(), 1.0, 2, counts, right) is True
    assert "votes_lost_or_duplicated: 0 lost, 0 duplicated of 4 stored (target 0 and 0) met" in capsys.readouterr().out
    cases = {"lost": (right[:3], "1 lost, 0 duplicated"),
             "duplicated": (right + [right[0]], "0 lost, 1 duplicated"),
             "flipped": ([("A", "t1", False)] + right[1:], "1 lost, 1 duplicated"),
             "empty": ([], "4 lost, 0 duplicated of 0 stored")}
    for name, (votes, text) in cases.items():
        assert bench.report(crowd(), 1.0, 2, counts, votes) is False, name
        out = capsys.readouterr().out
        assert f"votes_lost_or_duplicated: {text}" in out and out.rstrip().endswith("missed"), name
