"""Out-of-sample model predictions for the candidates of a class set (CROWDLAB's model input).

A frozen torchvision backbone (weights read from a local file, never downloaded) turns each image into
a feature vector; a linear head (scikit-learn's LogisticRegression) is fitted K times, each time on the
other folds' current labels, and predicts the held-out fold. So no image's probability comes from a
model that saw its own label. Images with no label yet are predicted by a head fitted on all labels.

The head is multi-class over the class set's classes that have labelled images plus "other" (images the
crowd said show none of the classes they were asked about); P(image shows X) is the column of X.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from curation.db.models import (GoldItem, HitItem, Image, ImageClass, ModelPrediction, ModelRun, SourceRecord, Vote,
                                Worker)
from curation.errors import CurateError

log = logging.getLogger(__name__)
OTHER = -1  # label of an image that shows none of the classes it was asked about


def read_state_dict(path: Path) -> dict:
    """A state dict from a local file: a plain ``state_dict``, a curate checkpoint (``model``) or a
    released one (``state_dict``); DataParallel's ``module.`` prefix is dropped."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CurateError(f"weights file {path} is not on disk; nothing is downloaded here: copy a torchvision "
                          "state dict (or a curate checkpoint) there first")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same to the user
        raise CurateError(f"{path} is not a PyTorch weights file readable with weights_only=True: {exc}") from exc
    if isinstance(raw, dict):
        for key in ("model", "state_dict"):
            if isinstance(raw.get(key), dict):
                raw = raw[key]
                break
    if not isinstance(raw, dict) or not raw:
        raise CurateError(f"{path} holds no state dict; save one with torch.save(model.state_dict(), PATH)")
    return {k.removeprefix("module."): v for k, v in raw.items()}


def load_backbone(arch: str, weights: Path):
    """A torchvision ``arch`` with the weights of ``weights`` and its classifier removed (eval mode)."""
    import torch
    import torchvision

    try:
        model = torchvision.models.get_model(arch, weights=None)
    except ValueError as exc:
        raise CurateError(f"unknown architecture {arch!r}; use a torchvision name such as resnet18 or resnet50") \
            from exc
    state = {k: v for k, v in read_state_dict(weights).items() if not k.startswith("fc.")}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shapes that do not fit
        raise CurateError(f"{weights} does not fit {arch}: {str(exc).splitlines()[-1].strip()}; pass the "
                          "matching --arch") from exc
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise CurateError(f"{weights} does not fit {arch}: {len(missing)} missing and {len(unexpected)} unexpected "
                          f"tensors (first: {(missing + unexpected)[0]}); pass the matching --arch")
    model.fc = torch.nn.Identity()
    return model.eval()


def image_features(backbone, images: Iterable, size: int = 96, batch: int = 32) -> np.ndarray:
    """Pooled backbone features of PIL ``images`` (resized to ``size`` square, ImageNet normalisation)."""
    import torch

    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    out, chunk = [], []

    def flush() -> None:
        x = torch.from_numpy(np.stack(chunk)).permute(0, 3, 1, 2).float() / 255.0
        with torch.inference_mode():
            out.append(backbone((x - mean) / std).flatten(1).numpy())
        chunk.clear()

    for img in images:
        chunk.append(np.asarray(img.convert("RGB").resize((size, size))))
        if len(chunk) == batch:
            flush()
    if chunk:
        flush()
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def _head(seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000, random_state=seed))


def _fit_predict(features: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray,
                 n_outputs: int, seed: int) -> np.ndarray:
    """Probabilities (len(test), n_outputs) of a head fitted on ``train``; classes absent from it get 0."""
    probs = np.zeros((len(test), n_outputs))
    present = np.unique(labels[train])
    if len(present) == 1:
        probs[:, present[0]] = 1.0
        return probs
    head = _head(seed).fit(features[train], labels[train])
    probs[:, head.classes_] = head.predict_proba(features[test])
    return probs


def oof_probabilities(features: np.ndarray, labels: np.ndarray, n_outputs: int, folds: int,
                      seed: int) -> np.ndarray:
    """K-fold out-of-sample class probabilities for labelled rows (``labels >= 0``); unlabelled rows
    (``labels < 0``) get the prediction of a head fitted on every labelled row."""
    from sklearn.model_selection import KFold, StratifiedKFold

    labels = np.asarray(labels)
    labelled = np.flatnonzero(labels >= 0)
    unlabelled = np.flatnonzero(labels < 0)
    if len(labelled) < 2 * folds or len(np.unique(labels[labelled])) < 2:
        raise CurateError(f"{len(labelled)} labelled images of {len(np.unique(labels[labelled]))} kind(s): "
                          f"{folds}-fold predictions need at least {2 * folds} images and two kinds; "
                          "collect and aggregate more votes first")
    counts = np.bincount(labels[labelled])
    stratify = counts[counts > 0].min() >= folds
    splitter = (StratifiedKFold if stratify else KFold)(n_splits=folds, shuffle=True, random_state=seed)
    from threadpoolctl import threadpool_limits

    probs = np.zeros((len(labels), n_outputs))
    with threadpool_limits(limits=1):  # small fits: extra BLAS threads cost far more than they give
        for train, test in splitter.split(features[labelled], labels[labelled]):
            probs[labelled[test]] = _fit_predict(features, labels, labelled[train], labelled[test], n_outputs, seed)
        if len(unlabelled):
            probs[unlabelled] = _fit_predict(features, labels, labelled, unlabelled, n_outputs, seed)
    return probs


