"""Roles (IID or OOD) and the paper's table rows from per-set results: the ImageNet-R/IID gap, the DFR
OOD average and mCE with whether it is the paper's. Pure: works on the dicts ``evaluate_export`` returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from models import metrics

IID_SUBSETS = {"val", "iid", "id", "test_iid", "iid_test", "id_test", "test_id"}


def _matches(res: dict, spec: str) -> bool:
    """Does a set belong to ``spec`` (EXPORT[:SUBSET], by folder or by export name)?"""
    root, subsets = parse_set(spec)
    same = Path(res["path"]).resolve() == root.resolve() if root.exists() else \
        str(root) in (res["export"], res.get("export_dir"))
    return same and (subsets is None or bool(set(res["subsets"]) & set(subsets)))


def assign_roles(sets: dict[str, dict], iid: Sequence[str] = ()) -> None:
    """Mark each set 'iid' (named by ``iid``, else an IID-named subset when ``iid`` is empty) or 'ood'."""
    for res in sets.values():
        explicit = any(_matches(res, spec) for spec in iid)
        res["role"] = "iid" if explicit or (not iid and set(res["subsets"]) & IID_SUBSETS) else "ood"


def summarise(sets: dict[str, dict], iid: Sequence[str] = ()) -> dict:
    """The paper's table rows from per-set results: ImageNet-R/IID gap, DFR OOD average, mCE. Sets without
    a role get one from ``iid`` (``assign_roles``); sets evaluated earlier keep theirs."""
    assign_roles({k: r for k, r in sets.items() if "role" not in r}, iid)
    summary: dict[str, Any] = {}
    iid_sets = [r for r in sets.values() if r["role"] == "iid" and r["kind"] != "imagenet-c" and "error" in r]
    for kind in ("imagenet-r", "classification", "svsf"):
        ood = {n: r["error"] for n, r in sets.items() if r["kind"] == kind and r["role"] == "ood"}
        if ood:
            iid_err = _iid_error(iid_sets, lambda r: r["kind"] == kind)
            row = {"ood_error": float(np.mean(list(ood.values()))), "per_set": ood, "iid_error": iid_err}
            if iid_err is not None:
                row["gap"] = row["ood_error"] - iid_err
            summary[kind] = row
    dfr = {n: r for n, r in sets.items() if r["kind"] == "dfr"}
    if dfr:
        metric = "dfr_weighted_pr_auc"
        ood = [r[metric] for r in dfr.values() if r["role"] == "ood"]
        summary["dfr"] = {"metric": metric, "per_set": {n: r[metric] for n, r in dfr.items()},
                          "iid": next((r[metric] for r in dfr.values() if r["role"] == "iid"), None),
                          "ood_average": float(np.mean(ood)) if ood else None, "n_ood_sets": len(ood)}
    corrupted = {(r["corruption"], r["severity"]): r["error"] for r in sets.values()
                 if r["kind"] == "imagenet-c" and "corruption" in r}
    if corrupted:
        ce = metrics.corruption_errors(corrupted)
        c_sets = [r for r in sets.values() if r["kind"] == "imagenet-c" and "corruption" in r]
        c_classes = {r.get("classes") for r in c_sets}
        summary["imagenet-c"] = {"ce": ce, "mCE": metrics.mce(ce), "n_corruptions": len(ce),
                                 "mean_error": float(np.mean(list(corrupted.values()))),
                                 "clean_error": _iid_error(iid_sets, lambda r: r.get("classes") in c_classes),
                                 **imagenet_c_comparability(corrupted, c_sets)}
    return summary


def _iid_error(iid_sets: Sequence[dict], alike: Callable[[dict], bool]) -> float | None:
    """Mean error of the IID sets that are ``alike`` the OOD sets of a row (the same kind; for ImageNet-C
    the same class count), else of every IID set: one results.json may hold ImageNet-200 and ImageNet
    validation sets, and each table row compares with its own."""
    chosen = [r for r in iid_sets if alike(r)] or list(iid_sets)
    return float(np.mean([r["error"] for r in chosen])) if chosen else None


def imagenet_c_comparability(corrupted: dict[tuple[str, int], float], c_sets: Sequence[dict]) -> dict:
    """Is this mCE the paper's? Only on ImageNet-C itself: the 1000-class validation set under all 15
    corruptions x 5 severities, scored by a 1000-way model, divided by the AlexNet errors."""
    reasons = []
    missing = [(c, s) for c in metrics.CORRUPTIONS for s in range(1, 6) if (c, s) not in corrupted]
    if missing:
        reasons.append(f"{len(missing)} of the 75 corruption x severity sets are missing (e.g. {missing[0][0]} "
                       f"{missing[0][1]})")
    n_classes = sorted({r.get("classes") for r in c_sets}, key=str)
    if n_classes != [1000]:
        reasons.append(f"the corrupted sets hold {'/'.join(map(str, n_classes))} classes, not ImageNet's 1000")
    if any(r.get("outputs") not in (None, 1000) for r in c_sets):
        reasons.append("the model is not 1000-way")
    return {"comparable": not reasons, "not_comparable_because": "; ".join(reasons)}


def parse_set(spec: str) -> tuple[Path | str, list[str] | None]:
    """'EXPORT' or 'EXPORT:SUBSET[,SUBSET]' (the folder itself may not contain ':'); EXPORT may be an
    object-store URL (s3://bucket/exports/NAME[:SUBSET]), which comes back as a string."""
    scheme, marker, rest = spec.partition("://")
    if marker and "/" not in scheme:
        path, sep, subs = rest.rpartition(":") if ":" in rest else (rest, "", "")
        return f"{scheme}://{path}", ([s for s in subs.split(",") if s] or None) if sep else None
    path, sep, subs = spec.rpartition(":") if ":" in spec and not Path(spec).exists() else (spec, "", "")
    return Path(path), ([s for s in subs.split(",") if s] or None) if sep else None
