"""The optimiser and its learning-rate schedule, as the released training scripts define them.

Learning rates and the batch size. A recipe's ``lr`` (and ``head_lr``) is the rate for a batch of 256
images. With ``lr_scale_batch`` it is multiplied by ``batch_size / 256`` (the linear scaling rule of
Goyal et al., 2017), as AugMix's ``imagenet.py`` does (``lr * m * batch_size / 256``); the DeepAugment
scripts use ``lr`` as given (``lr_scale_batch = false``). ``batch_size`` is the total over all processes.

Schedules. Every scheduler here steps once per optimiser step, so a checkpoint taken mid-epoch holds
the exact position of the schedule.

* ``cosine``: per-step cosine from the initial rate down to a floor, the ``LambdaLR`` that the AugMix
  and DeepAugment releases build (``get_lr(step, total_steps, 1, 1e-6 / (lr * batch_size / 256))``).
  The floor is ``final_lr`` scaled by ``256 / (lr * batch_size)`` as there, whether or not ``lr`` itself
  is scaled by the batch size; with a separate head rate both groups share the same factor.
* ``step``: x0.1 at epoch ``epochs // 3`` and again at ``2 * (epochs // 3)`` (AugMix ``imagenet.py``
  ``adjust_learning_rate``), a ``MultiStepLR`` whose milestones are counted in steps.
* ``constant``: the initial rate throughout.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Callable

from models.recipe import Recipe

if TYPE_CHECKING:
    import torch


def batch_scale(recipe: Recipe) -> float:
    """The factor the recipe's learning rates are multiplied by: ``batch_size / 256`` or 1."""
    return recipe.batch_size / 256 if recipe.lr_scale_batch else 1.0


def initial_lrs(recipe: Recipe) -> tuple[float, float]:
    """(backbone, classifier) learning rates at step 0, after batch scaling."""
    scale = batch_scale(recipe)
    return recipe.lr * scale, (recipe.head_lr or recipe.lr) * scale


def cosine_floor(recipe: Recipe) -> float:
    """The cosine schedule's last factor: ``final_lr / (lr * batch_size / 256)`` as the releases write it
    (with ``lr = 0`` every rate is 0 and the floor does not matter)."""
    return recipe.final_lr / (recipe.lr * recipe.batch_size / 256) if recipe.lr else 0.0


def make_optimizer(recipe: Recipe, model: torch.nn.Module) -> torch.optim.Optimizer:
    """SGD or Adam; with ``head_lr`` the classifier is a parameter group of its own."""
    import torch

    from models.registry import classifier

    backbone_lr, head_lr = initial_lrs(recipe)
    head = classifier(model) if recipe.head_lr else None
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    groups = [{"params": [p for p in model.parameters() if id(p) not in head_ids], "lr": backbone_lr}]
    if head_ids:
        groups.append({"params": list(head.parameters()), "lr": head_lr})
    if recipe.optimizer == "adam":
        return torch.optim.Adam(groups, lr=backbone_lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(groups, lr=backbone_lr, momentum=recipe.momentum, nesterov=recipe.nesterov,
                           weight_decay=recipe.weight_decay)


def cosine_factor(total_steps: int, floor: float) -> Callable[[int], float]:
    """The releases' ``get_lr(step, total_steps, 1, floor)``: 1 at step 0, ``floor`` at ``total_steps``."""
    def factor(step: int) -> float:
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * step / max(total_steps, 1)))

    return factor


def _constant(step: int) -> float:
    return 1.0


def make_scheduler(recipe: Recipe, optimizer: torch.optim.Optimizer,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The recipe's schedule over ``epochs * steps_per_epoch`` steps; call ``step()`` after every optimiser step."""
    from torch.optim.lr_scheduler import LambdaLR, MultiStepLR

    if recipe.schedule == "cosine":
        return LambdaLR(optimizer, cosine_factor(recipe.epochs * steps_per_epoch, cosine_floor(recipe)))
    if recipe.schedule == "step":
        k = recipe.epochs // 3
        return MultiStepLR(optimizer, milestones=[k * steps_per_epoch, 2 * k * steps_per_epoch], gamma=0.1)
    return LambdaLR(optimizer, _constant)


def replay_scheduler(recipe: Recipe, optimizer: torch.optim.Optimizer, steps_per_epoch: int,
                     position: int) -> torch.optim.lr_scheduler.LRScheduler:
    """A scheduler ``position`` steps in, for a checkpoint that holds no scheduler state (one written before
    schedulers were saved): the optimiser's rates go back to the initial ones and the schedule steps forward."""
    for group, lr in zip(optimizer.param_groups, initial_lrs(recipe)):
        group["lr"] = lr
        group.pop("initial_lr", None)
    scheduler = make_scheduler(recipe, optimizer, steps_per_epoch)
    with warnings.catch_warnings():  # stepping without optimiser steps is the point here
        warnings.filterwarnings("ignore", message="Detected call of", category=UserWarning)
        for _ in range(position):
            scheduler.step()
    return scheduler
