"""What one evaluated set looks like image by image: top-5, per-class accuracy, the confusion counts and a
per-image predictions table, so a user sees which classes and which images a model gets wrong.

``set_details`` works from the logits ``models.evaluate.predict`` returns; ``write_set_files`` stores the
per-image table (``predictions/SET.csv``) and the confusion counts (``confusion/SET.csv``, one row per
non-zero (true, predicted) pair: a 1000-class set stays as small as its images) in an evaluation folder."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from models import metrics

TOP_K = 5
PREDICTION_COLUMNS = ["image", "sha256", "file", "true", "pred", "score", "correct", "top5", "top5_scores"]
CONFUSION_COLUMNS = ["true", "true_name", "pred", "pred_name", "count"]


@dataclass
class SetDetails:
    """Metrics to merge into a set's results, and the rows of its two CSV files."""
    metrics: dict[str, Any]
    predictions: list[dict[str, Any]] = field(default_factory=list)
    confusion: list[dict[str, Any]] = field(default_factory=list)


def output_keys(position: dict[str, int], n_outputs: int) -> list[str]:
    """The class key of each kept output (its position), or '#i' for an output no class names."""
    keys = [f"#{i}" for i in range(n_outputs)]
    for key, i in position.items():
        if 0 <= i < n_outputs:
            keys[i] = key
    return keys


def probabilities(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    """Softmax over the kept outputs (sigmoid per output for multi-label sets), in float64."""
    x = logits.astype(np.float64)
    if multi_label:
        return 1 / (1 + np.exp(-x))
    e = np.exp(x - x.max(1, keepdims=True)) if len(x) else x
    return e / e.sum(1, keepdims=True) if len(x) else x


def set_details(logits: np.ndarray, items: Sequence[Any], position: dict[str, int], keys: Sequence[str],
                names: dict[str, str], multi_label: bool) -> SetDetails:
    """Top-5 error, per-class accuracy (PR-AUC for multi-label sets), confusion counts and one row per image.

    ``keys`` are the export's class keys (``item.labels`` index them), ``position`` maps a key to its
    output column."""
    probs = probabilities(logits, multi_label)
    out_keys = output_keys(position, probs.shape[1])
    order = np.argsort(-probs, axis=1, kind="stable")[:, :TOP_K]
    truths = [[position[keys[j]] for j in item.labels] for item in items]
    correct = np.array([order[i, 0] in t for i, t in enumerate(truths)], dtype=bool)
    rows = [_row(item, probs[i], order[i], out_keys, [out_keys[j] for j in truths[i]], bool(correct[i]))
            for i, item in enumerate(items)]
    if multi_label:
        return SetDetails(_multi_label_metrics(probs, truths, out_keys, keys, position), rows)
    target = np.array([t[0] for t in truths], dtype=np.int64)
    confusion = metrics.confusion_matrix(target, order[:, 0], probs.shape[1])
    present = sorted({position[k] for k in keys if k in position})
    accuracy = metrics.per_class_accuracy(confusion)
    support = confusion.sum(1)
    per_class = {out_keys[i]: {"n": int(support[i]), "accuracy": float(accuracy[i])} for i in present if support[i]}
    found = {"top5_error": metrics.top_k_error(probs, target, TOP_K) if len(target) else float("nan"),
             "balanced_accuracy": metrics.balanced_accuracy(confusion), "per_class": per_class}
    pairs = np.argwhere(confusion > 0)
    conf_rows = [{"true": out_keys[t], "true_name": names.get(out_keys[t], ""), "pred": out_keys[p],
                  "pred_name": names.get(out_keys[p], ""), "count": int(confusion[t, p])} for t, p in pairs]
    return SetDetails(found, rows, conf_rows)


def _row(item: Any, probs: np.ndarray, top: np.ndarray, out_keys: Sequence[str], true: Sequence[str],
         correct: bool) -> dict[str, Any]:
    row = getattr(item, "row", None)
    return {"image": getattr(row, "path", ""), "sha256": getattr(row, "sha256", ""), "file": str(item.path or ""),
            "true": "|".join(true), "pred": out_keys[top[0]], "score": round(float(probs[top[0]]), 6),
            "correct": int(correct), "top5": "|".join(out_keys[j] for j in top),
            "top5_scores": "|".join(f"{probs[j]:.6f}" for j in top)}


def _multi_label_metrics(probs: np.ndarray, truths: list[list[int]], out_keys: Sequence[str], keys: Sequence[str],
                         position: dict[str, int]) -> dict[str, Any]:
    """Per class: positives and the trapezoidal PR-AUC of the released DFR metric (top-5 and a confusion
    matrix have no meaning when an image has several labels)."""
    targets = np.zeros(probs.shape, dtype=bool)
    for i, t in enumerate(truths):
        targets[i, t] = True
    ranked = probs.astype(np.float32)
    per_class = {}
    for k in sorted({position[k] for k in keys if k in position}):
        if targets[:, k].any():
            per_class[out_keys[k]] = {"n": int(targets[:, k].sum()), "pr_auc": metrics.pr_auc(ranked[:, k], targets[:, k])}
    return {"per_class": per_class}


def file_stem(set_key: str) -> str:
    """A set key (``EXPORT:SUBSET``) as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", set_key).strip("_") or "set"


def write_set_files(out: Path, set_key: str, details: SetDetails) -> dict[str, str]:
    """Write ``predictions/SET.csv`` (and ``confusion/SET.csv`` for single-label sets) under ``out``;
    returns their paths relative to ``out``."""
    written = {"predictions": _write_csv(Path(out), "predictions", set_key, PREDICTION_COLUMNS, details.predictions)}
    if details.confusion:
        written["confusion"] = _write_csv(Path(out), "confusion", set_key, CONFUSION_COLUMNS, details.confusion)
    return written


def _write_csv(out: Path, folder: str, set_key: str, columns: list[str], rows: list[dict]) -> str:
    rel = Path(folder) / f"{file_stem(set_key)}.csv"
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return rel.as_posix()


def worst_classes(per_class: dict[str, dict], n: int = 5) -> list[tuple[str, float, int]]:
    """The ``n`` classes with the lowest accuracy (key, accuracy, images), for a one-line summary."""
    scored = [(k, v["accuracy"], v["n"]) for k, v in per_class.items() if "accuracy" in v]
    return sorted(scored, key=lambda x: (x[1], -x[2], x[0]))[:n]