def current_labels(session: Session, class_ids: Sequence[int]) -> dict[int, int | None]:
    """image id -> class id it shows (``OTHER`` when the crowd said no to every class asked; None when
    nobody voted yet) for the candidates of ``class_ids``: gold answers first, then the majority of
    unflagged workers' votes (ties count as no)."""
    wanted = list(class_ids)
    out: dict[int, int | None] = {int(i): None for i in session.scalars(
        select(SourceRecord.image_id).where(SourceRecord.class_id.in_(wanted), SourceRecord.image_id.is_not(None)))}
    tallies: dict[tuple[int, int], list[int]] = {}
    for image_id, class_id, selected in session.execute(
            select(Vote.image_id, Vote.class_id, Vote.selected).join(HitItem, HitItem.id == Vote.hit_item_id)
            .join(Worker, Worker.id == Vote.worker_id)
            .where(Vote.class_id.in_(wanted), HitItem.role == "candidate", Worker.flagged.is_(False))):
        tallies.setdefault((image_id, class_id), []).append(int(bool(selected)))
    for (image_id, class_id), votes in sorted(tallies.items()):
        if 2 * sum(votes) > len(votes):
            out[image_id] = class_id
        elif out.get(image_id) is None:
            out[image_id] = OTHER
    for image_id, class_id, answer in session.execute(
            select(GoldItem.image_id, GoldItem.class_id, GoldItem.answer).where(GoldItem.class_id.in_(wanted))):
        if answer:
            out[image_id] = class_id
        elif out.get(image_id) is None:
            out[image_id] = OTHER
    return out


@dataclass(frozen=True)
class PredictOptions:
    arch: str
    weights: Path
    folds: int = 5
    seed: int = 0
    size: int = 96


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def predict_class_set(session: Session, store: Any, classes: Sequence[ImageClass],
                      options: PredictOptions) -> ModelRun:
    """Fit the K-fold linear head for ``classes`` and store every candidate's P(class) with a new run."""
    from PIL import Image as PILImage

    if options.folds < 2:
        raise CurateError("--folds must be at least 2")
    class_ids = [c.id for c in classes]
    labels = current_labels(session, class_ids)
    image_ids = sorted(labels)
    if not image_ids:
        raise CurateError("no candidate images for these classes; import or scrape some first")
    backbone = load_backbone(options.arch, options.weights)
    shas = dict(session.execute(select(Image.id, Image.sha256).where(Image.id.in_(image_ids))).all())
    images = (PILImage.open(io.BytesIO(store.read(shas[i]))) for i in image_ids)
    features = image_features(backbone, images, options.size)
    columns = {c: k for k, c in enumerate([*class_ids, OTHER])}
    y = np.array([columns[labels[i]] if labels[i] is not None else -1 for i in image_ids])
    probs = oof_probabilities(features, y, len(columns), options.folds, options.seed)
    labelled = y >= 0
    accuracy = float((probs[labelled].argmax(1) == y[labelled]).mean())
    run = ModelRun(class_set_id=classes[0].class_set_id, kind="linear-probe", arch=options.arch,
                   weights=str(options.weights), weights_sha256=_sha256(options.weights), folds=options.folds,
                   seed=options.seed, n_images=len(image_ids), n_labelled=int(labelled.sum()),
                   params={"size": options.size, "head": "LogisticRegression(C=0.1)", "classes": class_ids},
                   metrics={"oof_accuracy": accuracy})
    session.add(run)
    session.flush()
    session.add_all(ModelPrediction(run_id=run.id, image_id=image_id, class_id=class_id,
                                    probability=float(probs[row, columns[class_id]]))
                    for row, image_id in enumerate(image_ids) for class_id in class_ids)
    session.flush()
    log.info("model run %d: %d images (%d labelled), out-of-fold accuracy %.3f", run.id, len(image_ids),
             int(labelled.sum()), accuracy)
    return run


def latest_predictions(session: Session, class_ids: Sequence[int]) -> tuple[dict[tuple[int, int], float], int | None]:
    """((image, class) -> P(image shows class) of the newest run covering each class, newest run id)."""
    out: dict[tuple[int, int], float] = {}
    newest: int | None = None
    for class_id in class_ids:
        run_id = session.scalar(select(ModelPrediction.run_id).where(ModelPrediction.class_id == class_id)
                                .order_by(ModelPrediction.run_id.desc()).limit(1))
        if run_id is None:
            continue
        newest = max(newest or 0, run_id)
        for image_id, p in session.execute(select(ModelPrediction.image_id, ModelPrediction.probability)
                                           .where(ModelPrediction.run_id == run_id,
                                                  ModelPrediction.class_id == class_id)):
            out[(image_id, class_id)] = float(p)
    return out, newest
