"""Evaluation on frozen exports with the paper's protocols.

* ImageNet-R: every model with a 1000-way head (torchvision/timm weights and our own 1000-way
  checkpoints alike) is scored on the 200 ImageNet-R logits only when the test set's class table is
  ImageNet-R's (class table from the taxonomy's package data); a 200-way model on its own outputs. IID
  sets ("ImageNet-200") use the same masked logits; the gap is OOD - IID error.
* SVSF / any single-label set: top-1 error. DFR (multi-label): the released metric, per-class trapezoidal
  PR-AUC weighted by each class's share of positive labels (``dfr_weighted_pr_auc``), per set and averaged
  over the OOD sets; step-wise weighted average precision is reported beside it under its own name.
  ImageNet-C style exports (``curate corrupt``): error per corruption and severity at the stored image
  size, CE and mCE normalised by AlexNet.
* Every set: RMS calibration error and AURRA from the top softmax (sigmoid for multi-label) score, top-5
  error, per-class accuracy and images/s; ``evaluate_sets`` also stores per-image predictions and confusion
  counts (``models.predictions``). Sets are keyed EXPORT-FOLDER:SUBSET (``models.preflight``).
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from curation.errors import CurateError
from models import metrics
from models.accel import Accel, JpegBytesDataset, autocast, collate_bytes, decode_on_device
from models.data import EpochSampler, ExportDataset, Item, collate, collect_items, make_loader, to_device_batch
from models.evalsets import (BENCHMARKS, Head, export_kind, head_for, imagenet_r_mask,  # noqa: F401
                             imagenet_r_table, set_groups)
from models.predictions import SetDetails, set_details, write_set_files
from models.summary import IID_SUBSETS, assign_roles, imagenet_c_comparability, parse_set, summarise  # noqa: F401
from models.transforms import EvalTransform
from splits.frozen import FrozenExport

log = logging.getLogger(__name__)


def predict(model: Any, items: Sequence[Item], accel: Accel, resize: int, crop: int, batch_size: int,
            workers: int, keep: Sequence[int], gpu_decode: bool | None = None, squash: bool = False,
            draft: bool = False, on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """Logits (only the ``keep`` columns) for ``items`` in order; GPU path decodes JPEGs on the device, CPU
    path runs ``workers`` parallel decode -> forward streams (see ``predict_cpu``). JPEGs decode at full
    resolution unless ``draft`` (Pillow's DCT scaling, never below the resize target). ``on_batch`` hears
    the size of each finished batch (a progress bar)."""
    import torch

    gpu_decode = (accel.cuda and not squash) if gpu_decode is None else gpu_decode
    transform = EvalTransform(resize, crop, squash)
    if not accel.cuda and not gpu_decode:
        ds = ExportDataset(items, 1, transform, draft=(resize or None) if draft else None, with_targets=False)
        return predict_cpu(model, ds, accel, batch_size, cpu_streams(workers), keep, on_batch)
    n = len(items)
    sampler = EpochSampler(n, shuffle=False)
    if gpu_decode:
        ds = JpegBytesDataset(items, None, "eval", crop, resize)
        loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=workers,
                                             collate_fn=collate_bytes, pin_memory=False,
                                             prefetch_factor=4 if workers else None)
    else:
        ds = ExportDataset(items, 1, transform, draft=(resize or None) if draft else None, with_targets=False)
        loader = make_loader(ds, batch_size, sampler, workers, pin=accel.cuda)
    keep_t = torch.tensor(list(keep), device=accel.device)
    out = np.zeros((n, len(keep)), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for batch in loader:
            if gpu_decode:
                datas, boxes, _, idx = batch
                x = decode_on_device(datas, boxes, accel.device)
            else:
                (x,), _, idx = batch
            x = to_device_batch(x, accel.device, channels_last=accel.channels_last)
            with autocast(accel):
                logits = model(x)
            out[idx.numpy()] = logits.float().index_select(1, keep_t).cpu().numpy()
            if on_batch:
                on_batch(len(idx))
    return out


def cpu_streams(workers: int) -> int:
    """How many decode -> forward streams a CPU evaluation runs: ``workers``, at most one per usable core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(workers, cores))


