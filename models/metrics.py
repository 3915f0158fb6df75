"""Metrics of the paper's tables: top-1 error, calibration (RMS, adaptive bins), AURRA, the released DFR
metric (per-class trapezoidal PR-AUC weighted by positive labels), corruption error and mCE normalised by
AlexNet (ImageNet-C). Pure numpy; hand-checkable."""

from __future__ import annotations

from typing import Mapping

import numpy as np

# Mean top-1 error of AlexNet over severities 1-5 (google-research/augmix imagenet.py ALEXNET_ERR).
ALEXNET_ERR: dict[str, float] = {
    "gaussian_noise": 0.886428, "shot_noise": 0.894468, "impulse_noise": 0.922640, "defocus_blur": 0.819880,
    "glass_blur": 0.826268, "motion_blur": 0.785948, "zoom_blur": 0.798360, "snow": 0.866816, "frost": 0.826572,
    "fog": 0.819324, "brightness": 0.564592, "contrast": 0.853204, "elastic_transform": 0.646056,
    "pixelate": 0.717840, "jpeg_compression": 0.606500,
}
CORRUPTIONS = tuple(ALEXNET_ERR)


def top1_error(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean(np.asarray(pred) != np.asarray(target))) if len(target) else float("nan")


def calibration_error(confidence: np.ndarray, correct: np.ndarray, p: str = "2", beta: int = 100,
                      include_last_bin: bool = False) -> float:
    """RMS (p='2'), mean-absolute (p='1') or max ('infty') calibration error as the release computes it
    (imagenet-r ``utils.calib_err``): examples sorted by confidence, bins of ``beta`` examples with the
    last bin extended to the end, per bin the gap between mean confidence and accuracy.

    Matches the release by default: its loop skips the last (highest-confidence) bin, so with
    ``beta <= n < 2 * beta`` there is one bin, it is skipped and the error is 0. With fewer than ``beta``
    examples the release has no bin at all and fails; this returns NaN (undefined) there.
    ``include_last_bin=True`` counts every bin (the evident intent; one bin when ``n < beta``)."""
    order = np.argsort(confidence, kind="stable")
    conf = np.asarray(confidence, dtype=np.float64)[order]
    corr = np.asarray(correct, dtype=np.float64)[order]
    n = len(conf)
    if p not in ("1", "2", "infty", "infinity", "max"):
        raise ValueError(f"p must be '1', '2' or 'infty', got {p!r}")
    if n == 0 or (n < beta and not include_last_bin):
        return float("nan")
    bins = [[i * beta, (i + 1) * beta] for i in range(n // beta)] or [[0, n]]
    bins[-1][1] = n
    counted = bins if include_last_bin else bins[:-1]
    err = 0.0
    for lo, hi in counted:
        gap = abs(conf[lo:hi].mean() - corr[lo:hi].mean())
        if p == "2":
            err += (hi - lo) / n * gap ** 2
        elif p == "1":
            err += (hi - lo) / n * gap
        else:
            err = max(err, gap)
    return float(np.sqrt(err)) if p == "2" else float(err)


def aurra(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Area under the response-rate accuracy curve: mean accuracy of the k most confident, over k."""
    order = np.argsort(confidence, kind="stable")[::-1]
    curve = np.cumsum(np.asarray(correct, dtype=np.float64)[order]) / np.arange(1, len(order) + 1)
    return float(curve.mean()) if len(curve) else float("nan")


def _ranked(scores: np.ndarray, positives: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(true positives, predictions) at each distinct score, highest score first; None without positives."""
    positives = np.asarray(positives, dtype=bool)
    n_pos = int(positives.sum())
    if n_pos == 0:
        return None
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], positives[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # last index of each group of tied scores
    return np.cumsum(y)[last].astype(np.float64), (last + 1).astype(np.float64)


def pr_auc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Trapezoidal area under one class's precision-recall curve, the points being the curve of
    ``sklearn.metrics.precision_recall_curve`` (one point per distinct score, plus recall 0 at
    precision 1) integrated by ``sklearn.metrics.auc``. NaN for a class without positives."""
    ranked = _ranked(scores, positives)
    if ranked is None:
        return float("nan")
    tp, predicted = ranked
    recall = np.r_[0.0, tp / tp[-1]]
    precision = np.r_[1.0, tp / predicted]
    return float(np.sum(np.diff(recall) * (precision[1:] + precision[:-1]) / 2))


def dfr_weighted_pr_auc(scores: np.ndarray, targets: np.ndarray) -> float:
    """The released DeepFashion Remixed metric (``validate.py``): per class the trapezoidal area under
    the precision-recall curve (:func:`pr_auc`), weighted by the class's share of all positive labels.
    A class without positives weighs 0 and adds nothing (the release's ``nan_to_num``), so the result
    is never NaN for a non-empty set; a set without any positive label scores 0, as in the release."""
    scores, targets = np.asarray(scores), np.asarray(targets).astype(bool)
    if targets.ndim != 2 or scores.shape != targets.shape:
        raise ValueError(f"scores {scores.shape} and targets {targets.shape} must be the same (n, classes) shape")
    if len(targets) == 0:
        return float("nan")
    support = targets.sum(0).astype(np.float64)
    total = support.sum()
    if total == 0:
        return 0.0
    areas = np.array([pr_auc(scores[:, k], targets[:, k]) if support[k] else 0.0 for k in range(targets.shape[1])])
    return float(np.sum(areas * (support / total)))


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """Step-wise average precision of one class: mean precision at each positive's rank, ties sharing
    the lowest rank of their group (scikit-learn's ``average_precision_score``). Not the DFR metric."""
    ranked = _ranked(scores, positives)
    if ranked is None:
        return float("nan")
    tp, predicted = ranked
    return float(np.sum(np.diff(np.r_[0.0, tp / tp[-1]]) * tp / predicted))


def weighted_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """Step-wise average precision per class weighted by the class's share of positive labels
    (``average_precision_score(average='weighted')``). Reported beside, never as, the DFR metric."""
    scores, targets = np.asarray(scores), np.asarray(targets).astype(bool)
    support = targets.sum(0).astype(np.float64)
    if support.sum() == 0:
        return float("nan")
    aps = np.array([average_precision(scores[:, k], targets[:, k]) if support[k] else 0.0
                    for k in range(targets.shape[1])])
    return float(np.sum(aps * support) / support.sum())


def corruption_errors(errors: Mapping[tuple[str, int], float]) -> dict[str, float]:
    """CE per corruption: 100 * mean over severities of the error / AlexNet's error."""
    out = {}
    for name in CORRUPTIONS:
        errs = [e for (c, _), e in errors.items() if c == name]
        if errs:
            out[name] = 100.0 * float(np.mean(errs)) / ALEXNET_ERR[name]
    return out


def mce(ce: Mapping[str, float]) -> float:
    """Mean of the corruption errors present (the benchmark's mCE when all 15 are)."""
    return float(np.mean(list(ce.values()))) if ce else float("nan")


def top_k_hits(scores: np.ndarray, target: np.ndarray, k: int) -> np.ndarray:
    """Per example: is the true class among the ``k`` highest scores? Ties at the k-th score count
    against the example (a stable descending sort keeps the lower class index first)."""
    scores = np.asarray(scores)
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return (top == np.asarray(target)[:, None]).any(axis=1)


def top_k_error(scores: np.ndarray, target: np.ndarray, k: int = 5) -> float:
    """1 - top-k accuracy (``sklearn.metrics.top_k_accuracy_score`` when scores do not tie); NaN when empty."""
    return float(1 - top_k_hits(scores, target, k).mean()) if len(target) else float("nan")


def confusion_matrix(target: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``[true, predicted]`` over classes ``0 .. n_classes - 1`` (scikit-learn's layout)."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(target, dtype=np.int64), np.asarray(pred, dtype=np.int64)), 1)
    return counts


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Recall of each class (diagonal over row sums); NaN for a class without examples."""
    support = confusion.sum(1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(confusion) / support, np.nan)


def balanced_accuracy(confusion: np.ndarray) -> float:
    """Mean per-class accuracy over the classes that have examples (``balanced_accuracy_score``)."""
    acc = per_class_accuracy(confusion)
    return float(np.nanmean(acc)) if np.isfinite(acc).any() else float("nan")
