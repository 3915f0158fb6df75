"""Training on frozen exports: one recipe, one or more training exports, a run folder.

Laid out as torchvision's classification reference script: ``load_train_data`` opens the exports,
``train_one_epoch`` runs one epoch's steps, ``evaluate`` scores the validation export, and ``train``
orchestrates a run. A run's fixed settings travel as a frozen ``RunConfig``; what changes (model,
optimiser, scheduler, generator, position, history) as a ``TrainState`` (``models.checkpoint``).

A checkpoint is written at the end of every epoch (and every ``checkpoint_every`` steps); it holds
everything in the ``TrainState`` and the RNG states, so a killed run resumes to exactly the weights an
uninterrupted run reaches. The learning-rate schedule and its batch-size scaling: ``models.schedule``.
Under ``torchrun`` the loop runs DistributedDataParallel (NCCL on GPUs, gloo on CPUs); only rank 0 writes.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from curation.errors import CurateError
from models import checkpoint, runs
from models.accel import Accel, autocast, prepare_model
from models.augment.augmix import jsd_loss
from models.augment.registry import build_augmentations
from models.checkpoint import TrainState, unwrap
from models.data import (EpochSampler, ExportDataset, aligned_classes, collect_items, make_loader, open_export,
                         to_device_batch)
from models.recipe import Recipe
from models.schedule import make_optimizer, make_scheduler, replay_scheduler
from models.transforms import TrainTransform

if TYPE_CHECKING:
    import torch

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
    manifests = [{"path": e.location or str(Path(e.root).resolve()), "name": e.info.get("name", e.root.name),
                  "manifest_sha256": e.manifest_sha256()} for e in exports]
    val_export = open_export(val, check) if val else None
    if val_export is not None:
        manifests.append({"path": val_export.location or str(Path(val).resolve()),
                          "name": val_export.info.get("name", Path(val_export.root).name),
                          "manifest_sha256": val_export.manifest_sha256(), "role": "val"})
    return TrainData(dataset, classes, manifests, multi, val_export, augs)


@dataclass(frozen=True)
class RunConfig:
    """What stays fixed through a run: the recipe and data, where it writes, the device and processes."""

    recipe: Recipe
    data: TrainData
    run_dir: Path
    accel: Accel
    dist: Dist
    batch_per_rank: int
    steps_per_epoch: int
    description: dict  # config.json: recipe, data manifests, classes, augmentations, world size, start
    stop_after_steps: int | None = None  # stop (as a kill would) after this many steps of this process

    @property
    def total_steps(self) -> int:
        return self.recipe.epochs * self.steps_per_epoch

    @property
    def batch_transforms(self) -> list:
        return [a.batch_transform for a in self.data.augs if a.batch_transform]

    @property
    def views(self) -> int:
        return max(a.views for a in self.data.augs)

    @property
    def jsd_weight(self) -> float:
        return max(a.jsd_weight for a in self.data.augs)


class Progress:
    """The run's progress bar over all its steps (rich), or nothing when off."""

    def __init__(self, enabled: bool, total: int) -> None:
        self._bar, self._task = None, None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

            self._bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
            self._bar.start()
            self._task = self._bar.add_task("training", total=total)

    def update(self, completed: int, description: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=completed, description=description)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def compute_loss(logits, target, views: int, jsd_weight: float, multi_label: bool):
    import torch.nn.functional as F

    base = F.binary_cross_entropy_with_logits if multi_label else F.cross_entropy
    if views > 1:
        return jsd_loss(logits.float(), target, views, jsd_weight, base)
    return base(logits.float(), target)


def train_step(cfg: RunConfig, state: TrainState, batch: Sequence, sums: torch.Tensor) -> torch.Tensor:
    """One optimiser step on ``batch``; adds (loss x n, correct, n) to ``sums``; returns the loss."""
    import torch

    xs, target = _views(batch, cfg.accel)
    start, views = state.generator.get_state(), []
    for v in xs:  # every view of an image gets the same batch-transform draw (the same Noise2Net network)
        state.generator.set_state(start)
        views.append(to_device_batch(v, cfg.accel.device, channels_last=cfg.accel.channels_last,
                                     batch_transforms=cfg.batch_transforms, generator=state.generator))
    x = torch.cat(views)
    target = target.to(cfg.accel.device, non_blocking=True)
    with autocast(cfg.accel):
        logits = state.model(x)
    loss = compute_loss(logits, target, cfg.views, cfg.jsd_weight, cfg.data.multi_label)
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    state.optimizer.step()
    with torch.no_grad():
        n = len(target)
        sums += torch.stack([loss.detach().double() * n, _correct(logits[:n], target, cfg.data.multi_label),
                             torch.tensor(float(n), dtype=torch.float64, device=sums.device)])
    return loss


