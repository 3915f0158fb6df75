"""Learning-rate schedules: the scheduler's rate at every step against the released scripts' formulas,
written out here, and a schedule that continues exactly after a checkpoint (saved or recomputed)."""

from __future__ import annotations

import io
import math

import pytest
import torch

from models.recipe import load_recipe
from models.registry import create_model
from models.schedule import make_optimizer, make_scheduler, replay_scheduler


def _release_cosine(recipe, step: int, total: int) -> list[float]:
    """DeepAugment train.py / AugMix: LambdaLR(lambda step: get_lr(step, total_steps, 1, 1e-6 / (lr * b / 256)))
    with get_lr(step, total, lr_max, lr_min) = lr_min + (lr_max - lr_min) * 0.5 * (1 + cos(step / total * pi)),
    times each group's rate (lr, scaled by batch/256 where the recipe says so)."""
    lr_min = recipe.final_lr / (recipe.lr * recipe.batch_size / 256.0)
    factor = lr_min + (1 - lr_min) * 0.5 * (1 + math.cos(step / total * math.pi))
    scale = recipe.batch_size / 256.0 if recipe.lr_scale_batch else 1.0
    return [lr * scale * factor for lr in _group_lrs(recipe)]


def _release_step(recipe, epoch: int) -> list[float]:
    """AugMix imagenet.py adjust_learning_rate: b = batch_size / 256; k = epochs // 3;
    m = 1 if epoch < k else 0.1 if epoch < 2k else 0.01; lr = learning_rate * m * b."""
    b = recipe.batch_size / 256.0 if recipe.lr_scale_batch else 1.0
    k = recipe.epochs // 3
    m = 1.0 if epoch < k else 0.1 if epoch < 2 * k else 0.01
    return [lr * m * b for lr in _group_lrs(recipe)]


def _group_lrs(recipe) -> list[float]:
    return [recipe.lr, recipe.head_lr] if recipe.head_lr else [recipe.lr]


def _setup(recipe, steps_per_epoch: int):
    model = create_model("test_resnet", 3)
    optimizer = make_optimizer(recipe, model)
    return optimizer, make_scheduler(recipe, optimizer, steps_per_epoch)


def _take(optimizer, scheduler, n: int) -> list[list[float]]:
    """The rates of the next ``n`` optimiser steps, stepping as the training loop does."""
    seen = []
    for _ in range(n):
        seen.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()  # no gradients: changes nothing, but the scheduler expects it first
        scheduler.step()
    return seen


def _rates(recipe, steps_per_epoch: int) -> list[list[float]]:
    return _take(*_setup(recipe, steps_per_epoch), recipe.epochs * steps_per_epoch)


@pytest.mark.parametrize("name, overrides", [
    ("deepaugment", {"epochs": 4}),                                   # batch 1024, lr 0.1 not scaled
    ("imagenet200", {"epochs": 3}),
    ("tiny-cpu", {"epochs": 5, "final_lr": 1e-4}),
    ("imagenet200", {"epochs": 2, "lr_scale_batch": True, "batch_size": 512, "lr": 0.3}),
    ("imagenet200", {"epochs": 2, "head_lr": 0.5, "batch_size": 128}),  # two groups, one factor
])
def test_cosine_matches_the_release_at_every_step(name, overrides):
    recipe = load_recipe(name, overrides)
    spe = 7
    total = recipe.epochs * spe
    got = _rates(recipe, spe)
    assert len(got) == total
    for step, rates in enumerate(got):
        assert rates == pytest.approx(_release_cosine(recipe, step, total), rel=1e-12, abs=0), step
    assert got[0] == pytest.approx([lr * (recipe.batch_size / 256 if recipe.lr_scale_batch else 1)
                                    for lr in _group_lrs(recipe)], rel=1e-15)


@pytest.mark.parametrize("epochs, batch_size, lr", [(11, 512, 0.1), (90, 256, 0.1), (9, 1024, 0.3), (2, 256, 0.1),
                                                     (6, 64, 0.7)])
def test_step_schedule_matches_augmix_imagenet_py_at_every_step(epochs, batch_size, lr):
    recipe = load_recipe("augmix", {"epochs": epochs, "batch_size": batch_size, "lr": lr})
    spe = 3
    got = _rates(recipe, spe)
    for step, rates in enumerate(got):
        assert rates == pytest.approx(_release_step(recipe, step // spe), rel=1e-12, abs=0), step


def test_constant_schedule_keeps_both_groups_rates():
    recipe = load_recipe("dfr", {"epochs": 3})  # Adam, backbone 1e-5, head 1e-4, no scaling
    assert _rates(recipe, 4) == [[1e-5, 1e-4]] * 12


@pytest.mark.parametrize("name, overrides", [("tiny-cpu", {"epochs": 3}), ("augmix", {"epochs": 6}),
                                             ("dfr", {"epochs": 3})])
def test_schedule_continues_exactly_from_a_checkpoint(name, overrides):
    recipe, spe, cut = load_recipe(name, overrides), 5, 11  # cut: mid-epoch, past the step schedule's first drop
    optimizer, scheduler = _setup(recipe, spe)
    whole = _take(optimizer, scheduler, recipe.epochs * spe)
    optimizer, scheduler = _setup(recipe, spe)
    first = _take(optimizer, scheduler, cut)
    buf = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "lr_scheduler": scheduler.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)  # as runs.load_checkpoint reads it
    optimizer, scheduler = _setup(recipe, spe)  # a fresh process: built at step 0, then restored
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["lr_scheduler"])
    assert first + _take(optimizer, scheduler, len(whole) - cut) == whole
    # a checkpoint without scheduler state (written before schedulers were saved): recomputed from the step
    optimizer, _ = _setup(recipe, spe)
    for group in optimizer.param_groups:  # what the old loop left there: its own key, the last step's rate
        group["base_lr"], group["lr"] = group.pop("initial_lr"), 123.0
    scheduler = replay_scheduler(recipe, optimizer, spe, cut)
    assert _take(optimizer, scheduler, len(whole) - cut) == whole[cut:]
