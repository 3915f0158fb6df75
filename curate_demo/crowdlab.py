"""What CROWDLAB buys, measured on the demo's simulated crowd where the true labels are known.

The world: the emulator's classes, ``per_class`` candidates each, rendered by the emulator in its
demo styles; a ``wrong_share`` of them really shows another class (as in the labeling demo). The
crowd: the demo's crew (:data:`curate_demo.labeling.DEMO_CREW`) with the simulator's profiles
(:data:`curate_demo.crowd.PROFILES`: the chance a worker answers right), each task seen by
distinct workers in a random order. The votes are drawn here, in memory, not over HTTP: the
comparison needs many budgets of the same crowd on the same images.

The model is fair: a frozen backbone (random-init resnet18 saved to a local file, so nothing is
downloaded) turns the rendered images into features, and the K-fold linear head of
:mod:`annotate_ui.predictions` predicts each image from folds that never saw its (crowd) label.

Three figures: label accuracy of selection frequency (majority), Dawid-Skene and CROWDLAB at equal
votes; the share of CROWDLAB's label errors in the first 10% of the doubt-ordered queue against a
random order (10% in expectation); the votes active collection (ActiveLab) needs to reach the
accuracy uniform collection reaches with ``votes`` per image.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from annotate_ui.crowdlab import VoteMatrix, binary_probs, crowdlab
from annotate_ui.predictions import image_features, load_backbone, oof_probabilities

log = logging.getLogger(__name__)
STYLES = ("photo", "sketch", "cartoon", "painting", "origami")  # the demo's scrape styles


@dataclass(frozen=True)
class EvalConfig:
    classes: tuple[str, ...] = ("goldfish", "strawberry", "mushroom", "beacon", "ladybug")
    per_class: int = 60
    wrong_share: float = 0.15
    votes: int = 5              # votes per image of uniform collection (the demo's workers_per_image)
    review_votes: int = 3       # the budget whose CROWDLAB errors the doubt-ordered queue is scored on
    start_votes: int = 2        # active collection: every image first gets this many
    batch_share: float = 0.1    # active collection: votes added per round, as a share of the images
    folds: int = 5
    size: int = 64
    seeds: tuple[int, ...] = (0, 1, 2)


@dataclass
class World:
    """Tasks (image, hinted class), truth per task, features per image, worker accuracy per vote slot."""

    hinted: np.ndarray           # class index each image was found for
    shows: np.ndarray            # class index each image really shows
    features: np.ndarray
    slot_worker: np.ndarray      # (images, crew): which crew member gives an image's j-th vote
    answers: np.ndarray          # (images, crew): the vote that member gives (0/1)

    @property
    def truth(self) -> np.ndarray:
        return (self.hinted == self.shows).astype(int)


def _backbone(seed: int):
    import torch
    import torchvision

    gen = torch.Generator().manual_seed(seed)
    model = torchvision.models.resnet18(weights=None)
    with torch.no_grad():
        for p in model.parameters():  # a random init drawn from our own generator, not the global one
            if p.dim() > 1:
                p.copy_(torch.nn.init.kaiming_normal_(torch.empty_like(p), generator=gen))
    with tempfile.TemporaryDirectory() as tmp:  # loaded from a local file, like a user's weights
        path = Path(tmp) / "resnet18.pth"
        torch.save(model.state_dict(), path)
        return load_backbone("resnet18", path)


def make_world(cfg: EvalConfig, crew: Sequence[str], profiles: dict[str, float], seed: int, backbone) -> World:
    from curation.emulator.renditions import render

    rng = np.random.default_rng(seed)
    n_classes = len(cfg.classes)
    hinted = np.repeat(np.arange(n_classes), cfg.per_class)
    wrong = rng.random(len(hinted)) < cfg.wrong_share
    shows = np.where(wrong, (hinted + rng.integers(1, n_classes, len(hinted))) % n_classes, hinted)
    images = (render(cfg.classes[c], STYLES[int(rng.integers(len(STYLES)))], int(rng.integers(1 << 30)),
                     (cfg.size, cfg.size)) for c in shows)
    features = image_features(backbone, images, cfg.size)
    slot_worker = np.stack([rng.permutation(len(crew)) for _ in hinted])
    right = np.array([profiles[crew[w]] for w in slot_worker.ravel()]).reshape(slot_worker.shape)
    truth = (hinted == shows).astype(int)[:, None]
    answers = np.where(rng.random(slot_worker.shape) < right, truth, 1 - truth)
    return World(hinted, shows, features, slot_worker, answers)


def matrix_for(world: World, counts: np.ndarray, n_workers: int) -> VoteMatrix:
    """The votes of the first ``counts[i]`` slots of every image, as a task x worker matrix."""
    labels = np.full((len(counts), n_workers), np.nan)
    for i, n in enumerate(counts):
        labels[i, world.slot_worker[i, :n]] = world.answers[i, :n]
    return VoteMatrix([(i, int(world.hinted[i])) for i in range(len(counts))], list(range(n_workers)), labels)


def model_probs(world: World, matrix: VoteMatrix, n_classes: int, folds: int, seed: int) -> np.ndarray:
    """P(image shows its hinted class), out of fold, from a head fitted on the crowd's majority labels."""
    ticked, seen = np.nansum(matrix.labels, axis=1), (~np.isnan(matrix.labels)).sum(axis=1)
    labels = np.where(2 * ticked > seen, world.hinted, n_classes)  # n_classes: "other" (OTHER in the app)
    probs = oof_probabilities(world.features, labels, n_classes + 1, folds, seed)
    return probs[np.arange(len(labels)), world.hinted]


