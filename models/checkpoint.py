"""What a training checkpoint holds, and how a run is saved and restored from one.

A checkpoint (``checkpoint.pt`` in the run folder, format ``curate-checkpoint``) carries:

* ``config`` (the run's ``config.json``: recipe, data manifests, classes, augmentations, world size,
  start, code revision), and for readers that need only them ``classes``, ``manifests``, ``code_revision``;
* ``model`` (the unwrapped model's state dict), ``optimizer``, ``lr_scheduler`` (absent in checkpoints
  written before schedulers were saved: the position is then recomputed from the step);
* ``rng``: the global torch (and CUDA) RNG and the batch-transform generator;
* ``epoch``, ``step`` (steps done in that epoch; 0 at an epoch's end), ``history`` (one metrics row per
  finished epoch) and, mid-epoch, ``partial``: the epoch's running (loss x n, correct, n) sums.

Restoring all of it makes a killed run continue to the same weights as one never interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curation.errors import CurateError
from models import runs

if TYPE_CHECKING:
    import torch

    from models.accel import Accel

FORMAT = "curate-checkpoint"
SAME_RUN_KEYS = ("recipe", "data", "classes", "aug", "world_size")


@dataclass
class TrainState:
    """What changes as a run trains; everything here goes into the checkpoint."""

    model: torch.nn.Module  # DDP-wrapped under torchrun
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator  # batch transforms' draws (e.g. Noise2Net)
    epoch: int = 0  # the epoch in progress (0-based)
    step: int = 0  # steps done in that epoch
    history: list[dict] = field(default_factory=list)
    partial: torch.Tensor | None = None  # running sums of a resumed epoch
    steps_done: int = 0  # steps this process took (not saved)

    def position(self, steps_per_epoch: int) -> int:
        """Optimiser steps since the run began."""
        return self.epoch * steps_per_epoch + self.step


def unwrap(model: Any) -> Any:
    """The plain module inside DDP and ``torch.compile`` wrappers."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def check_same_run(old: dict, config: dict, run_dir: Path) -> None:
    """Refuse to resume a run folder that holds another run."""
    diff = [k for k in SAME_RUN_KEYS if old.get(k) != config.get(k)]
    if diff:
        raise CurateError(f"{run_dir} holds a run with a different {', '.join(diff)}; resume it with the same "
                          "arguments or choose a new --out folder")


def _rng_states(state: TrainState, accel: Accel) -> dict:
    import torch

    rng = {"torch": torch.get_rng_state(), "generator": state.generator.get_state().cpu()}
    if accel.cuda:
        rng["cuda"] = torch.cuda.get_rng_state(accel.device)
    return rng


def save(run_dir: Path, state: TrainState, config: dict, accel: Accel, partial: torch.Tensor | None = None) -> None:
    """Write the checkpoint (atomically) and rewrite metrics.jsonl from the history; call on rank 0 only."""
    ckpt = {"format": FORMAT, "config": config, "classes": config["classes"], "manifests": config["data"],
            "code_revision": config["code_revision"], "model": unwrap(state.model).state_dict(),
            "optimizer": state.optimizer.state_dict(), "lr_scheduler": state.scheduler.state_dict(),
            "rng": _rng_states(state, accel), "epoch": state.epoch, "step": state.step, "history": state.history}
    if partial is not None:
        ckpt["partial"] = partial
    runs.save_checkpoint(run_dir, ckpt)
    runs.rewrite_metrics(run_dir, state.history)


def restore(state: TrainState, ckpt: dict, accel: Accel) -> bool:
    """Load weights, optimiser, RNG states and position into ``state``; False when the checkpoint holds no
    scheduler state (the caller recomputes it from the position)."""
    import torch

    unwrap(state.model).load_state_dict(ckpt["model"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    state.generator.set_state(ckpt["rng"]["generator"])
    if accel.cuda and "cuda" in ckpt["rng"]:
        torch.cuda.set_rng_state(ckpt["rng"]["cuda"], accel.device)
    state.epoch, state.step, state.history = ckpt["epoch"], ckpt["step"], list(ckpt["history"])
    state.partial = ckpt.get("partial")
    if "lr_scheduler" not in ckpt:
        return False
    state.scheduler.load_state_dict(ckpt["lr_scheduler"])
    return True