def train_one_epoch(cfg: RunConfig, state: TrainState, loader: Any, progress: Progress) -> dict:
    """Train epoch ``state.epoch`` from step ``state.step``: its metrics row (without validation), or
    ``{"stopped_at": {"epoch", "step"}}`` when ``cfg.stop_after_steps`` ends the run early."""
    import torch

    epoch, recipe = state.epoch, cfg.recipe
    for fn in cfg.batch_transforms:  # e.g. Noise2Net re-draws its architecture once per epoch
        if hasattr(fn, "set_epoch"):
            fn.set_epoch(epoch)
    state.model.train()
    sums = torch.zeros(3, dtype=torch.float64, device=cfg.accel.device)
    if state.partial is not None:  # the sums of the steps before a mid-epoch checkpoint
        sums += state.partial.to(sums.device)
        state.partial = None
    started, lr = time.perf_counter(), state.optimizer.param_groups[0]["lr"]
    for step, batch in enumerate(loader, start=state.step):
        lr = state.optimizer.param_groups[0]["lr"]
        loss = train_step(cfg, state, batch, sums)
        state.scheduler.step()
        state.step, state.steps_done = step + 1, state.steps_done + 1
        if step % (20 if cfg.accel.cuda else 1) == 0 or state.step == cfg.steps_per_epoch:
            value = loss.item()  # syncs a GPU: only every 20 steps there
            _check_loss(value, epoch, step)
            progress.update(epoch * cfg.steps_per_epoch + state.step,
                            f"epoch {epoch + 1}/{recipe.epochs} loss {value:.3f}")
        if recipe.checkpoint_every and state.step % recipe.checkpoint_every == 0 and state.step < cfg.steps_per_epoch:
            _save(cfg, state, sums.cpu())
        if cfg.stop_after_steps is not None and state.steps_done >= cfg.stop_after_steps:
            return {"stopped_at": {"epoch": epoch, "step": state.step}}
    return _epoch_metrics(cfg, epoch, sums, lr, time.perf_counter() - started)


def evaluate(cfg: RunConfig, model: torch.nn.Module) -> dict[str, dict]:
    """Error, DFR's weighted PR-AUC and n on each set of the validation export (rank 0)."""
    from models.evaluate import evaluate_export

    r = cfg.recipe
    result = evaluate_export(unwrap(model), cfg.data.val, [c.__dict__ for c in cfg.data.classes], cfg.accel,
                             r.eval_resize, r.eval_crop, batch_size=r.batch_size, workers=r.workers,
                             squash=r.eval_squash, draft=r.decode == "draft")
    return {name: {k: v for k, v in res.items() if k in ("error", "dfr_weighted_pr_auc", "n")}
            for name, res in result.items()}


def train(recipe: Recipe, data: TrainData, run_dir: Path, accel: Accel, dist: Dist | None = None,
          progress: bool = False, stop_after_steps: int | None = None) -> dict:
    """Train (or resume) into ``run_dir``; returns the last epoch's metrics (or where it stopped)."""
    import torch

    dist = dist or Dist()
    with torch.random.fork_rng(devices=[accel.device] if accel.cuda else []):
        torch.manual_seed(recipe.seed)
        per_rank, steps_per_epoch = _batches(recipe, data, dist)
        model, start = _build_model(recipe, data.classes, accel, dist)
        cfg = RunConfig(recipe, data, Path(run_dir), accel, dist, per_rank, steps_per_epoch,
                        _describe(recipe, data, dist, start), stop_after_steps)
        optimizer = make_optimizer(recipe, unwrap(model))
        state = TrainState(model, optimizer, make_scheduler(recipe, optimizer, steps_per_epoch),
                           torch.Generator(device=accel.device).manual_seed(recipe.seed))
        _resume_or_start(cfg, state)
        sampler = EpochSampler(len(data.dataset), True, recipe.seed, dist.rank, dist.world, drop_last=True)
        loader = _loader(cfg, sampler)  # workers persist; the sampler carries the epoch
        last: dict = state.history[-1] if state.history else {}
        with Progress(progress and dist.main, cfg.total_steps) as bar:
            while state.epoch < recipe.epochs:
                sampler.set_epoch(state.epoch, state.step * per_rank)
                last = train_one_epoch(cfg, state, loader, bar)
                if "stopped_at" in last:
                    return last
                if data.val is not None and dist.main:
                    last["val"] = evaluate(cfg, state.model)
                state.history.append(last)
                state.epoch, state.step = state.epoch + 1, 0
                _save(cfg, state)
                if dist.main:
                    log.info("epoch %d: %s", state.epoch, last)
        return last


