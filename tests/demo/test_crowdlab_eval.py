"""The CROWDLAB measurement: each figure recomputed here by a plain loop or a direct library call."""

from __future__ import annotations

import numpy as np
import pytest

from curate_demo import crowdlab as ev

TINY = ev.EvalConfig(classes=("goldfish", "strawberry", "mushroom"), per_class=12, votes=3, review_votes=2,
                     folds=3, size=32, seeds=(0,))
CREW = ("honest", "honest", "careless", "spammer")
PROFILES = {"honest": 0.95, "careless": 0.75, "spammer": 0.5}


@pytest.fixture(scope="module")
def backbone():
    return ev._backbone(0)


@pytest.fixture(scope="module")
def world(backbone):
    return ev.make_world(TINY, CREW, PROFILES, 0, backbone)


def test_world_votes_follow_the_crew(world):
    assert world.features.shape == (36, 512)
    for i in range(36):
        assert sorted(world.slot_worker[i]) == [0, 1, 2, 3]  # distinct workers per image
        truth = int(world.hinted[i] == world.shows[i])
        for j in range(4):
            assert world.answers[i, j] in (truth, 1 - truth)
    assert (world.hinted != world.shows).any()


def test_matrix_and_frequency_by_loop(world):
    counts = np.array([2, 3, 4] * 12)
    matrix = ev.matrix_for(world, counts, 4)
    for i in range(36):
        seen = {}
        for j in range(counts[i]):
            seen[int(world.slot_worker[i, j])] = int(world.answers[i, j])
        for w in range(4):
            expected = seen.get(w)
            got = matrix.labels[i, w]
            assert (np.isnan(got) and expected is None) or got == expected
        ticked = sum(seen.values())
        assert ev.by_frequency(matrix)[i] == (1 if ticked > len(seen) / 2 else 0)


def test_errors_first_share_by_hand():
    quality = np.array([0.9, 0.1, 0.5, 0.2, 0.95, 0.3, 0.8, 0.7, 0.6, 0.4])
    wrong = np.array([0, 1, 0, 0, 0, 1, 0, 0, 0, 1], dtype=bool)
    assert ev.errors_first_share(quality, wrong, 0.1) == pytest.approx(1 / 3)  # first: quality 0.1 (wrong)
    assert ev.errors_first_share(quality, wrong, 0.3) == pytest.approx(2 / 3)  # 0.1, 0.2, 0.3
    assert np.isnan(ev.errors_first_share(quality, np.zeros(10, dtype=bool)))


@pytest.mark.slow
def test_seed_figures_match_direct_library_calls(world, backbone):
    import pandas as pd
    from cleanlab.multiannotator import get_label_quality_multiannotator
    from crowdkit.aggregation import DawidSkene

    result = ev.evaluate_seed(TINY, CREW, PROFILES, 0, backbone)
    truth = [int(world.hinted[i] == world.shows[i]) for i in range(36)]
    curve = {}
    for votes in (2, 3):
        matrix = ev.matrix_for(world, np.full(36, votes), 4)
        probs = ev.model_probs(world, matrix, 3, TINY.folds, 0)
        p = np.clip(probs, 1e-4, 1 - 1e-4)
        direct = get_label_quality_multiannotator(matrix.labels, np.stack([1 - p, p], 1), verbose=False)
        consensus = direct["label_quality"]["consensus_label"].to_list()
        right = 0
        for i in range(36):
            right += consensus[i] == truth[i]
        curve[votes] = right / 36
        assert result.accuracy[("crowdlab", votes)] == pytest.approx(curve[votes])
        rows = [(i, w, int(matrix.labels[i, w])) for i in range(36) for w in range(4) if not np.isnan(matrix.labels[i, w])]
        ds = DawidSkene(n_iter=100).fit_predict(pd.DataFrame(rows, columns=["task", "worker", "label"]))
        assert result.accuracy[("dawid-skene", votes)] == pytest.approx(
            sum(int(ds[i]) == truth[i] for i in range(36)) / 36)
        if votes == TINY.review_votes:
            quality = direct["label_quality"]["consensus_quality_score"].to_numpy()
            wrong = [i for i in range(36) if consensus[i] != truth[i]]
            first = sorted(range(36), key=lambda i: (quality[i], i))[:4]  # 10% of 36, rounded
            assert result.errors == len(wrong)
            assert result.errors_first == pytest.approx(len(set(first) & set(wrong)))
    assert result.target == curve[3]
    assert result.passive_votes == 36 * min(v for v in (2, 3) if curve[v] >= curve[3])


@pytest.mark.slow
def test_active_collection_stops_at_target_or_when_the_crew_is_spent(world):
    spent, reached = ev.active_votes(world, 4, TINY, 0, target=0.0)
    assert (spent, reached) == (36 * TINY.start_votes, True)
    spent, reached = ev.active_votes(world, 4, TINY, 0, target=1.01)
    assert (spent, reached) == (36 * 4, False)