def by_frequency(matrix: VoteMatrix) -> np.ndarray:
    """Selection frequency as a label: ticked by more than half of the workers who saw it."""
    ticked, seen = np.nansum(matrix.labels, axis=1), (~np.isnan(matrix.labels)).sum(axis=1)
    return (2 * ticked > seen).astype(int)


def by_dawid_skene(matrix: VoteMatrix) -> np.ndarray:
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    rows, cols = np.nonzero(~np.isnan(matrix.labels))
    frame = pd.DataFrame({"task": rows, "worker": cols, "label": matrix.labels[rows, cols].astype(int)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = DawidSkene(n_iter=100).fit_predict(frame)
    return labels.reindex(range(len(matrix.tasks))).fillna(0).astype(int).to_numpy()


def errors_first_share(quality: np.ndarray, wrong: np.ndarray, share: float = 0.1) -> float:
    """Share of the errors (``wrong``) among the ``share`` lowest-quality tasks (NaN with no error)."""
    if not wrong.any():
        return float("nan")
    first = np.argsort(quality, kind="stable")[:max(1, int(round(share * len(quality))))]
    return float(wrong[first].sum() / wrong.sum())


@dataclass
class SeedResult:
    accuracy: dict[tuple[str, int], float] = field(default_factory=dict)  # (method, votes/image) -> accuracy
    errors: int = 0                # CROWDLAB's label errors at ``review_votes`` votes per image
    errors_first: float = 0.0      # how many of them sit in the first 10% of the doubt-ordered queue
    images: int = 0
    passive_votes: int = 0         # uniform collection's votes to reach the target accuracy
    active_votes: int = 0          # active collection's votes to reach the same accuracy
    target: float = 0.0
    active_reached: bool = False


def _crowdlab_labels(world: World, counts: np.ndarray, n_workers: int, cfg: EvalConfig, seed: int):
    matrix = matrix_for(world, counts, n_workers)
    return matrix, crowdlab(matrix, binary_probs(model_probs(world, matrix, len(cfg.classes), cfg.folds, seed)))


def active_votes(world: World, n_workers: int, cfg: EvalConfig, seed: int, target: float) -> tuple[int, bool]:
    """Votes active collection spends until CROWDLAB's accuracy reaches ``target`` (or the crew runs out)."""
    counts = np.full(len(world.hinted), cfg.start_votes)
    batch = max(1, int(cfg.batch_share * len(counts)))
    while True:
        _m, result = _crowdlab_labels(world, counts, n_workers, cfg, seed)
        if (result.consensus == world.truth).mean() >= target:
            return int(counts.sum()), True
        open_ = np.flatnonzero(counts < n_workers)
        if not len(open_):
            return int(counts.sum()), False
        chosen = open_[np.argsort(result.active[open_], kind="stable")[:batch]]
        counts[chosen] += 1


def evaluate_seed(cfg: EvalConfig, crew: Sequence[str], profiles: dict[str, float], seed: int,
                  backbone) -> SeedResult:
    world = make_world(cfg, crew, profiles, seed, backbone)
    out, n = SeedResult(images=len(world.hinted)), len(world.hinted)
    curve: dict[int, float] = {}
    for votes in range(2, cfg.votes + 1):
        matrix, result = _crowdlab_labels(world, np.full(n, votes), len(crew), cfg, seed)
        curve[votes] = float((result.consensus == world.truth).mean())
        out.accuracy[("crowdlab", votes)] = curve[votes]
        out.accuracy[("frequency", votes)] = float((by_frequency(matrix) == world.truth).mean())
        out.accuracy[("dawid-skene", votes)] = float((by_dawid_skene(matrix) == world.truth).mean())
        if votes == cfg.review_votes:
            wrong = result.consensus != world.truth
            out.errors = int(wrong.sum())
            out.errors_first = 0.0 if not wrong.any() else errors_first_share(result.quality, wrong) * out.errors
    out.target = curve[cfg.votes]
    out.passive_votes = n * min(v for v, acc in curve.items() if acc >= out.target)
    out.active_votes, out.active_reached = active_votes(world, len(crew), cfg, seed, out.target)
    return out


@dataclass
class EvalReport:
    config: EvalConfig
    seeds: list[SeedResult]

    def accuracy(self, method: str, votes: int) -> float:
        return float(np.mean([s.accuracy[(method, votes)] for s in self.seeds]))

    @property
    def errors_first_ratio(self) -> float:
        """(share of errors in the first 10% of the doubt order) / (10%: a random order's expectation)."""
        errors = sum(s.errors for s in self.seeds)
        return float("nan") if not errors else sum(s.errors_first for s in self.seeds) / errors / 0.1

    @property
    def votes_saved(self) -> float:
        passive = sum(s.passive_votes for s in self.seeds)
        return 1.0 - sum(s.active_votes for s in self.seeds) / passive

    def table(self) -> list[tuple[str, str]]:
        cfg, rows = self.config, []
        for votes in range(2, cfg.votes + 1):
            rows.append((f"label accuracy at {votes} votes/image (frequency | Dawid-Skene | CROWDLAB)",
                         " | ".join(f"{self.accuracy(m, votes):.3f}" for m in ("frequency", "dawid-skene", "crowdlab"))))
        errors = sum(s.errors for s in self.seeds)
        found = sum(s.errors_first for s in self.seeds)
        rows.append((f"CROWDLAB errors at {cfg.review_votes} votes/image in the first 10% of the doubt order",
                     f"{found:.0f} of {errors} = {self.errors_first_ratio:.1f}x random order (10%)"))
        passive, active = sum(s.passive_votes for s in self.seeds), sum(s.active_votes for s in self.seeds)
        reached = all(s.active_reached for s in self.seeds)
        rows.append(("votes to reach uniform collection's accuracy (uniform | active)",
                     f"{passive} | {active}: {self.votes_saved:.0%} saved" + ("" if reached else " (target not reached)")))
        return rows


def run_eval(cfg: EvalConfig = EvalConfig()) -> EvalReport:
    """Every seed of ``cfg`` on the demo crew; the backbone is drawn once (seed 0)."""
    from curate_demo.labeling import DEMO_CREW
    from curate_demo.crowd import PROFILES

    backbone = _backbone(0)
    seeds = [evaluate_seed(cfg, DEMO_CREW, PROFILES, seed, backbone) for seed in cfg.seeds]
    return EvalReport(cfg, seeds)


def demo_table(echo: Callable[[str], None] = print, cfg: EvalConfig | None = None) -> EvalReport:
    """Run :func:`run_eval` and print its table (the labeling demo's last lines)."""
    report = run_eval(cfg or EvalConfig(seeds=(0,)))
    cfg = report.config
    echo(f"  CROWDLAB on the simulated crowd ({len(cfg.seeds)} x {len(cfg.classes) * cfg.per_class} emulator "
         f"images, {cfg.wrong_share:.0%} really another class; out-of-fold linear head on frozen resnet18 features):")
    width = max(len(k) for k, _v in report.table())
    for key, value in report.table():
        echo(f"    {key:<{width}}  {value}")
    return report


def crowdlab_on_workspace(settings, engine, echo: Callable[[str], None], folds: int = 5) -> dict:
    """The demo crowd's real votes: an out-of-fold model run (random-init resnet18 saved in the
    workspace), ``aggregate --method crowdlab``, and what a curator sees of it."""
    import torch
    import torchvision
    from sqlalchemy import select

    from annotate_ui.aggregate import DecisionRule, aggregate
    from annotate_ui.config import config_from_settings
    from annotate_ui.predictions import PredictOptions, predict_class_set
    from annotate_ui.reviewing import doubtful_count
    from curation.db.models import ImageClass, Vote, Worker, WorkerScore
    from curation.db.session import session_scope
    from curation.store import ImageStore

    weights = Path(settings.root) / "crowdlab" / "resnet18-random-init.pth"
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    cfg = config_from_settings(settings)
    with session_scope(engine) as session:
        classes = list(session.scalars(select(ImageClass).where(ImageClass.id.in_(select(Vote.class_id).distinct()))
                                       .order_by(ImageClass.position)))
        run = predict_class_set(session, ImageStore(settings.store_path), classes,
                                PredictOptions("resnet18", weights, folds, 0, 64))
        summary = aggregate(session, DecisionRule.from_config(cfg), "crowdlab")
        doubtful = doubtful_count(session, cfg.doubt_threshold)
        workers = session.execute(select(Worker.external_id, WorkerScore.quality).join(Worker)
                                  .where(WorkerScore.method == "crowdlab").order_by(WorkerScore.quality)).all()
        echo(f"  model run {run.id}: {run.n_images} images, {folds}-fold out-of-fold accuracy "
             f"{run.metrics['oof_accuracy']:.2f}; CROWDLAB accepted {summary.accepted_model} of {summary.tasks}, "
             f"{doubtful} below consensus quality {cfg.doubt_threshold} (the review queue shows them first)")
        if workers:
            echo(f"  worker quality (CROWDLAB): lowest {workers[0][0]} {workers[0][1]:.2f}, "
                 f"highest {workers[-1][0]} {workers[-1][1]:.2f}")
    return {"run": run.id, "doubtful": doubtful}


def crowdlab_demo(settings, engine, echo: Callable[[str], None] = print, small: bool = False) -> dict:
    """The demo's CROWDLAB step: the workspace's crowd through CROWDLAB, then the measured table."""
    from curation.errors import CurateError

    try:
        found = crowdlab_on_workspace(settings, engine, echo)
    except CurateError as exc:  # too few votes in a tiny workspace: the measured table still stands
        echo(f"  CROWDLAB skipped on the workspace: {exc}")
        found = {}
    report = demo_table(echo, EvalConfig(per_class=30 if small else 60, seeds=(0,)))
    return {**found, "errors_first_ratio": report.errors_first_ratio, "votes_saved": report.votes_saved}
