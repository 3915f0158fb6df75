"""CROWDLAB: out-of-sample predictions, consensus stored like the other methods, doubt order, active HITs.

Every check rebuilds what it compares against on its own: the vote matrix by a plain loop over the
votes table, cleanlab called directly on it, folds drawn with scikit-learn in the test.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from annotate_ui.aggregate import DecisionRule, aggregate
from curation.db.models import (AggregatedLabel, Hit, HitItem, ImageClass, ModelPrediction, ModelRun, Vote, Worker,
                                WorkerScore)
from curation.db.session import session_scope
from curation.errors import CurateError
from tests.annotate_ui.conftest import add_user, login, make_app, make_hits
from tests.annotate_ui.test_aggregate import crowd_votes


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A random-init resnet18 saved to a local file (nothing downloaded)."""
    import torch
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def _voted_world(world, small_cfg, n_workers: int = 4, wrong: dict[int, float] | None = None):
    cfg = small_cfg.__class__(**{**small_cfg.__dict__, "workers_per_image": n_workers, "min_gold_answers": 1000})
    make_hits(world, ("cat",), workers_per_image=n_workers)
    crowd_votes(world, cfg, n_workers, wrong if wrong is not None else {n_workers - 1: 0.5})
    return cfg


def _predict(world, weights, folds: int = 3):
    from annotate_ui.predictions import PredictOptions, predict_class_set
    from curation.store import ImageStore

    with session_scope(world.engine) as session:
        classes = [session.get(ImageClass, world.class_ids[k]) for k in ("cat", "lynx", "boat")]
        return predict_class_set(session, ImageStore(world.store_path), classes,
                                 PredictOptions("resnet18", weights, folds, 0, 32)).id


def test_oof_probabilities_never_use_the_rows_own_label():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from annotate_ui.predictions import oof_probabilities

    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(60, 40)), rng.integers(0, 2, 60)  # labels carry no signal
    labels[-5:] = -1
    probs = oof_probabilities(features, labels, 2, folds=5, seed=3)
    expected = np.zeros((60, 2))
    lab = np.flatnonzero(labels >= 0)
    for train, test in StratifiedKFold(5, shuffle=True, random_state=3).split(features[lab], labels[lab]):
        head = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000, random_state=3))
        head.fit(features[lab[train]], labels[lab[train]])
        expected[lab[test]] = head.predict_proba(features[lab[test]])
    head = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000, random_state=3))
    expected[-5:] = head.fit(features[lab], labels[lab]).predict_proba(features[-5:])
    assert np.allclose(probs, expected)
    in_sample = (head.predict(features[lab]) == labels[lab]).mean()
    out_of_sample = (probs[lab].argmax(1) == labels[lab]).mean()
    assert in_sample > 0.9 and out_of_sample < 0.75  # memorised noise does not leak into the predictions


def test_predict_stores_a_run_with_every_candidate(world, small_cfg, tiny_weights):
    _voted_world(world, small_cfg)
    run_id = _predict(world, tiny_weights)
    with session_scope(world.engine) as session:
        run = session.get(ModelRun, run_id)
        assert run.folds == 3 and run.arch == "resnet18" and len(run.weights_sha256) == 64
        rows = session.execute(select(ModelPrediction.image_id, ModelPrediction.class_id,
                                      ModelPrediction.probability).where(ModelPrediction.run_id == run_id)).all()
    per_image: dict[int, float] = {}
    for image_id, _c, p in rows:
        assert 0.0 <= p <= 1.0
        per_image[image_id] = per_image.get(image_id, 0.0) + p
    assert run.n_images == len(per_image) == 3 * (12 + 6)  # per class: 12 candidates, 6 gold images
    assert len(rows) == 3 * (12 + 6) * 3
    assert all(total <= 1.0 + 1e-9 for total in per_image.values())  # the rest is "other"


def test_predict_refuses_missing_or_mismatched_weights(world, small_cfg, tmp_path):
    import torch

    _voted_world(world, small_cfg)
    with pytest.raises(CurateError, match="not on disk"):
        _predict(world, tmp_path / "nothing.pth")
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(CurateError, match="does not fit resnet18"):
        _predict(world, tmp_path / "bad.pth")


def _matrix_by_loop(session):
    """(tasks, workers, matrix, pred_probs) rebuilt from the votes and predictions tables."""
    votes = session.execute(select(Vote.image_id, Vote.class_id, Vote.worker_id, Vote.selected)
                            .join(HitItem, HitItem.id == Vote.hit_item_id).join(Worker, Worker.id == Vote.worker_id)
                            .where(HitItem.role == "candidate", Worker.flagged.is_(False))).all()
    tasks = sorted({(i, c) for i, c, _w, _s in votes})
    workers = sorted({w for _i, _c, w, _s in votes}, key=str)
    matrix = np.full((len(tasks), len(workers)), np.nan)
    for i, c, w, s in votes:
        matrix[tasks.index((i, c)), workers.index(w)] = 1.0 if s else 0.0
    run_id = session.scalar(select(func.max(ModelPrediction.run_id)))
    p = dict(((i, c), v) for i, c, v in session.execute(select(ModelPrediction.image_id, ModelPrediction.class_id,
                                                               ModelPrediction.probability)
                                                        .where(ModelPrediction.run_id == run_id)))
    pos = np.clip(np.array([p[t] for t in tasks]), 1e-4, 1 - 1e-4)
    return tasks, workers, matrix, np.stack([1 - pos, pos], axis=1)


