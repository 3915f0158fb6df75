"""Training on frozen exports: one recipe, one or more training exports, a run folder.

A checkpoint is written at the end of every epoch (and every ``checkpoint_every`` steps); it holds
the model, optimiser, schedule, step position and RNG states, so a killed run resumes to exactly the
weights an uninterrupted run reaches. Under ``torchrun`` the loop runs DistributedDataParallel
(NCCL on GPUs, gloo on CPUs); only rank 0 writes.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from curation.errors import CurateError
from models import runs
from models.accel import Accel, autocast, prepare_model
from models.augment.augmix import jsd_loss
from models.augment.registry import build_augmentations
from models.data import (EpochSampler, ExportDataset, aligned_classes, collect_items, make_loader, open_export,
                         to_device_batch)
from models.recipe import Recipe
from models.transforms import TrainTransform

log = logging.getLogger(__name__)


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> Dist:
    """Join the torchrun process group when WORLD_SIZE > 1 (NCCL on CUDA, gloo on CPU)."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def finish_distributed() -> None:
    """Leave the process group together: without it a rank may exit while gloo's threads still run
    (``terminate called without an active exception``, SIGABRT, and torchrun reports a failed run)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


@dataclass
class TrainData:
    dataset: ExportDataset
    classes: list
    manifests: list[dict]
    multi_label: bool
    val: Any = None
    augs: list = field(default_factory=list)


def load_train_data(recipe: Recipe, train: Sequence[Path], val: Path | None, check: bool = True) -> TrainData:
    """Open (and verify) the exports, align classes by key and build the training dataset."""
    exports = [open_export(p, check) for p in train]
    classes = aligned_classes(exports)
    if recipe.num_classes and len(classes) != recipe.num_classes:
        raise CurateError(f"recipe {recipe.name} trains a {recipe.num_classes}-way model (the release's protocol), "
                          f"but the training exports hold {len(classes)} classes: give exports over all "
                          f"{recipe.num_classes} classes, or --set num_classes=0 for a model over these classes only")
    multi = any(e.multi_label for e in exports) or recipe.loss == "bce"
    # each export's 'train' subset, or all of an export that has none (e.g. a generated augmentation set)
    items = [it for e in exports for it in collect_items([e], ["train"] if "train" in e.subsets() else None, classes)]
    if not items:
        raise CurateError("the training exports hold no images")
    augs = build_augmentations(recipe.aug, recipe.aug_options)
    views = max(a.views for a in augs)
    transform = TrainTransform(recipe.image_size, [a.image_transform for a in augs if a.image_transform],
                               views, (recipe.min_scale, recipe.max_scale), draft=recipe.decode == "draft")
    dataset = ExportDataset(items, len(classes), transform, multi, recipe.seed, lazy=recipe.decode == "draft")
    manifests = [{"path": str(Path(e.root).resolve()), "name": e.info.get("name", e.root.name),
                  "manifest_sha256": e.manifest_sha256()} for e in exports]
    val_export = open_export(val, check) if val else None
    if val_export is not None:
        manifests.append({"path": str(Path(val).resolve()), "name": val_export.info.get("name", Path(val).name),
                          "manifest_sha256": val_export.manifest_sha256(), "role": "val"})
    return TrainData(dataset, classes, manifests, multi, val_export, augs)


def lr_factor(recipe: Recipe, step: int, total: int, steps_per_epoch: int) -> float:
    if recipe.schedule == "cosine":
        floor = recipe.final_lr / (recipe.lr * recipe.batch_size / 256)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * step / max(total, 1)))
    if recipe.schedule == "step":
        epoch, k = step // max(steps_per_epoch, 1), recipe.epochs // 3  # augmix imagenet.py adjust_learning_rate
        return 0.1 ** ((epoch >= k) + (epoch >= 2 * k))
    return 1.0


def make_optimizer(recipe: Recipe, model):
    """SGD or Adam; with ``head_lr`` the classifier is its own parameter group. Every group keeps its
    ``base_lr`` (lr, times batch/256 where the recipe says so) for the schedule to scale."""
    import torch

    from models.registry import classifier

    head = classifier(model) if recipe.head_lr else None
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    groups = [{"params": [p for p in model.parameters() if id(p) not in head_ids], "base_lr": recipe.effective_lr}]
    if head_ids:
        groups.append({"params": list(head.parameters()), "base_lr": recipe.effective_head_lr})
    for g in groups:
        g["lr"] = g["base_lr"]
    if recipe.optimizer == "adam":
        return torch.optim.Adam(groups, lr=recipe.effective_lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(groups, lr=recipe.effective_lr, momentum=recipe.momentum, nesterov=recipe.nesterov,
                           weight_decay=recipe.weight_decay)


def compute_loss(logits, target, views: int, jsd_weight: float, multi_label: bool):
    import torch.nn.functional as F

    base = F.binary_cross_entropy_with_logits if multi_label else F.cross_entropy
    if views > 1:
        return jsd_loss(logits.float(), target, views, jsd_weight, base)
    return base(logits.float(), target)


def train(recipe: Recipe, data: TrainData, run_dir: Path, accel: Accel, dist: Dist | None = None,
          progress: bool = False, stop_after_steps: int | None = None) -> dict:
    """Train (or resume) into ``run_dir``; returns the last epoch's metrics."""
    import torch

    dist = dist or Dist()
    run_dir = Path(run_dir)
    config = {"recipe": recipe.to_dict(), "data": data.manifests, "classes": [c.__dict__ for c in data.classes],
              "aug": [{"name": a.name, "options": dict(a.options)} for a in data.augs],
              "world_size": dist.world, "code_revision": runs.code_revision()}
    with torch.random.fork_rng(devices=[accel.device] if accel.cuda else []):
        torch.manual_seed(recipe.seed)
        return _run(recipe, data, run_dir, accel, dist, config, progress, stop_after_steps)


