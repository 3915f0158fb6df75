"""Metrics against hand-computed values, and the ImageNet-R mask against the released index list."""

from __future__ import annotations

import numpy as np
import pytest

from models import metrics
from models.evaluate import imagenet_r_mask, imagenet_r_table

# The 200 indices listed in the release's eval.py comment (and timm's imagenet_r_indices.txt).
RELEASED_INDICES = [
    1, 2, 4, 6, 8, 9, 11, 13, 22, 23, 26, 29, 31, 39, 47, 63, 71, 76, 79, 84, 90, 94, 96, 97, 99, 100, 105, 107,
    113, 122, 125, 130, 132, 144, 145, 147, 148, 150, 151, 155, 160, 161, 162, 163, 171, 172, 178, 187, 195, 199,
    203, 207, 208, 219, 231, 232, 234, 235, 242, 245, 247, 250, 251, 254, 259, 260, 263, 265, 267, 269, 276, 277,
    281, 288, 289, 291, 292, 293, 296, 299, 301, 308, 309, 310, 311, 314, 315, 319, 323, 327, 330, 334, 335, 337,
    338, 340, 341, 344, 347, 353, 355, 361, 362, 365, 366, 367, 368, 372, 388, 390, 393, 397, 401, 407, 413, 414,
    425, 428, 430, 435, 437, 441, 447, 448, 457, 462, 463, 469, 470, 471, 472, 476, 483, 487, 515, 546, 555, 558,
    570, 579, 583, 587, 593, 594, 596, 609, 613, 617, 621, 629, 637, 657, 658, 701, 717, 724, 763, 768, 774, 776,
    779, 780, 787, 805, 812, 815, 820, 824, 833, 847, 852, 866, 875, 883, 889, 895, 907, 928, 931, 932, 933, 934,
    936, 937, 943, 945, 947, 948, 949, 951, 953, 954, 957, 963, 965, 967, 980, 981, 983, 988]


def test_imagenet_r_mask_selects_exactly_the_released_indices():
    mask = imagenet_r_mask()
    assert mask.shape == (1000,) and mask.sum() == 200
    assert np.flatnonzero(mask).tolist() == RELEASED_INDICES
    table = imagenet_r_table()
    assert [int(r["imagenet_index"]) for r in table] == RELEASED_INDICES  # table order = sorted-wnid order
    assert table[0]["wnid"] == "n01443537" and table[-1]["wnid"] == "n12267677"


def test_calibration_error_by_hand():
    # 250 examples, beta 100 -> bins [0,100), [100,250); the release skips the last bin
    conf = np.r_[np.full(100, 0.6), np.full(150, 0.9)]
    correct = np.r_[np.ones(50), np.zeros(50), np.ones(150)].astype(bool)
    # bin 1: |0.6 - 0.5| = 0.1, weight 100/250
    assert metrics.calibration_error(conf, correct) == pytest.approx(np.sqrt(0.4 * 0.01))
    # counting the last bin too: |0.9 - 1.0| = 0.1, weight 150/250
    assert metrics.calibration_error(conf, correct, include_last_bin=True) == pytest.approx(np.sqrt(0.4 * 0.01 + 0.6 * 0.01))
    assert metrics.calibration_error(conf, correct, p="1", include_last_bin=True) == pytest.approx(0.1)


def test_calibration_error_edge_cases_match_the_release():
    # 100 <= n < 200: one bin, which the release skips -> 0, however miscalibrated
    conf, wrong = np.full(150, 0.99), np.zeros(150, dtype=bool)
    assert metrics.calibration_error(conf, wrong) == 0.0
    assert metrics.calibration_error(conf[:100], wrong[:100]) == 0.0
    assert metrics.calibration_error(conf, wrong, include_last_bin=True) == pytest.approx(0.99)
    # n < 100: the release has no bin and fails; undefined here
    assert np.isnan(metrics.calibration_error(np.array([0.8, 0.8]), np.array([1, 0])))
    # ... unless every bin is counted: one bin |0.8 - 0.5|
    assert metrics.calibration_error(np.array([0.8, 0.8]), np.array([1, 0]), include_last_bin=True) == pytest.approx(0.3)
    # 399 examples: bins [0,100) [100,200) [200,399); the last (199 examples) is skipped
    conf = np.r_[np.full(100, 0.5), np.full(100, 0.7), np.full(199, 0.9)]
    correct = np.r_[np.zeros(100), np.ones(100), np.zeros(199)].astype(bool)
    assert metrics.calibration_error(conf, correct) == pytest.approx(np.sqrt(100 / 399 * 0.25 + 100 / 399 * 0.09))
    with pytest.raises(ValueError, match="p must be"):
        metrics.calibration_error(conf, correct, p="3")


def test_aurra_by_hand():
    # most confident first: correct, wrong, correct -> accuracies 1, 1/2, 2/3
    assert metrics.aurra(np.array([0.9, 0.5, 0.7]), np.array([1, 1, 0])) == pytest.approx((1 + 0.5 + 2 / 3) / 3)


