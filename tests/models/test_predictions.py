"""Top-5, per-class accuracy, confusion counts and per-image predictions against scikit-learn and plain loops."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from sklearn import metrics as skm

from models import metrics
from models.data import Item
from models.predictions import file_stem, set_details, worst_classes, write_set_files
from splits.frozen import ManifestRow


def _scores(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, k)), rng.integers(0, k, n)  # continuous scores: no ties


@pytest.mark.parametrize("k", [1, 3, 5])
def test_top_k_error_is_sklearns(k):
    scores, target = _scores(200, 9, k)
    expected = 1 - skm.top_k_accuracy_score(target, scores, k=k, labels=np.arange(9))
    assert metrics.top_k_error(scores, target, k) == pytest.approx(expected)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_confusion_per_class_and_balanced_accuracy_are_sklearns():
    scores, target = _scores(300, 6, 0)
    target[target == 5] = 4  # class 5 has no example: its accuracy is undefined, not 0
    pred = scores.argmax(1)
    confusion = metrics.confusion_matrix(target, pred, 6)
    assert (confusion == skm.confusion_matrix(target, pred, labels=np.arange(6))).all()
    recall = skm.recall_score(target, pred, labels=np.arange(5), average=None, zero_division=0)
    acc = metrics.per_class_accuracy(confusion)
    assert np.allclose(acc[:5], recall) and np.isnan(acc[5])
    assert metrics.balanced_accuracy(confusion) == pytest.approx(skm.balanced_accuracy_score(target, pred))


def _items(labels: list[tuple[int, ...]]) -> list[Item]:
    rows = [ManifestRow(f"test/img{i}.jpg", f"{i:064x}", "test", ()) for i in range(len(labels))]
    return [Item(path=None, labels=lab, row=row, export="x") for lab, row in zip(labels, rows)]


def test_set_details_by_hand_with_a_reordered_head(tmp_path):
    """Export classes a, b, c sit at outputs 2, 0, 1 of a 4-way head (output 3 names no class)."""
    logits = np.array([[0.0, 1.0, 5.0, 2.0],    # true a (output 2): top-1 a, correct
                       [3.0, 0.0, 1.0, 4.0],    # true b (output 0): top-1 #3, top-2 b
                       [0.0, 2.0, 1.0, -1.0],   # true c (output 1): top-1 c
                       [0.0, 6.0, 1.0, 2.0]])   # true a: top-1 c
    labels = [(0,), (1,), (2,), (0,)]
    position = {"a": 2, "b": 0, "c": 1}
    details = set_details(logits, _items(labels), position, ["a", "b", "c"], {"a": "Apple"}, multi_label=False)
    m = details.metrics
    assert m["per_class"] == {"b": {"n": 1, "accuracy": 0.0}, "c": {"n": 1, "accuracy": 1.0},
                              "a": {"n": 2, "accuracy": 0.5}}
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert m["top5_error"] == 0.0  # 4 outputs: every true class is in the top 4
    rows = details.predictions
    assert [r["pred"] for r in rows] == ["a", "#3", "c", "c"] and [r["correct"] for r in rows] == [1, 0, 1, 0]
    assert rows[1]["top5"] == "#3|b|a|c" and rows[1]["true"] == "b" and rows[0]["image"] == "test/img0.jpg"
    softmax = np.exp(logits[1]) / np.exp(logits[1]).sum()
    assert rows[1]["score"] == pytest.approx(softmax.max(), abs=1e-6)
    counts = {(r["true"], r["pred"]): r["count"] for r in details.confusion}
    assert counts == {("a", "a"): 1, ("a", "c"): 1, ("b", "#3"): 1, ("c", "c"): 1}
    assert next(r for r in details.confusion if r["true"] == "a")["true_name"] == "Apple"
    paths = write_set_files(tmp_path, "my export:test/1", details)
    assert paths == {"predictions": "predictions/my_export_test_1.csv", "confusion": "confusion/my_export_test_1.csv"}
    with open(tmp_path / paths["predictions"], newline="") as fh:
        assert [r["correct"] for r in csv.DictReader(fh)] == ["1", "0", "1", "0"]
    assert worst_classes(m["per_class"], 2) == [("b", 0.0, 1), ("a", 0.5, 2)]
    assert file_stem("a/b:c") == "a_b_c"


def test_multi_label_details_give_per_class_pr_auc_and_no_confusion():
    logits = np.array([[2.0, -1.0, 0.0], [0.5, 3.0, -2.0], [-1.0, 0.2, 1.0], [1.0, 1.5, -1.0]])
    labels = [(0,), (0, 1), (2,), (1,)]
    details = set_details(logits, _items(labels), {"a": 0, "b": 1, "c": 2}, ["a", "b", "c"], {}, multi_label=True)
    probs = (1 / (1 + np.exp(-logits))).astype(np.float32)
    gts = np.zeros((4, 3))
    for i, lab in enumerate(labels):
        gts[i, list(lab)] = 1
    for k, key in enumerate("abc"):
        precision, recall, _ = skm.precision_recall_curve(gts[:, k], probs[:, k])
        assert details.metrics["per_class"][key]["pr_auc"] == pytest.approx(skm.auc(recall, precision))
        assert details.metrics["per_class"][key]["n"] == gts[:, k].sum()
    assert details.confusion == [] and "top5_error" not in details.metrics
    assert [r["correct"] for r in details.predictions] == [1, 1, 1, 1]