def _check_same_run(old: dict, config: dict, run_dir: Path) -> None:
    keys = ("recipe", "data", "classes", "aug", "world_size")
    diff = [k for k in keys if old.get(k) != config.get(k)]
    if diff:
        raise CurateError(f"{run_dir} holds a run with a different {', '.join(diff)}; resume it with the same "
                          "arguments or choose a new --out folder")


def _build_model(recipe: Recipe, classes: Sequence[Any], accel: Accel, dist: Dist):
    """The model (DDP-wrapped under torchrun) and where its weights came from."""
    import torch

    from models.registry import adapt_head, create_model, load_model

    if recipe.init == "scratch":
        model, start = create_model(recipe.model, len(classes)), {"init": "scratch", "head": "new"}
    else:
        loaded = load_model(recipe.model, recipe.init)
        model = loaded.model
        start = {"init": recipe.init, "source": loaded.source, "head": adapt_head(model, classes, loaded.classes)}
    log.info("model %s: %s", recipe.model, start)
    model = prepare_model(model, accel)
    if dist.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[accel.device.index] if accel.cuda else None)
    return model, start


def _restore(ckpt: dict, model, optimizer, generator, accel: Accel) -> dict:
    """Load weights, optimiser and RNG states; return the position (epoch, step, history)."""
    import torch

    _unwrap(model).load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    generator.set_state(ckpt["rng"]["generator"])
    if accel.cuda and "cuda" in ckpt["rng"]:
        torch.cuda.set_rng_state(ckpt["rng"]["cuda"], accel.device)
    return {"epoch": ckpt["epoch"], "step": ckpt["step"], "history": list(ckpt["history"])}


def _run(recipe, data, run_dir, accel, dist, config, progress, stop_after_steps) -> dict:
    import torch

    model, start = _build_model(recipe, data.classes, accel, dist)
    config["start"] = start
    per_rank = recipe.batch_size // dist.world
    if per_rank < 1:
        raise CurateError(f"batch_size {recipe.batch_size} is smaller than the {dist.world} processes")
    sampler = EpochSampler(len(data.dataset), True, recipe.seed, dist.rank, dist.world, drop_last=True)
    steps_per_epoch = len(sampler) // per_rank
    if steps_per_epoch == 0:
        raise CurateError(f"{len(data.dataset)} training images are fewer than one batch of {recipe.batch_size}")
    optimizer = make_optimizer(recipe, _unwrap(model))
    generator = torch.Generator(device=accel.device).manual_seed(recipe.seed)
    state = {"epoch": 0, "step": 0, "history": []}
    ckpt = runs.load_checkpoint(run_dir)
    if ckpt is not None:
        _check_same_run(ckpt["config"], config, run_dir)
        state = _restore(ckpt, model, optimizer, generator, accel)
        log.info("resuming %s at epoch %d step %d", run_dir, state["epoch"], state["step"])
    elif dist.main:
        runs.write_json(run_dir / runs.CONFIG, config)
    loop = _Loop(recipe, data, run_dir, accel, dist, config, model, optimizer, generator, steps_per_epoch,
                 _progress(progress and dist.main, steps_per_epoch * recipe.epochs), stop_after_steps)
    loader = _loader(recipe, data, sampler, per_rank, accel)  # workers persist; the sampler carries the epoch
    last: dict = state["history"][-1] if state["history"] else {}
    try:
        for epoch in range(state["epoch"], recipe.epochs):
            start_step = state["step"] if epoch == state["epoch"] else 0
            sampler.set_epoch(epoch, start_step * per_rank)
            partial = ckpt.get("partial") if ckpt is not None and epoch == state["epoch"] else None
            last = loop.epoch(loader, epoch, start_step, partial, state["history"])
            if "stopped_at" in last:
                return last
            state["history"].append(last)
            loop.save(epoch + 1, 0, state["history"], None)
            if dist.main:
                log.info("epoch %d: %s", epoch + 1, last)
    finally:
        _close(loop.bar)
    return last