def _batches(recipe: Recipe, data: TrainData, dist: Dist) -> tuple[int, int]:
    """(images per process and step, steps per epoch); the last incomplete batch is dropped."""
    per_rank = recipe.batch_size // dist.world
    if per_rank < 1:
        raise CurateError(f"batch_size {recipe.batch_size} is smaller than the {dist.world} processes")
    steps_per_epoch = len(data.dataset) // dist.world // per_rank
    if steps_per_epoch == 0:
        raise CurateError(f"{len(data.dataset)} training images are fewer than one batch of {recipe.batch_size}")
    return per_rank, steps_per_epoch


def _describe(recipe: Recipe, data: TrainData, dist: Dist, start: dict) -> dict:
    """The run's config.json (also in every checkpoint)."""
    return {"recipe": recipe.to_dict(), "data": data.manifests, "classes": [c.__dict__ for c in data.classes],
            "aug": [{"name": a.name, "options": dict(a.options)} for a in data.augs], "world_size": dist.world,
            "code_revision": runs.code_revision(), "start": start}


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
        device_ids = [accel.device.index] if accel.cuda else None
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    return model, start


def _resume_or_start(cfg: RunConfig, state: TrainState) -> None:
    """Continue from the run folder's checkpoint, or begin the run there (config.json)."""
    ckpt = runs.load_checkpoint(cfg.run_dir)
    if ckpt is None:
        if cfg.dist.main:
            runs.write_json(cfg.run_dir / runs.CONFIG, cfg.description)
        return
    checkpoint.check_same_run(ckpt["config"], cfg.description, cfg.run_dir)
    if not checkpoint.restore(state, ckpt, cfg.accel):
        state.scheduler = replay_scheduler(cfg.recipe, state.optimizer, cfg.steps_per_epoch,
                                           state.position(cfg.steps_per_epoch))
    log.info("resuming %s at epoch %d step %d", cfg.run_dir, state.epoch, state.step)


def _save(cfg: RunConfig, state: TrainState, partial: torch.Tensor | None = None) -> None:
    if cfg.dist.main:
        checkpoint.save(cfg.run_dir, state, cfg.description, cfg.accel, partial)


def _check_loss(loss: float, epoch: int, step: int) -> None:
    if not math.isfinite(loss):
        raise CurateError(f"the loss became {loss} at epoch {epoch + 1}, step {step + 1}; lower the learning "
                          "rate (--lr) and start a new run folder")


def _epoch_metrics(cfg: RunConfig, epoch: int, sums: torch.Tensor, lr: float, seconds: float) -> dict:
    """The epoch's row: loss and top-1 error over all processes' samples, the last step's rate, speed."""
    import torch.distributed as tdist

    if cfg.dist.world > 1:
        tdist.all_reduce(sums)
    loss, correct, n = sums.tolist()
    return {"epoch": epoch + 1, "train_loss": loss / n, "train_top1_error": 1 - correct / n, "lr": lr, "images": int(n),
            "images_per_s": n / max(seconds, 1e-9)}


def gpu_decoding(recipe: Recipe, data: TrainData, accel: Accel) -> bool:
    """Decode training JPEGs on the GPU when asked, no augmentation needs the PIL image and the crop scale
    stays within the image (the GPU path draws boxes with max_scale 1)."""
    return (accel.cuda and recipe.gpu_decode and recipe.max_scale == 1.0
            and not any(a.image_transform for a in data.augs))


def _loader(cfg: RunConfig, sampler: EpochSampler):
    import torch

    recipe, data = cfg.recipe, cfg.data
    if not gpu_decoding(recipe, data, cfg.accel):
        return make_loader(data.dataset, cfg.batch_per_rank, sampler, recipe.workers, cfg.accel.cuda, drop_last=True)
    from models.accel import JpegBytesDataset, collate_bytes

    ds = JpegBytesDataset(data.dataset.items, data.dataset, "train", recipe.image_size, seed=recipe.seed,
                          min_scale=recipe.min_scale)
    return torch.utils.data.DataLoader(ds, batch_size=cfg.batch_per_rank, sampler=sampler, num_workers=recipe.workers,
                                       collate_fn=collate_bytes, drop_last=True, pin_memory=True,
                                       persistent_workers=recipe.workers > 0,
                                       prefetch_factor=4 if recipe.workers else None)


def _views(batch: Sequence, accel: Accel):
    """(list of view batches, targets) from either loader."""
    if len(batch) == 4:  # encoded bytes + boxes: decode on the device
        from models.accel import decode_on_device

        datas, boxes, target, _ = batch
        return [decode_on_device(datas, boxes, accel.device)], target
    return batch[0], batch[1]


def _correct(logits, target, multi_label: bool):
    """Correct top-1 predictions (multi-label: the top class is a positive) as a float64 device scalar."""
    import torch

    top = logits.argmax(1)
    if multi_label:
        return target[torch.arange(len(top), device=top.device), top].double().sum()
    return (top == target).double().sum()
