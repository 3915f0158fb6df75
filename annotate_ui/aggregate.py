"""``curate aggregate``: selection frequency and a model posterior per (image, class).

Every candidate vote of an unflagged worker counts. The selection frequency is the share of
workers who ticked the image (ImageNetV2's measure); the posterior comes from one of crowd-kit's
aggregators fitted on a task/worker/label table where a task is an (image, class) pair and the
label is 1 (ticked) or 0. Gold items join the fit as tasks with their known answers, so workers'
confusion is anchored. Results go to ``aggregated_labels``: one row per method.

``crowdlab`` (cleanlab's CROWDLAB, :mod:`annotate_ui.crowdlab`) also weighs in a model's out-of-sample
P(image shows the class) from the newest ``curate predict`` run; its rows carry the consensus quality
and the active-learning score, and each worker's quality goes to ``worker_scores``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from annotate_ui.config import AnnotateConfig
from curation.db.models import AggregatedLabel, HitItem, Vote, Worker, WorkerScore
from curation.errors import CurateError

log = logging.getLogger(__name__)


def _dawid_skene(data, truth):
    from crowdkit.aggregation import DawidSkene

    if truth is not None and len(truth):
        return DawidSkene(n_iter=100, initial_error_strategy="assign").fit(data, true_labels=truth).probas_
    return DawidSkene(n_iter=100).fit(data).probas_


def _majority(data, truth):
    from crowdkit.aggregation import MajorityVote

    return MajorityVote().fit(data).probas_


def _glad(data, truth):
    from crowdkit.aggregation import GLAD

    return GLAD(n_iter=100).fit(data).probas_


def _mace(data, truth):
    from crowdkit.aggregation import MACE

    return MACE(n_restarts=3, n_iter=50, random_state=0).fit(data).probas_


# name -> fit(task/worker/label frame, gold labels or None) -> per-task probability frame (columns 0, 1)
METHODS: dict[str, Callable[[Any, Any], Any]] = {
    "dawid-skene": _dawid_skene,
    "majority": _majority,
    "glad": _glad,
    "mace": _mace,
}
CROWDLAB = "crowdlab"
ALL_METHODS = (*METHODS, CROWDLAB)  # crowdlab also needs a model run, so it is not a plain fit


@dataclass(frozen=True)
class DecisionRule:
    """An image is accepted for a class when enough workers voted and enough of them ticked it."""

    min_frequency: float = 0.7
    min_votes: int = 5
    min_posterior: float = 0.9

    def by_frequency(self, frequency: float, n_votes: int) -> bool:
        return n_votes >= self.min_votes and frequency >= self.min_frequency

    def by_posterior(self, posterior: float, n_votes: int) -> bool:
        return n_votes >= self.min_votes and posterior >= self.min_posterior

    @classmethod
    def from_config(cls, cfg: AnnotateConfig) -> "DecisionRule":
        return cls(cfg.min_frequency, cfg.min_votes, cfg.min_posterior)


@dataclass
class AggregateSummary:
    method: str
    tasks: int = 0
    votes: int = 0
    excluded_votes: int = 0
    accepted_frequency: int = 0
    accepted_model: int = 0
    per_class: dict[int, tuple[int, int]] = field(default_factory=dict)  # class id -> (tasks, accepted)


def vote_rows(session: Session, class_ids: Sequence[int] | None = None) -> list[tuple]:
    """(image, class, worker, selected, role, gold answer, worker flagged) for every counted vote."""
    stmt = (select(Vote.image_id, Vote.class_id, Vote.worker_id, Vote.selected, HitItem.role, HitItem.gold_answer,
                   Worker.flagged)
            .join(HitItem, HitItem.id == Vote.hit_item_id).join(Worker, Worker.id == Vote.worker_id))
    if class_ids:
        stmt = stmt.where(Vote.class_id.in_(list(class_ids)))
    return [tuple(r) for r in session.execute(stmt)]


def _upsert(session: Session, existing: dict, image_id: int, class_id: int, method: str, **values: Any) -> None:
    row = existing.get((image_id, class_id, method))
    if row is None:
        row = AggregatedLabel(image_id=image_id, class_id=class_id, method=method)
        session.add(row)
    for key, value in values.items():
        setattr(row, key, value)


def _crowd_kit(method: str, kept: list[tuple]) -> dict[tuple[int, int], dict[str, Any]]:
    """(image, class) -> {"posterior": P(shows the class)} from one of crowd-kit's aggregators."""
    import pandas as pd

    frame = pd.DataFrame([(f"{i}:{c}", str(w), int(bool(s))) for i, c, w, s, _r, _g, _f in kept],
                         columns=["task", "worker", "label"]).drop_duplicates(["task", "worker"])
    gold = {f"{i}:{c}": int(bool(g)) for i, c, _w, _s, role, g, _f in kept if role == "gold" and g is not None}
    truth = pd.Series(gold, dtype="int64") if gold else None
    with warnings.catch_warnings():  # crowd-kit's own pandas deprecation notices are not the user's concern
        warnings.simplefilter("ignore")
        probas = METHODS[method](frame, truth)
    out = {}
    for task in probas.index:
        image_id, class_id = (int(v) for v in str(task).split(":"))
        out[(image_id, class_id)] = {"posterior": float(probas.loc[task, 1]) if 1 in probas.columns else 0.0}
    return out