class _Loop:
    """One run's training steps; holds the pieces every step needs."""

    def __init__(self, recipe, data, run_dir, accel, dist, config, model, optimizer, generator, steps_per_epoch,
                 bar, stop_after_steps):
        self.recipe, self.data, self.run_dir, self.accel, self.dist = recipe, data, run_dir, accel, dist
        self.config, self.model, self.optimizer, self.generator = config, model, optimizer, generator
        self.steps_per_epoch, self.bar, self.stop_after_steps, self.steps_done = steps_per_epoch, bar, stop_after_steps, 0
        self.batch_transforms = [a.batch_transform for a in data.augs if a.batch_transform]
        self.views = max(a.views for a in data.augs)
        self.jsd_weight = max(a.jsd_weight for a in data.augs)

    def epoch(self, loader, epoch: int, start_step: int, partial, history: list) -> dict:
        import torch

        recipe, total = self.recipe, self.steps_per_epoch * self.recipe.epochs
        for fn in self.batch_transforms:  # e.g. Noise2Net re-draws its architecture once per epoch
            if hasattr(fn, "set_epoch"):
                fn.set_epoch(epoch)
        self.model.train()
        sums = torch.zeros(3, dtype=torch.float64, device=self.accel.device)
        if partial is not None:
            sums += partial.to(sums.device)
        started = time.perf_counter()
        for step, batch in enumerate(loader, start=start_step):
            factor = lr_factor(recipe, epoch * self.steps_per_epoch + step, total, self.steps_per_epoch)
            for group in self.optimizer.param_groups:
                group["lr"] = group["base_lr"] * factor
            loss = self.step(batch, sums)
            self.steps_done += 1
            if step % (20 if self.accel.cuda else 1) == 0 or step + 1 == self.steps_per_epoch:
                self._check(loss.item(), epoch, step)  # .item() syncs a GPU: only every 20 steps there
            if recipe.checkpoint_every and (step + 1) % recipe.checkpoint_every == 0 and step + 1 < self.steps_per_epoch:
                self.save(epoch, step + 1, history, sums.cpu())
            if self.stop_after_steps is not None and self.steps_done >= self.stop_after_steps:
                return {"stopped_at": {"epoch": epoch, "step": step + 1}}
        return _epoch_metrics(recipe, self.data, self.model, self.accel, self.dist, epoch, sums.cpu(),
                              self.optimizer, started)

    def step(self, batch, sums):
        import torch

        xs, target = _views(batch, self.accel)
        start = self.generator.get_state()
        views = []
        for v in xs:  # every view of an image gets the same batch-transform draw (the same Noise2Net network)
            self.generator.set_state(start)
            views.append(to_device_batch(v, self.accel.device, channels_last=self.accel.channels_last,
                                         batch_transforms=self.batch_transforms, generator=self.generator))
        x = torch.cat(views)
        target = target.to(self.accel.device, non_blocking=True)
        with autocast(self.accel):
            logits = self.model(x)
        loss = compute_loss(logits, target, self.views, self.jsd_weight, self.data.multi_label)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            n = len(target)
            sums += torch.stack([loss.detach().double() * n, _correct(logits[:n], target, self.data.multi_label),
                                 torch.tensor(float(n), dtype=torch.float64, device=sums.device)])
        return loss

    def _check(self, loss: float, epoch: int, step: int) -> None:
        if not math.isfinite(loss):
            raise CurateError(f"the loss became {loss} at epoch {epoch + 1}, step {step + 1}; lower the learning "
                              "rate (--lr) and start a new run folder")
        if self.bar is not None:
            self.bar[0].update(self.bar[1], completed=epoch * self.steps_per_epoch + step + 1,
                               description=f"epoch {epoch + 1}/{self.recipe.epochs} loss {loss:.3f}")

    def save(self, epoch: int, step: int, history: list, partial) -> None:
        _save(self.run_dir, self.dist, self.model, self.optimizer, self.generator, self.accel, self.config, self.data,
              epoch, step, history, partial)


