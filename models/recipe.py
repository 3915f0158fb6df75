"""Training recipes: frozen dataclasses loaded from TOML (package data in ``models/recipes/`` or a path).

A paper-row recipe also says which row it reproduces (``paper_row``), which released script it follows
(``release``), the command that runs it (``command``) and what, if anything, differs from the release
(``differs``); ``curate recipes table`` writes the README's recipe table from these fields.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from curation.errors import CurateError

PRECISIONS = ("fp32", "bf16")
DECODES = ("full", "draft")


@dataclass(frozen=True)
class Recipe:
    name: str
    model: str = "resnet50"
    init: str = "scratch"           # scratch | torchvision:WEIGHTS (e.g. IMAGENET1K_V1) | timm:TAG | a local file
    num_classes: int = 0            # 0: the training exports' classes; N: refuse exports with another class count
    epochs: int = 90
    batch_size: int = 256           # total over all processes
    optimizer: str = "sgd"          # sgd | adam
    lr: float = 0.1
    head_lr: float = 0.0            # the classifier's learning rate (0: lr)
    lr_scale_batch: bool = False    # multiply lr (and head_lr) by batch_size / 256: models/schedule.py
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    schedule: str = "cosine"        # cosine (per step) | step (x0.1 at epochs//3, 2*(epochs//3)) | constant: schedule.py
    final_lr: float = 1e-6          # cosine floor, scaled by 256/(lr*batch) as the reference code: schedule.py
    loss: str = "ce"                # ce | bce (multi-label)
    image_size: int = 224
    min_scale: float = 0.08
    max_scale: float = 1.0          # RandomResizedCrop area scale upper bound (DFR's release: 2.0)
    eval_resize: int = 256
    eval_crop: int = 224
    eval_squash: bool = False       # evaluate on eval_resize x eval_resize images (aspect not kept), no crop
    decode: str = "full"            # full | draft (Pillow's DCT scaling, never below the size the crop needs)
    aug: str = "none"
    aug_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    workers: int = 8
    precision: str = "bf16"         # bf16 autocast on CUDA (ignored on CPU) | fp32 (the release)
    channels_last: bool = True      # NHWC memory layout (GPU; also faster for oneDNN on CPU)
    compile: bool = False           # torch.compile on CUDA
    gpu_decode: bool = False        # decode training JPEGs on the GPU (no per-image CPU augmentation)
    seed: int = 0
    checkpoint_every: int = 0       # also checkpoint every N steps (0: at the end of each epoch only)
    description: str = ""
    paper_row: str = ""             # the paper's table row this recipe reproduces
    release: str = ""               # the released script it follows
    command: str = ""               # how to run it
    differs: str = ""               # what differs from the release ("" : nothing)

    @property
    def amp(self) -> bool:
        return self.precision == "bf16"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
RECIPE_FIELDS = {f.name for f in dataclasses.fields(Recipe)}
LEGACY = {"amp": "precision", "init_weights": "init"}


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


def _legacy(data: dict) -> None:
    """Older recipe files: ``amp = true|false`` -> precision, ``init_weights = PATH`` -> init."""
    if "amp" in data:
        amp = data.pop("amp")
        amp = amp.lower() in ("1", "true", "yes", "on") if isinstance(amp, str) else bool(amp)
        data.setdefault("precision", "bf16" if amp else "fp32")
    if "init_weights" in data:
        path = data.pop("init_weights")
        if path:
            data.setdefault("init", path)


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
    _legacy(data)
    extra = {k: v for k, v in (overrides or {}).items() if v is not None}
    _legacy(extra)
    for key, value in extra.items():
        if key not in RECIPE_FIELDS:
            raise CurateError(f"unknown recipe field {key!r}; fields: {', '.join(sorted(RECIPE_FIELDS))}")
        if key == "aug_options" and isinstance(value, Mapping):  # merged per method: --aug-opt adds to the recipe's
            merged = {m: dict(o) for m, o in data.get("aug_options", {}).items()}
            for method, options in value.items():
                merged.setdefault(method, {}).update(options)
            value = merged
        data[key] = _coerce(key, value) if isinstance(value, str) else value
    if "aug" in extra:  # another augmentation: the recipe's options for methods no longer used go
        names = {n.strip() for n in str(data["aug"]).split("+")} | set(extra.get("aug_options", {}))
        data["aug_options"] = {m: o for m, o in data.get("aug_options", {}).items() if m in names}
    unknown = set(data) - RECIPE_FIELDS
    if unknown:
        raise CurateError(f"recipe {name_or_path}: unknown fields {sorted(unknown)}")
    return _validate(Recipe(**data), name_or_path)


def _validate(recipe: Recipe, where: str) -> Recipe:
    if recipe.optimizer not in ("sgd", "adam") or recipe.schedule not in ("cosine", "step", "constant") \
            or recipe.loss not in ("ce", "bce"):
        raise CurateError(f"recipe {where}: optimizer must be sgd|adam, schedule cosine|step|constant, "
                          "loss ce|bce")
    if recipe.precision not in PRECISIONS or recipe.decode not in DECODES:
        raise CurateError(f"recipe {where}: precision must be {'|'.join(PRECISIONS)} and decode "
                          f"{'|'.join(DECODES)} (got {recipe.precision!r}, {recipe.decode!r})")
    if not 0 < recipe.min_scale <= recipe.max_scale:
        raise CurateError(f"recipe {where}: need 0 < min_scale <= max_scale (got {recipe.min_scale}, "
                          f"{recipe.max_scale})")
    kind, sep, _ = recipe.init.partition(":")
    if sep and kind not in ("torchvision", "timm") and len(kind) > 1:  # 'C:\\...' is a Windows path
        raise CurateError(f"recipe {where}: init must be scratch, torchvision:WEIGHTS, timm:TAG or a file path "
                          f"(got {recipe.init!r})")
    return recipe
