"""Training recipes: frozen dataclasses loaded from TOML (package data in ``models/recipes/`` or a path)."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from curation.errors import CurateError


@dataclass(frozen=True)
class Recipe:
    name: str
    model: str = "resnet50"
    epochs: int = 90
    batch_size: int = 256           # total over all processes
    optimizer: str = "sgd"          # sgd | adam
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    schedule: str = "cosine"        # cosine (per step) | step (x0.1 at 1/3, 2/3) | constant
    final_lr: float = 1e-6          # cosine floor, scaled by 256/batch as the reference code
    loss: str = "ce"                # ce | bce (multi-label)
    image_size: int = 224
    min_scale: float = 0.08
    eval_resize: int = 256
    eval_crop: int = 224
    aug: str = "none"
    aug_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    workers: int = 8
    amp: bool = True                # bf16 autocast on CUDA (ignored on CPU)
    channels_last: bool = True      # NHWC memory layout (GPU; also faster for oneDNN on CPU)
    compile: bool = False           # torch.compile on CUDA
    gpu_decode: bool = False        # decode training JPEGs on the GPU (no per-image CPU augmentation)
    seed: int = 0
    checkpoint_every: int = 0       # also checkpoint every N steps (0: at the end of each epoch only)
    init_weights: str = ""          # start from these weights (the reference fine-tunes a pretrained model)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
RECIPE_FIELDS = {f.name for f in dataclasses.fields(Recipe)}


def builtin_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def _coerce(name: str, value: str) -> Any:
    default = next(f for f in dataclasses.fields(Recipe) if f.name == name).default
    if isinstance(default, bool):
        return value.lower() in ("1", "true", "yes", "on")
    for kind in (int, float):
        if isinstance(default, kind):
            return kind(value)
    return value


def load_recipe(name_or_path: str, overrides: Mapping[str, Any] | None = None) -> Recipe:
    """A built-in recipe by name or a TOML file; ``overrides`` (strings allowed) replace fields."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.is_file():
        text, name = path.read_text(encoding="utf-8"), path.stem
    elif name_or_path in builtin_recipes():
        text = (RECIPES_DIR / f"{name_or_path}.toml").read_text(encoding="utf-8")
        name = name_or_path
    else:
        raise ValueError(f"unknown recipe {name_or_path!r}; valid names: {', '.join(builtin_recipes())}, "
                         "or a path to a .toml file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CurateError(f"recipe {name_or_path}: invalid TOML: {exc}") from exc
    data.setdefault("name", name)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in RECIPE_FIELDS:
            raise CurateError(f"unknown recipe field {key!r}; fields: {', '.join(sorted(RECIPE_FIELDS))}")
        data[key] = _coerce(key, value) if isinstance(value, str) else value
    unknown = set(data) - RECIPE_FIELDS
    if unknown:
        raise CurateError(f"recipe {name_or_path}: unknown fields {sorted(unknown)}")
    recipe = Recipe(**data)
    if recipe.optimizer not in ("sgd", "adam") or recipe.schedule not in ("cosine", "step", "constant") \
            or recipe.loss not in ("ce", "bce"):
        raise CurateError(f"recipe {name_or_path}: optimizer must be sgd|adam, schedule cosine|step|constant, "
                          "loss ce|bce")
    return recipe
