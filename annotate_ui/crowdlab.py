"""CROWDLAB (cleanlab's multi-annotator module) on our binary labeling task.

A HIT asks "does this image show class X?", so every (image, class) pair is one example of a
two-class problem: label 1 when a worker ticked the image, 0 when they saw it and did not. The model
column is P(image shows X) from an out-of-sample run (:mod:`annotate_ui.predictions`), as [1 - p, p].
cleanlab returns a consensus label and a consensus quality per pair (low: doubtful), a quality per
worker, and ActiveLab scores (low: the next vote on that pair is worth most).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Hashable, Sequence

import numpy as np

from curation.errors import CurateError

log = logging.getLogger(__name__)
Task = tuple[int, int]  # (image id, class id)


@dataclass
class VoteMatrix:
    """Rows: tasks; columns: workers; entries 1 (ticked), 0 (not ticked) or NaN (did not see it)."""

    tasks: list[Task]
    workers: list[Hashable]
    labels: np.ndarray


def vote_matrix(votes: Sequence[tuple[Task, Hashable, int]]) -> VoteMatrix:
    """The matrix of ``(task, worker, 0/1)`` votes; a worker's later vote on the same task is ignored."""
    tasks = sorted({t for t, _w, _v in votes})
    workers = sorted({w for _t, w, _v in votes}, key=str)
    rows, cols = {t: k for k, t in enumerate(tasks)}, {w: k for k, w in enumerate(workers)}
    labels = np.full((len(tasks), len(workers)), np.nan)
    for task, worker, value in votes:
        if np.isnan(labels[rows[task], cols[worker]]):
            labels[rows[task], cols[worker]] = float(bool(value))
    return VoteMatrix(tasks, workers, labels)


def binary_probs(p_positive: Sequence[float], eps: float = 1e-4) -> np.ndarray:
    """[[1 - p, p]] with p kept off 0 and 1 (cleanlab takes logs)."""
    p = np.clip(np.asarray(p_positive, dtype=float), eps, 1 - eps)
    return np.stack([1 - p, p], axis=1)


@dataclass
class CrowdlabResult:
    tasks: list[Task]
    consensus: np.ndarray            # 0/1 per task
    quality: np.ndarray              # consensus quality per task (0-1, low = doubtful)
    posterior: np.ndarray            # P(task's image shows the class), from the quality of the consensus
    agreement: np.ndarray            # share of the task's workers who voted the consensus
    n_votes: np.ndarray
    active: np.ndarray               # ActiveLab score per task (low = another vote is worth most)
    workers: dict[Hashable, tuple[float, float, int]] = field(default_factory=dict)  # quality, agreement, labels
    model_weight: float = 0.0


def _check(matrix: VoteMatrix) -> None:
    counts = (~np.isnan(matrix.labels)).sum(axis=1)
    if len(matrix.workers) < 2 or not (counts > 1).any():
        raise CurateError("crowdlab needs at least two workers' votes on some image; collect more votes "
                          "(or use --method dawid-skene)")


def crowdlab(matrix: VoteMatrix, pred_probs: np.ndarray) -> CrowdlabResult:
    """Consensus, qualities and active-learning scores for ``matrix`` with the model's ``pred_probs``."""
    from cleanlab.multiannotator import get_active_learning_scores, get_label_quality_multiannotator

    _check(matrix)
    with warnings.catch_warnings():  # "a class never appears in the consensus" and the like: not errors here
        warnings.simplefilter("ignore")
        info = get_label_quality_multiannotator(matrix.labels, pred_probs, return_weights=True, verbose=False)
        active, _ = get_active_learning_scores(matrix.labels, pred_probs)
    table, stats = info["label_quality"], info["annotator_stats"]
    consensus = table["consensus_label"].to_numpy().astype(int)
    quality = table["consensus_quality_score"].to_numpy().astype(float)
    # cleanlab's default quality is the self-confidence of the consensus under its posterior
    posterior = np.where(consensus == 1, quality, 1 - quality)
    workers = {matrix.workers[int(k)]: (float(r.annotator_quality), float(r.agreement_with_consensus),
                                        int(r.num_examples_labeled)) for k, r in stats.iterrows()}
    return CrowdlabResult(matrix.tasks, consensus, quality, posterior,
                          table["annotator_agreement"].to_numpy().astype(float),
                          table["num_annotations"].to_numpy().astype(int), np.asarray(active, dtype=float),
                          workers, float(info["model_weight"]))


def unlabeled_scores(matrix: VoteMatrix, pred_probs: np.ndarray, pred_probs_unlabeled: np.ndarray) -> np.ndarray:
    """ActiveLab scores of tasks nobody voted on yet (comparable with :attr:`CrowdlabResult.active`)."""
    from cleanlab.multiannotator import get_active_learning_scores

    if not len(pred_probs_unlabeled):
        return np.zeros(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, scores = get_active_learning_scores(matrix.labels, pred_probs, pred_probs_unlabeled)
    return np.asarray(scores, dtype=float)
