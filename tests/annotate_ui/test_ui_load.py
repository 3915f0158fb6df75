"""bench/ui_load.py misses its target (and exits non-zero) on any lost or duplicated vote or assignment."""

from __future__ import annotations

from curate_demo.crowd import SimResult, Submission
from tests.fixtures.bench import load_bench


def crowd() -> SimResult:
    result = SimResult()
    result.submissions = [Submission("w1", "A", "cat", ["t1", "t2"], ["t1"]),
                          Submission("w2", "B", "cat", ["t1", "t2"], [])]
    result.latencies = {"static": [0.01, 0.02], "hit_page": [0.02, 0.03]}
    return result


ASSIGNED = [("A", 1, "submitted"), ("B", 1, "submitted")]


def test_ui_load_target_needs_every_vote_once(capsys):
    bench = load_bench("ui_load")
    right = [("A", "t1", True), ("A", "t2", False), ("B", "t1", False), ("B", "t2", False)]
    counts = {"submitted": 2}
    assert bench.report(crowd(), 1.0, 2, 2, counts, right, ASSIGNED) is True
    assert "votes_lost_or_duplicated: 0 lost, 0 duplicated of 4 stored (target 0 and 0) met" in capsys.readouterr().out
    cases = {"lost": (right[:3], "1 lost, 0 duplicated"),
             "duplicated": (right + [right[0]], "0 lost, 1 duplicated"),
             "flipped": ([("A", "t1", False)] + right[1:], "1 lost, 1 duplicated"),
             "empty": ([], "4 lost, 0 duplicated of 0 stored")}
    for name, (votes, text) in cases.items():
        assert bench.report(crowd(), 1.0, 2, 2, counts, votes, ASSIGNED) is False, name
        out = capsys.readouterr().out
        assert f"votes_lost_or_duplicated: {text}" in out and "votes_lost_or_duplicated" in \
            [line for line in out.splitlines() if line.endswith("missed")][0], name


def test_ui_load_target_needs_every_assignment_once(capsys):
    """Lost, phantom, twice-acknowledged and over-filled assignments each miss the target."""
    bench = load_bench("ui_load")
    votes = [("A", "t1", True), ("A", "t2", False), ("B", "t1", False), ("B", "t2", False)]
    counts = {"submitted": 2}
    twice = crowd()
    twice.submissions.append(Submission("w1", "A", "cat", ["t1", "t2"], ["t1"]))
    cases = {  # name: (crowd, stored assignments, slots per HIT, expected counts)
        "lost": (crowd(), [("A", 1, "submitted"), ("B", 1, "leased")], 2, "1 lost, 0 duplicated of 2"),
        "missing row": (crowd(), [("A", 1, "submitted")], 2, "1 lost, 0 duplicated"),
        "phantom": (crowd(), ASSIGNED + [("C", 2, "rejected")], 2, "0 lost, 1 duplicated"),
        "acknowledged twice": (twice, ASSIGNED, 2, "0 lost, 1 duplicated of 3"),
        "over-filled": (crowd(), ASSIGNED, 1, "0 lost, 1 duplicated of 2"),
    }
    for name, (result, assigned, per_hit, text) in cases.items():
        assert bench.report(result, 1.0, 2, per_hit, counts, votes, assigned) is False, name
        out = capsys.readouterr().out
        line = next(x for x in out.splitlines() if x.startswith("TARGET assignments_lost_or_duplicated"))
        assert text in line and line.endswith("missed"), (name, line)
    # a rejected (flagged worker's) assignment the crowd did submit is neither lost nor duplicated
    flagged = crowd()
    flagged.submissions.append(Submission("w3", "C", "cat", [], []))
    assert bench.report(flagged, 1.0, 2, 2, counts, votes, ASSIGNED + [("C", 1, "rejected")]) is True
    assert "assignments_lost_or_duplicated: 0 lost, 0 duplicated of 3 submitted (target 0 and 0) met" \
        in capsys.readouterr().out
    # fewer counted assignments than slots misses the slot target
    assert bench.report(crowd(), 1.0, 3, 2, counts, votes, ASSIGNED) is False
    assert "hit_slots_filled: 2 of 3 (target all) missed" in capsys.readouterr().out