def _crowdlab(session: Session, kept: list[tuple], params: dict) -> dict[tuple[int, int], dict[str, Any]]:
    """(image, class) -> posterior, quality, active score, consensus from CROWDLAB; writes worker scores."""
    from annotate_ui.crowdlab import binary_probs, crowdlab, vote_matrix
    from annotate_ui.predictions import latest_predictions

    matrix = vote_matrix([((i, c), w, int(bool(s))) for i, c, w, s, role, _g, _f in kept if role == "candidate"])
    predictions, run_id = latest_predictions(session, sorted({c for _i, c in matrix.tasks}))
    missing = [t for t in matrix.tasks if t not in predictions]
    if missing:
        raise CurateError(f"{len(missing)} voted images have no model prediction (e.g. image {missing[0][0]}); "
                          "run  curate predict --class-set SET --weights PATH  first")
    result = crowdlab(matrix, binary_probs([predictions[t] for t in matrix.tasks]))
    params.update(model_run=run_id, model_weight=result.model_weight)
    scores = {s.worker_id: s for s in session.scalars(select(WorkerScore).where(WorkerScore.method == CROWDLAB))}
    for worker_id, (quality, agreement, n) in result.workers.items():
        row = scores.get(worker_id) or WorkerScore(worker_id=worker_id, method=CROWDLAB)
        row.quality, row.agreement, row.n_labels, row.params = quality, agreement, n, {"model_run": run_id}
        session.add(row)
    return {t: {"posterior": float(result.posterior[k]), "quality": float(result.quality[k]),
                "active_score": float(result.active[k]), "consensus": int(result.consensus[k])}
            for k, t in enumerate(result.tasks)}


def aggregate(session: Session, rule: DecisionRule, method: str = "dawid-skene",
              class_ids: Sequence[int] | None = None) -> AggregateSummary:
    """Write ``frequency`` rows and ``method`` rows to ``aggregated_labels`` for every voted candidate.

    A crowdlab row is accepted when its consensus label is 1 (the image shows the class)."""
    if method not in ALL_METHODS:
        raise ValueError(f"unknown aggregation method {method!r}; valid: {', '.join(ALL_METHODS)}")
    summary = AggregateSummary(method)
    rows = vote_rows(session, class_ids)
    kept = [r for r in rows if not r[6]]
    summary.excluded_votes = len(rows) - len(kept)
    summary.votes = len(kept)
    tallies: dict[tuple[int, int], list[int]] = {}
    for image_id, class_id, _w, selected, role, _g, _f in kept:
        if role == "candidate":
            tallies.setdefault((image_id, class_id), []).append(int(bool(selected)))
    if not tallies:
        return summary
    params = {"min_frequency": rule.min_frequency, "min_votes": rule.min_votes,
              "min_posterior": rule.min_posterior, "excluded_flagged_votes": summary.excluded_votes}
    fitted = _crowdlab(session, kept, params) if method == CROWDLAB else _crowd_kit(method, kept)
    existing = {(r.image_id, r.class_id, r.method): r for r in session.scalars(
        select(AggregatedLabel).where(AggregatedLabel.method.in_(("frequency", method))))}
    for (image_id, class_id), labels in sorted(tallies.items()):
        n, frequency = len(labels), sum(labels) / len(labels)
        found = fitted.get((image_id, class_id), {"posterior": 0.0})
        posterior = found["posterior"]
        by_freq = rule.by_frequency(frequency, n)
        by_model = bool(found["consensus"]) if "consensus" in found else rule.by_posterior(posterior, n)
        _upsert(session, existing, image_id, class_id, "frequency", frequency=frequency, n_votes=n,
                posterior=None, accepted=by_freq, params=params)
        _upsert(session, existing, image_id, class_id, method, frequency=frequency, n_votes=n,
                posterior=posterior, accepted=by_model, params=params, quality=found.get("quality"),
                active_score=found.get("active_score"))
        summary.tasks += 1
        summary.accepted_frequency += int(by_freq)
        summary.accepted_model += int(by_model)
        tasks, accepted = summary.per_class.get(class_id, (0, 0))
        summary.per_class[class_id] = (tasks + 1, accepted + int(by_freq))
    session.flush()
    log.info("aggregated %d tasks from %d votes (%d flagged votes left out)", summary.tasks, summary.votes,
             summary.excluded_votes)
    return summary