def _released_dfr_metric(scores: np.ndarray, targets: np.ndarray) -> float:
    """validate.py's computation, written out with scikit-learn (the library the release calls)."""
    import warnings

    from sklearn import metrics as skm

    areas = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class without positives warns (and gets weight 0 below)
        for k in range(targets.shape[1]):
            precision, recall, _ = skm.precision_recall_curve(targets[:, k], scores[:, k])
            areas.append(skm.auc(recall, precision))
        weights = targets.sum(0) / targets.sum()
        return float(np.nan_to_num(np.array(areas) * weights).sum())


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    t = rng.random((60, 5)) < 0.3
    t[0] = True  # every class has a positive
    eye = np.eye(6, 4, dtype=bool)[:4]  # one positive per class
    worst_t = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 0], [0, 0]], dtype=bool)
    worst_s = np.array([[0.1, 0.9], [0.2, 0.8], [0.9, 0.1], [0.8, 0.2], [0.7, 0.5], [0.6, 0.6]])
    no_pos_t = t.copy()
    no_pos_t[:, 2] = False
    return {
        "continuous": (rng.random((60, 5)) + t * 0.3, t),
        "ties": (np.round(rng.random((60, 5)) + t * 0.3, 1), t),
        "binary scores": ((rng.random((60, 5)) < 0.5) | (t & (rng.random((60, 5)) < 0.6)), t),
        "one positive per class": (rng.random((4, 4)), eye),
        "class without positives": (rng.random((60, 5)), no_pos_t),
        "perfect": (t + 0.1 * rng.random((60, 5)), t),
        "worst": (worst_s, worst_t),
        "all tied": (np.full((8, 3), 0.5), np.array([[1, 0, 1]] * 3 + [[0, 1, 0]] * 5, dtype=bool)),
        "every sample positive": (rng.random((5, 2)), np.array([[1, 0], [1, 1], [1, 0], [1, 1], [1, 0]], dtype=bool)),
        "imbalanced": (rng.random((40, 3)), np.c_[rng.random(40) < 0.8, rng.random(40) < 0.1, rng.random(40) < 0.4]),
        "float32 saturated": (1 / (1 + np.exp(-np.float32(rng.normal(0, 30, (50, 4))))),
                              rng.random((50, 4)) < 0.4),
    }


@pytest.mark.parametrize("case", list(_cases()))
def test_dfr_weighted_pr_auc_is_the_released_metric(case):
    scores, targets = _cases()[case]
    assert targets.sum(0).max() > 0
    got = metrics.dfr_weighted_pr_auc(scores, targets)
    assert not np.isnan(got)
    assert got == pytest.approx(_released_dfr_metric(scores.astype(np.float64), targets.astype(int)), abs=1e-12)


def test_pr_auc_by_hand():
    # positives ranked 1st and 3rd of 4: curve (0,1) (.5,1) (.5,.5) (1,2/3) (1,.5)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    assert metrics.pr_auc(scores, np.array([1, 0, 1, 0])) == pytest.approx(0.5 + 0.5 * (0.5 + 2 / 3) / 2)
    # step-wise AP differs: (1 + 2/3) / 2
    assert metrics.average_precision(scores, np.array([1, 0, 1, 0])) == pytest.approx((1 + 2 / 3) / 2)
    # worst ranking, one positive last of 4: (0,1) (0,0) .. (1,1/4) -> 1/8 (AP would be 1/4)
    assert metrics.pr_auc(scores, np.array([0, 0, 0, 1])) == pytest.approx(0.125)
    assert metrics.pr_auc(scores, np.array([1, 1, 0, 0])) == 1.0
    assert np.isnan(metrics.pr_auc(scores, np.zeros(4)))


def test_dfr_weighted_pr_auc_weights_by_positive_labels_by_hand():
    s = np.array([[0.9, 0.1], [0.8, 0.7], [0.7, 0.2], [0.6, 0.9]])
    t = np.array([[1, 1], [1, 0], [1, 0], [0, 0]])  # class 0: 3 positives, class 1: 1 positive (ranked last)
    # class 0: ranks 1-3 -> 1; class 1: (0,1) (0,0) (0,0) (0,0) (1,1/4) -> 1/8
    assert metrics.dfr_weighted_pr_auc(s, t) == pytest.approx(0.75 * 1 + 0.25 / 8)
    t_extra = np.c_[t, np.zeros(4)]  # a class without positives: weight 0, no NaN
    assert metrics.dfr_weighted_pr_auc(np.c_[s, np.ones(4)], t_extra) == pytest.approx(0.75 + 0.25 / 8)
    assert metrics.dfr_weighted_pr_auc(s, np.zeros((4, 2))) == 0.0  # the release's nan_to_num gives 0
    assert np.isnan(metrics.dfr_weighted_pr_auc(np.zeros((0, 2)), np.zeros((0, 2))))
    with pytest.raises(ValueError, match="same"):
        metrics.dfr_weighted_pr_auc(s, t[:, :1])


def test_weighted_average_precision_is_scikit_learns_step_wise_ap():
    from sklearn.metrics import average_precision_score

    for case, (scores, targets) in _cases().items():
        keep = targets.sum(0) > 0
        want = average_precision_score(targets[:, keep], scores[:, keep], average="weighted")
        assert metrics.weighted_average_precision(scores, targets) == pytest.approx(want), case


def test_mce_normalised_by_alexnet():
    errors = {("gaussian_noise", s): 0.5 for s in range(1, 6)}
    errors.update({("fog", 1): 0.2, ("fog", 2): 0.4})
    ce = metrics.corruption_errors(errors)
    assert ce["gaussian_noise"] == pytest.approx(100 * 0.5 / 0.886428)
    assert ce["fog"] == pytest.approx(100 * 0.3 / 0.819324)
    assert metrics.mce(ce) == pytest.approx((ce["gaussian_noise"] + ce["fog"]) / 2)
    assert len(metrics.ALEXNET_ERR) == 15 and metrics.ALEXNET_ERR["jpeg_compression"] == 0.6065