def predict_cpu(model: Any, ds: ExportDataset, accel: Accel, batch_size: int, streams: int,
                keep: Sequence[int], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """CPU inference as ``streams`` threads, each decoding a chunk and running the model on it with its share
    of the torch threads. PIL decoding and oneDNN convolutions release the GIL, so every core does useful
    work; DataLoader processes beside a multi-threaded forward would oversubscribe the cores instead
    (OpenMP threads spin while a decoder holds their core). Chunks are at most ``batch_size`` images and
    split evenly across the streams so none idles at the end. The torch thread count is restored after."""
    import torch

    n = len(ds)
    out = np.zeros((n, len(keep)), dtype=np.float32)
    if n == 0:
        return out
    keep_t = torch.tensor(list(keep), device=accel.device)
    chunks = np.array_split(np.arange(n), streams * -(-n // (streams * batch_size)))
    model.eval()

    def run(idx: np.ndarray):
        (x,), _, _ = collate([ds[int(i)] for i in idx])
        with torch.inference_mode(), autocast(accel):  # both are thread-local
            logits = model(to_device_batch(x, accel.device, channels_last=accel.channels_last))
            return idx, logits.float().index_select(1, keep_t).numpy()

    if streams == 1:
        for idx, logits in map(run, chunks):
            out[idx] = logits
            if on_batch:
                on_batch(len(idx))
        return out
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads // streams))  # threads started below pick this up on their first op
    try:
        with ThreadPoolExecutor(streams, thread_name_prefix="curate-eval") as pool:
            for idx, logits in pool.map(run, chunks):
                out[idx] = logits
                if on_batch:
                    on_batch(len(idx))
    finally:
        torch.set_num_threads(threads)
    return out


def score(logits: np.ndarray, items: Sequence[Item], head: Head, keys: Sequence[str], multi_label: bool) -> dict:
    """Error (and for DFR the released weighted PR-AUC), calibration and AURRA of one set."""
    n, k = logits.shape
    if multi_label:
        targets = np.zeros((n, k), dtype=bool)
        for i, item in enumerate(items):
            targets[i, [head.position[keys[j]] for j in item.labels]] = True
        probs = 1 / (1 + np.exp(-logits.astype(np.float64)))
        top = probs.argmax(1)
        correct = targets[np.arange(n), top]
        conf = probs.max(1)
        ranked = probs.astype(np.float32)  # the release ranks float32 sigmoid outputs (ties included)
        out = {"dfr_weighted_pr_auc": metrics.dfr_weighted_pr_auc(ranked, targets),
               "weighted_average_precision": metrics.weighted_average_precision(ranked, targets)}
    else:
        target = np.array([head.position[keys[item.labels[0]]] for item in items])
        shifted = logits.astype(np.float64) - logits.max(1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(1, keepdims=True)
        pred = probs.argmax(1)
        correct, conf = pred == target, probs.max(1)
        out = {}
    out.update(n=n, error=float(1 - correct.mean()), calibration_rms=metrics.calibration_error(conf, correct),
               aurra=metrics.aurra(conf, correct))
    return out


class Progress(Protocol):
    """What evaluation reports while it runs (the CLI draws a bar from it)."""

    def start(self, name: str, total: int) -> None: ...

    def advance(self, n: int) -> None: ...


SetSink = Callable[[str, SetDetails], dict]


def class_names(export: FrozenExport, model_classes: Sequence[dict] | None, head: Head) -> dict[str, str]:
    """Human names for every output the head keeps: the model's, ImageNet-R's and the export's own."""
    names = {r["wnid"]: r["class_name"] for r in imagenet_r_table()} if head.protocol.startswith("imagenet-r") else {}
    names.update({c["key"]: c.get("name", "") for c in model_classes or []})
    names.update({c.key: c.name for c in export.classes})
    return names


def evaluate_export(model: Any, export: FrozenExport, model_classes: Sequence[dict] | None, accel: Accel,
                    resize: int, crop: int, batch_size: int = 256, workers: int = 4,
                    subsets: Sequence[str] | None = None, n_outputs: int | None = None, squash: bool = False,
                    draft: bool = False, progress: Progress | None = None, sink: SetSink | None = None,
                    prefix: str | None = None) -> dict[str, dict]:
    """Score every set of ``export``; returns {PREFIX:SET: metrics} with kind, subset, protocol, top-5,
    per-class accuracy and images/s. PREFIX is the export's folder name unless given, so several exports
    of one split stay apart. ``sink`` receives each set's per-image details and returns file paths to record."""
    if n_outputs is None:
        n_outputs = len(model_classes) if model_classes else _outputs(model)
    head = head_for(export.classes, n_outputs, model_classes)
    keys = [c.key for c in sorted(export.classes, key=lambda c: c.index)]
    names = class_names(export, model_classes, head)
    kind = export_kind(export)
    stored = kind == "imagenet-c"
    prefix = prefix or Path(export.root).name
    results = {}
    for suffix, subs, pair in set_groups(export, subsets):
        set_key = f"{prefix}:{suffix}"
        items = collect_items([export], subs, [_Key(k) for k in keys])
        if pair is not None:
            items = [it for it in items if (it.row.metadata.get("corruption", ""),
                                            it.row.metadata.get("severity", "")) == pair]
        unknown = sorted({keys[j] for it in items for j in it.labels} - set(head.position))
        if unknown:
            raise CurateError(f"{export.root}: the model has no output for class(es) {unknown[:5]}; evaluate a "
                              "model trained on these classes")
        if progress:
            progress.start(set_key, len(items))
        started = time.perf_counter()
        logits = predict(model, items, accel, 0 if stored else resize, 0 if stored else crop, batch_size, workers,
                         head.keep, squash=squash and not stored, draft=draft,
                         on_batch=progress.advance if progress else None)
        seconds = time.perf_counter() - started
        res = score(logits, items, head, keys, export.multi_label)
        details = set_details(logits, items, head.position, keys, names, export.multi_label)
        res.update(details.metrics)
        res.update(kind=kind, export=str(export.info.get("name") or export.root.name), export_dir=Path(export.root).name,
                   path=export.location or str(Path(export.root).resolve()), subsets=subs, protocol=head.protocol, classes=len(keys),
                   outputs=n_outputs, seconds=seconds, images_per_s=len(items) / seconds if seconds > 0 else None)
        if pair is not None and pair[0]:
            res.update(corruption=pair[0], severity=int(pair[1]))
        if sink:
            res.update(sink(set_key, details))
        results[set_key] = res
        log.info("%s %s", set_key, {k: res[k] for k in ("n", "error")})
    return results


@dataclass(frozen=True)
class _Key:
    key: str


def _outputs(model: Any) -> int:
    import torch

    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise CurateError("cannot tell how many classes the model predicts")
    return linears[-1].out_features


def evaluate_sets(loaded: Any, sets: Sequence[str], accel: Accel, out: Path, resize: int = 256, crop: int = 224,
                  batch_size: int = 256, workers: int = 4, iid: Sequence[str] = (), check: bool = True,
                  label: str | None = None, aug: str = "", progress: Progress | None = None, squash: bool = False,
                  draft: bool = False, start: str = "", overwrite: bool = False, plan: Any = None) -> dict:
    """Evaluate a loaded model (``models.registry.LoadedModel``) on every set; write ``out/results.json``
    (self-describing) with per-image predictions and confusion counts beside it, and return it.

    An earlier evaluation in ``out`` is extended only when it scored the same weights with the same
    settings and none of its sets would be replaced; otherwise ``models.preflight.ResultsClash`` says so,
    unless ``overwrite``. ``plan``: the ``models.preflight.plan_evaluation`` already made for these arguments."""
    from models.accel import prepare_model
    from models.preflight import plan_evaluation
    from models.runs import code_revision, write_json

    out = Path(out)
    settings = eval_settings(resize, crop, squash, draft, accel)
    plan = plan or plan_evaluation(sets, out, loaded.source, settings, overwrite, check)
    model = prepare_model(loaded.model, accel)
    all_sets, records = dict(plan.kept), []
    for p in plan.exports:
        records.append({"path": p.export.location or str(p.root.resolve()),
                        "name": p.export.info.get("name", Path(p.export.root).name),
                        "prefix": p.prefix, "manifest_sha256": p.export.manifest_sha256()})
        new = evaluate_export(model, p.export, loaded.classes, accel, resize, crop, batch_size, workers, p.subsets,
                              loaded.num_classes, squash, draft, progress=progress, prefix=p.prefix,
                              sink=lambda key, details: write_set_files(out, key, details))
        assign_roles(new, iid)
        all_sets.update(new)
    previous = plan.previous
    results = {"label": label or out.name, "model": loaded.arch, "weights": loaded.source,
               "aug": aug or previous.get("aug", ""), "num_classes": loaded.num_classes, "sets": all_sets,
               "summary": summarise(all_sets, iid), "exports": previous.get("exports", []) + records,
               "code_revision": code_revision(), "preprocessing": {k: v for k, v in settings.items() if k != "precision"},
               "device": str(accel.device), "amp": accel.amp, "precision": settings["precision"],
               "start": start or previous.get("start", "")}
    write_json(out / "results.json", results)
    return results


def eval_settings(resize: int, crop: int, squash: bool, draft: bool, accel: Accel) -> dict:
    """The settings two evaluations must share to be stored as one (``models.preflight.earlier_results``)."""
    return {"resize": resize, "crop": crop, "squash": squash, "decode": "draft" if draft else "full",
            "imagenet_c": "stored size", "precision": "bf16" if accel.amp else "fp32"}
