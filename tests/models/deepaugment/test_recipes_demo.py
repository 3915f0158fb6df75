"""The paper-row recipes load with the training schema and name methods the registry knows."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("name,aug", [("deepaugment", "none"), ("noise2net", "noise2net"),
                                      ("deepaugment-noise2net", "noise2net"), ("deepaugment-augmix", "augmix")])
def test_recipes(name, aug):
    from models.augment.registry import build_augmentations
    from models.recipe import load_recipe

    recipe = load_recipe(name)
    assert recipe.aug == aug and recipe.model == "resnet50" and recipe.epochs == 30
    augs = build_augmentations(recipe.aug, recipe.aug_options)
    if aug == "noise2net":
        assert augs[0].batch_transform.fraction == 0.5 and augs[0].batch_transform.max_eps == 0.75
        assert recipe.nesterov and recipe.schedule == "cosine" and recipe.batch_size == 1024


def test_registry_names_reach_our_factories(edsr_weights):
    from models.augment.registry import build_augmentations

    online = build_augmentations("deepaugment-online", {"deepaugment-online": {"edsr_weights": str(edsr_weights)}})
    assert online[0].name == "deepaugment-online" and online[0].batch_transform.methods == ("edsr",)
