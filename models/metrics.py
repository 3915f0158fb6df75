"""Metrics of the paper's tables: top-1 error, calibration (RMS, adaptive bins), AURRA, frequency-weighted
mAP (DFR), corruption error and mCE normalised by AlexNet (ImageNet-C). Pure numpy; hand-checkable."""

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
    """RMS (p='2'), mean-absolute (p='1') or max ('infty') calibration error over adaptive bins of ``beta``
    examples sorted by confidence, the last bin extended to the end (utils.calib_err of the release).

    The release loops over all bins but the last, so its highest-confidence bin is never counted; that
    is the default here (it produced the published numbers). ``include_last_bin=True`` counts it. With
    fewer than ``beta`` examples there is one bin, and it is counted (the release would fail)."""
    order = np.argsort(confidence, kind="stable")
    conf = np.asarray(confidence, dtype=np.float64)[order]
    corr = np.asarray(correct, dtype=np.float64)[order]
    n = len(conf)
    if n == 0:
        return float("nan")
    bins = [[i * beta, (i + 1) * beta] for i in range(n // beta)] or [[0, n]]
    bins[-1][1] = n
    counted = bins if include_last_bin or len(bins) == 1 else bins[:-1]
    err = 0.0
    for lo, hi in counted:
        gap = abs(conf[lo:hi].mean() - corr[lo:hi].mean())
        if p == "2":
            err += (hi - lo) / n * gap ** 2
        elif p == "1":
            err += (hi - lo) / n * gap
        elif p in ("infty", "infinity", "max"):
            err = max(err, gap)
        else:
            raise ValueError(f"p must be '1', '2' or 'infty', got {p!r}")
    return float(np.sqrt(err)) if p == "2" else float(err)


def aurra(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Area under the response-rate accuracy curve: mean accuracy of the k most confident, over k."""
    order = np.argsort(confidence, kind="stable")[::-1]
    curve = np.cumsum(np.asarray(correct, dtype=np.float64)[order]) / np.arange(1, len(order) + 1)
    return float(curve.mean()) if len(curve) else float("nan")


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the precision-recall curve of one class: mean precision at each positive's rank
    (scikit-learn's average_precision_score; ties share the lowest rank of their group)."""
    positives = np.asarray(positives, dtype=bool)
    n_pos = positives.sum()
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    s, y = np.asarray(scores, dtype=np.float64)[order], positives[order]
    tp = np.cumsum(y)
    # evaluate only at the last index of each group of tied scores
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp_at, n_at = tp[last], last + 1
    recall = tp_at / n_pos
    precision = tp_at / n_at
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def weighted_map(scores: np.ndarray, targets: np.ndarray) -> float:
    """Frequency-weighted mAP (DFR reference): per-class AP weighted by the class's share of positive
    labels; classes without positives carry no weight."""
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