def gpu_decoding(recipe: Recipe, data: TrainData, accel: Accel) -> bool:
    """Decode training JPEGs on the GPU when asked, no augmentation needs the PIL image and the crop scale
    stays within the image (the GPU path draws boxes with max_scale 1)."""
    return accel.cuda and recipe.gpu_decode and recipe.max_scale == 1.0 and not any(a.image_transform for a in data.augs)


def _loader(recipe: Recipe, data: TrainData, sampler: EpochSampler, per_rank: int, accel: Accel):
    import torch

    if not gpu_decoding(recipe, data, accel):
        return make_loader(data.dataset, per_rank, sampler, recipe.workers, accel.cuda, drop_last=True)
    from models.accel import JpegBytesDataset, collate_bytes

    ds = JpegBytesDataset(data.dataset.items, data.dataset, "train", recipe.image_size, seed=recipe.seed,
                          min_scale=recipe.min_scale)
    return torch.utils.data.DataLoader(ds, batch_size=per_rank, sampler=sampler, num_workers=recipe.workers,
                                       collate_fn=collate_bytes, drop_last=True, pin_memory=True,
                                       persistent_workers=recipe.workers > 0,
                                       prefetch_factor=4 if recipe.workers else None)


def _views(batch, accel: Accel):
    """(list of view batches, targets) from either loader."""
    if len(batch) == 4:  # encoded bytes + boxes: decode on the device
        from models.accel import decode_on_device

        datas, boxes, target, _ = batch
        return [decode_on_device(datas, boxes, accel.device)], target
    return batch[0], batch[1]


def _unwrap(model: Any) -> Any:
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def _correct(logits, target, multi_label: bool):
    """Correct top-1 predictions (multi-label: the top class is a positive) as a float64 device scalar."""
    import torch

    top = logits.argmax(1)
    if multi_label:
        return target[torch.arange(len(top), device=top.device), top].double().sum()
    return (top == target).double().sum()


def _epoch_metrics(recipe, data, model, accel, dist, epoch, sums, optimizer, started) -> dict:
    import torch.distributed as tdist

    if dist.world > 1:
        tdist.all_reduce(sums)
    loss, correct, n = sums.tolist()
    row = {"epoch": epoch + 1, "train_loss": loss / n, "train_top1_error": 1 - correct / n,
           "lr": optimizer.param_groups[0]["lr"], "images": int(n),
           "images_per_s": n / max(time.perf_counter() - started, 1e-9)}
    if data.val is not None and dist.main:
        from models.evaluate import evaluate_export

        result = evaluate_export(_unwrap(model), data.val, [c.__dict__ for c in data.classes], accel,
                                 recipe.eval_resize, recipe.eval_crop, batch_size=recipe.batch_size,
                                 workers=recipe.workers, squash=recipe.eval_squash,
                                 draft=recipe.decode == "draft")
        row["val"] = {name: {k: v for k, v in r.items() if k in ("error", "dfr_weighted_pr_auc", "n")}
                      for name, r in result.items()}
    return row


def _save(run_dir, dist, model, optimizer, generator, accel, config, data, epoch, step, history, partial) -> None:
    import torch

    if not dist.main:
        return
    rng = {"torch": torch.get_rng_state(), "generator": generator.get_state().cpu()}
    if accel.cuda:
        rng["cuda"] = torch.cuda.get_rng_state(accel.device)
    state = {"format": "curate-checkpoint", "config": config, "classes": config["classes"],
             "model": _unwrap(model).state_dict(), "optimizer": optimizer.state_dict(), "rng": rng,
             "epoch": epoch, "step": step, "history": history, "code_revision": config["code_revision"],
             "manifests": data.manifests}
    if partial is not None:
        state["partial"] = partial
    runs.save_checkpoint(run_dir, state)
    runs.rewrite_metrics(run_dir, history)


def _progress(enabled: bool, total: int):
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    bar.start()
    return bar, bar.add_task("training", total=total)


def _close(bar) -> None:
    if bar is not None:
        bar[0].stop()