def test_crowdlab_aggregate_stores_what_cleanlab_says(world, small_cfg, tiny_weights):
    from cleanlab.multiannotator import get_active_learning_scores, get_label_quality_multiannotator

    _voted_world(world, small_cfg)
    _predict(world, tiny_weights)
    with session_scope(world.engine) as session:
        summary = aggregate(session, DecisionRule(0.7, 2, 0.9), "crowdlab")
    assert summary.tasks == 12
    with session_scope(world.engine) as session:
        tasks, workers, matrix, probs = _matrix_by_loop(session)
        direct = get_label_quality_multiannotator(matrix, probs, verbose=False)
        active, _ = get_active_learning_scores(matrix, probs)
        stored = {(r.image_id, r.class_id): r for r in session.scalars(
            select(AggregatedLabel).where(AggregatedLabel.method == "crowdlab"))}
        scores = {s.worker_id: s for s in session.scalars(select(WorkerScore))}
    table = direct["label_quality"]
    for k, task in enumerate(tasks):
        row = stored[task]
        consensus, quality = int(table["consensus_label"].iloc[k]), float(table["consensus_quality_score"].iloc[k])
        assert row.accepted == (consensus == 1)
        assert row.quality == pytest.approx(quality)
        assert row.posterior == pytest.approx(quality if consensus == 1 else 1 - quality)
        assert row.active_score == pytest.approx(float(active[k]))
        assert row.n_votes == int((~np.isnan(matrix[k])).sum())
    for position, r in direct["annotator_stats"].iterrows():
        assert scores[workers[int(position)]].quality == pytest.approx(float(r.annotator_quality))
    assert len(scores) == len(workers)


def test_crowdlab_without_a_model_run_says_what_to_do(world, small_cfg):
    _voted_world(world, small_cfg)
    with session_scope(world.engine) as session, pytest.raises(CurateError, match="curate predict"):
        aggregate(session, DecisionRule(0.7, 2, 0.9), "crowdlab")


def _crowdlab_world(world, small_cfg, weights):
    _voted_world(world, small_cfg, 4, {2: 0.3, 3: 0.5})
    _predict(world, weights)
    with session_scope(world.engine) as session:
        aggregate(session, DecisionRule(0.5, 2, 0.9), "crowdlab")


def test_review_queue_puts_the_most_doubtful_first(world, small_cfg, tiny_weights):
    from annotate_ui import reviewing

    _crowdlab_world(world, small_cfg, tiny_weights)
    add_user(world, "rita")
    with session_scope(world.engine) as session:
        from curation.db.models import User

        user = session.scalar(select(User).where(User.username == "rita"))
        doubt = reviewing.queue(session, user, "crowdlab", 1, order="doubt")
        by_class = reviewing.queue(session, user, "crowdlab", 1, order="class")
        accepted = session.execute(select(AggregatedLabel.image_id, AggregatedLabel.quality).where(
            AggregatedLabel.method == "crowdlab", AggregatedLabel.accepted.is_(True))).all()
        assert reviewing.default_order(session) == "doubt"
    assert len(accepted) >= 2
    expected = sorted(accepted, key=lambda r: (r[1], r[0]))
    assert [i.quality for i in doubt] == pytest.approx([q for _i, q in expected])
    assert [i.image_id for i in by_class] == sorted(i for i, _q in accepted)
    client = make_app(world, review_method="crowdlab").test_client()
    login(client, "rita")
    page = client.get("/review").get_data(as_text=True)
    assert 'data-order="doubt"' in page and f'data-image="{doubt[0].image_id}"' in page
    page = client.get("/review?order=class").get_data(as_text=True)
    assert 'data-order="class"' in page and f'data-image="{by_class[0].image_id}"' in page


def test_review_order_defaults_to_class_without_crowdlab(world):
    add_user(world, "rita")
    client = make_app(world).test_client()
    login(client, "rita")
    page = client.get("/review?order=bogus").get_data(as_text=True)
    assert 'data-order="class"' in page and "curate aggregate --method crowdlab" in page


