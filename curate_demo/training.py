"""The models stage of ``curate demo``: train a baseline and an AugMix ResNet-18 on a photo-like export on
the CPU, make an ImageNet-C style copy of its IID test set, evaluate both on that, on rendition exports
and on the IID set, and write the paper-style tables and the IID-vs-OOD plot."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

from curation.errors import CurateError

log = logging.getLogger(__name__)


def run_models_demo(train_export: Path, ood_exports: Sequence[Path], out: Path, epochs: int = 6,
                    augs: Sequence[str] = ("none", "augmix"), severities: Sequence[int] = (1, 2, 3, 4, 5),
                    echo: Callable[[str], None] = log.info) -> dict:
    """Train, corrupt, evaluate, report; returns {"runs": [...], "corrupted": path, "reports": {table: markdown}}.

    ``train_export`` needs a ``train`` subset and an IID test subset (val / iid_test); images are used at
    32 px (recipe tiny-cpu) so the whole stage takes about a minute on two CPU cores."""
    import torch

    from models.accel import Accel
    from models.corrupt import make_corrupted_export
    from models.data import open_export
    from models.evaluate import IID_SUBSETS, evaluate_sets, export_kind, parse_set
    from models.recipe import load_recipe
    from models.registry import load_model
    from models.report import write_report
    from models.runs import CHECKPOINT
    from models.train import load_train_data, train

    out = Path(out)
    export = open_export(train_export)
    iid = [s for s in export.subsets() if s in IID_SUBSETS]
    if "train" not in export.subsets() or not iid:
        raise CurateError(f"{train_export} needs a 'train' subset and an IID test subset ({', '.join(sorted(IID_SUBSETS))})")
    cpu = Accel(torch.device("cpu"), amp=False, channels_last=True)
    runs = []
    for aug in augs:
        recipe = load_recipe("tiny-cpu", {"epochs": epochs, "aug": aug})
        run = out / "runs" / aug.replace("+", "_")
        last = train(recipe, load_train_data(recipe, [train_export], None), run, cpu)
        echo(f"trained resnet18 ({aug}): {epochs} epochs, last train loss {last['train_loss']:.3f} -> {run}")
        runs.append((run, aug))
    corrupted = out / f"{export.info.get('name', Path(train_export).name)}-c"
    if not (corrupted / "SHA256SUMS").exists():
        for _ in make_corrupted_export(train_export, corrupted, iid, None, severities, resize=36, crop=32, workers=1):
            pass
    echo(f"ImageNet-C style copy of {', '.join(iid)}: {len(open_export(corrupted).rows)} images -> {corrupted}")
    iid_spec = f"{train_export}:{','.join(iid)}"
    mini_r = []
    for run, aug in runs:
        loaded = load_model(None, run / CHECKPOINT)
        res = evaluate_sets(loaded, [iid_spec, *map(str, ood_exports), str(corrupted)], cpu, run, resize=36, crop=32,
                            batch_size=64, workers=0, iid=[iid_spec], aug=aug, overwrite=True)
        echo(f"evaluated {aug}: " + ", ".join(f"{k} {v.get('ood_error', v.get('mCE')):.3f}"
                                               for k, v in res["summary"].items()))
        mini_r.append(_gap_row(aug, res["summary"]))
    kinds = {export_kind(open_export(parse_set(str(p))[0])) for p in ood_exports}
    tables = ["imagenet-r" if "imagenet-r" in kinds else "svsf", "imagenet-c"]
    reports, paths = {}, {}
    for table in tables:
        rep = write_report(table, [r for r, _ in runs], out / "reports")
        reports[table], paths[table] = rep["markdown"], rep["paths"]["md"]
        echo(f"{table} table -> {rep['paths']['md']} (+ .csv, .tex, .png)\n{rep['markdown']}")
    table = "\n".join(["  | method | IID error | rendition error | gap |", "  |---|---|---|---|", *mini_r])
    return {"runs": [str(r) for r, _ in runs], "corrupted": str(corrupted), "reports": reports,
            "report_paths": paths, "mini_r": table}


def _gap_row(aug: str, summary: dict) -> str:
    """One Markdown row: the method's IID error, its mean error over the OOD (rendition) sets, the gap."""
    row = next((summary[k] for k in ("imagenet-r", "classification", "svsf") if k in summary), {})
    iid, ood = row.get("iid_error"), row.get("ood_error")
    gap = None if iid is None or ood is None else ood - iid
    return f"  | {aug} | {_percent(iid)} | {_percent(ood)} | {_percent(gap)} |"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
