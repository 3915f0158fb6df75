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
    # fewer than beta examples: one bin, counted
    assert metrics.calibration_error(np.array([0.8, 0.8]), np.array([1, 0]), beta=100) == pytest.approx(0.3)


def test_aurra_by_hand():
    # most confident first: correct, wrong, correct -> accuracies 1, 1/2, 2/3
    assert metrics.aurra(np.array([0.9, 0.5, 0.7]), np.array([1, 1, 0])) == pytest.approx((1 + 0.5 + 2 / 3) / 3)


def test_average_precision_and_weighted_map_by_hand():
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    # positives at ranks 1 and 3: AP = (1/1 + 2/3) / 2
    assert metrics.average_precision(scores, np.array([1, 0, 1, 0])) == pytest.approx((1 + 2 / 3) / 2)
    s = np.array([[0.9, 0.1], [0.8, 0.7], [0.7, 0.2], [0.6, 0.9]])
    t = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    ap0, ap1 = (1 + 2 / 3) / 2, (1 + 1) / 2  # class 1: positives ranked 1st and 2nd
    # weights: each class has 2 of the 4 positive labels
    assert metrics.weighted_map(s, t) == pytest.approx(0.5 * ap0 + 0.5 * ap1)
    t2 = np.array([[1, 0], [1, 1], [1, 0], [0, 0]])  # class 0: 3 positives, class 1: 1 positive
    ap0b = (1 + 1 + 1) / 3
    ap1b = 1 / 2  # its positive (score .7) ranks 2nd
    assert metrics.weighted_map(s, t2) == pytest.approx(0.75 * ap0b + 0.25 * ap1b)


def test_weighted_map_matches_scikit_learn():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    t = rng.random((60, 5)) < 0.3
    s = np.round(rng.random((60, 5)) + t * 0.3, 1)  # rounded: many ties
    assert metrics.weighted_map(s, t) == pytest.approx(average_precision_score(t, s, average="weighted"))


def test_mce_normalised_by_alexnet():
    errors = {("gaussian_noise", s): 0.5 for s in range(1, 6)}
    errors.update({("fog", 1): 0.2, ("fog", 2): 0.4})
    ce = metrics.corruption_errors(errors)
    assert ce["gaussian_noise"] == pytest.approx(100 * 0.5 / 0.886428)
    assert ce["fog"] == pytest.approx(100 * 0.3 / 0.819324)
    assert metrics.mce(ce) == pytest.approx((ce["gaussian_noise"] + ce["fog"]) / 2)
    assert len(metrics.ALEXNET_ERR) == 15 and metrics.ALEXNET_ERR["jpeg_compression"] == 0.6065
