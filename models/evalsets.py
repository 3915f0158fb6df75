"""What an evaluation scores: which of a model's logits answer an export's classes (the head), which
sets an export holds (each non-train subset, or each corruption and severity of an ImageNet-C style
export) and what kind of benchmark it is. Shared by ``models.evaluate`` and ``models.preflight``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from curation.errors import CurateError
from curation.taxonomy.classes import imagenet_r_rows
from splits.frozen import FrozenExport

BENCHMARKS = {"imagenet-r", "svsf", "dfr", "imagenet-c"}


def imagenet_r_table() -> list[dict[str, str]]:
    """The 200 ImageNet-R classes (position, wnid, imagenet_index, class_name) in evaluation order."""
    return imagenet_r_rows()


def imagenet_r_mask() -> np.ndarray:
    """Boolean mask over the 1000 ImageNet logits selecting the 200 ImageNet-R classes."""
    mask = np.zeros(1000, dtype=bool)
    mask[[int(r["imagenet_index"]) for r in imagenet_r_table()]] = True
    return mask


@dataclass(frozen=True)
class Head:
    """Which logits to keep, and each class key's position among them."""
    keep: list[int]
    position: dict[str, int]
    protocol: str


def head_for(export_classes: Sequence[Any], n_outputs: int, model_classes: Sequence[dict] | None) -> Head:
    keys = [c.key for c in sorted(export_classes, key=lambda c: c.index)]
    table = imagenet_r_table()
    wnids = {r["wnid"]: i for i, r in enumerate(table)}
    imagenet_r = n_outputs == 1000 and bool(keys) and all(k in wnids for k in keys)
    if model_classes:
        position = {c["key"]: i for i, c in enumerate(model_classes)}
        if imagenet_r and all(r["wnid"] in position for r in table):  # our 1000-way checkpoint: the same mask
            return Head([position[r["wnid"]] for r in table], wnids, "imagenet-r-200-of-1000")
        return Head(list(range(n_outputs)), position, "model-classes")
    if imagenet_r:
        return Head([int(r["imagenet_index"]) for r in table], wnids, "imagenet-r-200-of-1000")
    if n_outputs == len(keys):
        return Head(list(range(n_outputs)), {k: i for i, k in enumerate(keys)}, "native")
    logit = [c.logit_index for c in sorted(export_classes, key=lambda c: c.index)]
    if all(i is not None and 0 <= i < n_outputs for i in logit):
        order = sorted(set(logit))
        return Head(order, {k: order.index(i) for k, i in zip(keys, logit)}, "logit-index")
    raise CurateError(f"a {n_outputs}-way model cannot score these {len(keys)} classes: give the export's "
                      "classes a logit_index, or evaluate a model trained on them (--checkpoint RUN)")


def export_kind(export: FrozenExport) -> str:
    """imagenet-c | dfr | imagenet-r | svsf | classification: export.json's kind, else its class set
    (``curate export`` records it), else multi-label -> dfr, ImageNet-R wnids -> imagenet-r."""
    info = export.info
    kind = info.get("kind") or info.get("benchmark")
    if kind:
        return str(kind)
    if info.get("class_set") in BENCHMARKS:
        return str(info["class_set"])
    if export.multi_label:
        return "dfr"
    wnids = {r["wnid"] for r in imagenet_r_table()}
    return "imagenet-r" if export.classes and all(c.key in wnids for c in export.classes) else "classification"


def set_groups(export: FrozenExport, subsets: Sequence[str] | None) -> list[tuple[str, list[str], Any]]:
    """(set name suffix, subsets, row filter) per evaluated set: each non-train subset, or each
    (corruption, severity) of an ImageNet-C style export."""
    chosen = list(subsets) if subsets else [s for s in export.subsets() if s != "train"] or export.subsets()
    if export_kind(export) != "imagenet-c":
        return [(s, [s], None) for s in chosen]
    pairs = sorted({(r.metadata.get("corruption", ""), r.metadata.get("severity", "")) for r in export.rows
                    if r.subset in chosen})
    return [(f"{c}-{s}" if c else "clean", chosen, (c, s)) for c, s in pairs]