def test_admin_counts_images_below_the_quality_threshold(world, small_cfg, tiny_weights):
    _crowdlab_world(world, small_cfg, tiny_weights)
    with session_scope(world.engine) as session:
        qualities = [q for q in session.scalars(select(AggregatedLabel.quality).where(
            AggregatedLabel.method == "crowdlab"))]
    threshold = sorted(qualities)[len(qualities) // 2]
    below = sum(1 for q in qualities if q < threshold)
    add_user(world, "ada", role="admin")
    client = make_app(world).test_client()
    login(client, "ada")
    page = client.get(f"/admin?quality={threshold!r}").get_data(as_text=True)
    assert f'<strong id="doubtful-count">{below}</strong>' in page


def test_active_choice_ranks_by_activelab_and_skips_confident(world, small_cfg, tiny_weights):
    from cleanlab.multiannotator import get_active_learning_scores

    from annotate_ui.active import active_choice

    _crowdlab_world(world, small_cfg, tiny_weights)
    with session_scope(world.engine) as session:
        tasks, _w, matrix, probs = _matrix_by_loop(session)
        quality = {(r.image_id, r.class_id): r.quality for r in session.scalars(
            select(AggregatedLabel).where(AggregatedLabel.method == "crowdlab"))}
        active, _ = get_active_learning_scores(matrix, probs)
        threshold = sorted(quality.values())[len(quality) // 2]
        choice = active_choice(session, session.get(ImageClass, world.class_ids["cat"]), threshold)
    expected = sorted((float(active[k]), t[0]) for k, t in enumerate(tasks) if quality[t] < threshold)
    assert choice.images == [i for _s, i in expected]
    assert choice.scores == pytest.approx([s for s, _i in expected])
    assert choice.confident == sum(1 for q in quality.values() if q >= threshold)


def test_predict_aggregate_and_active_hits_from_the_cli(workspace, cli, engine, small_cfg, tiny_weights):
    from tests.annotate_ui.conftest import build_world

    world = build_world(engine, workspace / "store")
    _voted_world(world, small_cfg, 4, {2: 0.3, 3: 0.5})
    out = cli("predict", "--class-set", "toy", "--weights", tiny_weights, "--folds", "3", "--size", "32").output
    assert "model run 1" in out and "54 images predicted" in out
    assert "consensus quality" in cli("aggregate", "--method", "crowdlab").output
    out = cli("hits", "create", "--class-set", "toy", "--class", "cat", "--active", "--confident", "0.999",
              "--candidates", "4", "--gold-positives", "1", "--gold-negatives", "1", "--max-hits", "1").output
    assert "created 1 active HITs" in out
    with session_scope(engine) as session:
        hits = list(session.scalars(select(Hit).where(Hit.batch == "active")))
        assert len(hits) == 1 and hits[0].assignments_per_item == 1
        assert sum(1 for i in hits[0].items if i.role == "candidate") == 4
    for args, needle in ((("hits", "create", "--active", "--confident", "1.5"), "--confident"),
                         (("predict", "--class-set", "toy", "--weights", "/nowhere.pth"), "not on disk"),
                         (("aggregate", "--method", "crowdlabs"), "valid:")):
        bad = cli(*args, ok=False)
        assert bad.exit_code != 0 and needle in bad.output and "Traceback" not in bad.output


@pytest.mark.browser
def test_review_page_shows_and_switches_the_order_in_a_browser(sqlite_world, page, tmp_path):
    from annotate_ui.server import running_server
    from tests.annotate_ui.conftest import sign_in
    from tests.annotate_ui.test_review import accepted

    world = sqlite_world
    ids = accepted(world, 4)
    qualities = {ids[0]: 0.9, ids[1]: 0.2, ids[2]: 0.6, ids[3]: 0.1}  # doubt order: ids 3, 1, 2, 0
    with session_scope(world.engine) as session:
        for image_id, q in qualities.items():
            session.add(AggregatedLabel(image_id=image_id, class_id=world.class_ids["cat"], method="crowdlab",
                                        n_votes=5, accepted=True, quality=q))
    add_user(world, "rev")
    with running_server(make_app(world), threads=4) as url:
        sign_in(page, f"{url}/review", "rev")
        assert page.get_attribute("#queue-order", "data-order") == "doubt"
        assert page.get_attribute("#review", "data-image") == str(ids[3])
        assert page.inner_text("#consensus-quality") == "0.100"
        with page.expect_navigation():
            page.click("#accept")
        assert page.get_attribute("#review", "data-image") == str(ids[1])  # still most doubtful first
        with page.expect_navigation():
            page.click("#order-class")
        assert page.get_attribute("#queue-order", "data-order") == "class"
        assert page.get_attribute("#review", "data-image") == str(ids[0])
        with page.expect_navigation():
            page.click("#accept")
        assert page.get_attribute("#queue-order", "data-order") == "class"  # the order survives a decision
        assert page.get_attribute("#review", "data-image") == str(ids[1])
        page.screenshot(path=str(tmp_path / "review-doubt.png"))


def test_backbone_reads_a_curate_checkpoint_and_a_dataparallel_state_dict(tmp_path):
    import torch
    import torchvision

    from annotate_ui.predictions import load_backbone

    torch.manual_seed(1)
    model = torchvision.models.resnet18(weights=None, num_classes=7)
    torch.save({"model": model.state_dict(), "config": {"arch": "resnet18"}}, tmp_path / "ckpt.pth")
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, tmp_path / "dp.pth")
    x = torch.rand(2, 3, 64, 64)
    model.fc = torch.nn.Identity()
    expected = model.eval()(x)
    for name in ("ckpt.pth", "dp.pth"):
        with torch.inference_mode():
            assert torch.allclose(load_backbone("resnet18", tmp_path / name)(x), expected, atol=1e-5)
