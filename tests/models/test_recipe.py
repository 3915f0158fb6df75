"""Recipes: built-ins load, overrides coerce, errors name what is valid."""

from __future__ import annotations

import pytest

from curation.errors import CurateError
from models.recipe import builtin_recipes, load_recipe


def test_builtin_recipes_load():
    names = builtin_recipes()
    assert {"imagenet200", "svsf", "dfr", "tiny-cpu", "tiny-dfr-cpu"} <= set(names)
    for name in names:
        assert load_recipe(name).name == name
    dfr = load_recipe("dfr")
    assert dfr.loss == "bce" and dfr.optimizer == "adam"
    in200 = load_recipe("imagenet200")
    assert (in200.optimizer, in200.nesterov, in200.schedule, in200.momentum) == ("sgd", True, "cosine", 0.9)


def test_overrides_files_and_errors(tmp_path):
    r = load_recipe("tiny-cpu", {"epochs": "7", "nesterov": "false", "lr": "0.5", "aug": "augmix"})
    assert (r.epochs, r.nesterov, r.lr, r.aug) == (7, False, 0.5, "augmix")
    path = tmp_path / "mine.toml"
    path.write_text('model = "resnet101"\nepochs = 2\n[aug_options.augmix]\nseverity = 3\n')
    mine = load_recipe(str(path))
    assert mine.name == "mine" and mine.model == "resnet101" and mine.aug_options == {"augmix": {"severity": 3}}
    with pytest.raises(ValueError, match="valid names: .*imagenet200"):
        load_recipe("imagenet2000")
    with pytest.raises(CurateError, match="unknown recipe field"):
        load_recipe("tiny-cpu", {"epochz": 3})
    with pytest.raises(CurateError, match="sgd|adam"):
        load_recipe("tiny-cpu", {"optimizer": "lion"})

