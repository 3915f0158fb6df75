"""Model factory: torchvision ResNets, SE/CBAM ResNet-50 through timm's ``attn_layer``, and any other
torchvision or timm architecture by name. Weights load only from local files; nothing is downloaded."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from curation.errors import CurateError

log = logging.getLogger(__name__)


def _torchvision(name: str) -> Callable[[int], Any]:
    def build(num_classes: int):
        import torchvision

        return torchvision.models.get_model(name, weights=None, num_classes=num_classes)

    return build


def _timm_attn(base: str, attn: str) -> Callable[[int], Any]:
    def build(num_classes: int):
        import timm

        return timm.create_model(base, pretrained=False, num_classes=num_classes, block_args={"attn_layer": attn})

    return build


MODELS: dict[str, Callable[[int], Any]] = {
    "resnet18": _torchvision("resnet18"),
    "resnet50": _torchvision("resnet50"),
    "resnet101": _torchvision("resnet101"),
    "resnet152": _torchvision("resnet152"),
    "se-resnet50": _timm_attn("resnet50", "se"),
    "cbam-resnet50": _timm_attn("resnet50", "cbam"),
}


def create_model(name: str, num_classes: int):
    """A randomly initialised model; names outside MODELS are looked up in torchvision, then timm."""
    if name in MODELS:
        return MODELS[name](num_classes)
    import torchvision

    if name in torchvision.models.list_models():
        return _torchvision(name)(num_classes)
    import timm

    if timm.is_model(name):
        return timm.create_model(name, pretrained=False, num_classes=num_classes)
    raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}, or any torchvision "
                     "(torchvision.models.list_models()) or timm (timm.list_models()) architecture")


def clean_state_dict(state: dict) -> dict:
    """Unwrap {'state_dict'|'model': ...} and strip DDP's 'module.' and torch.compile's '_orig_mod.'."""
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(state.get(key), dict):
            state = state[key]
            break
    out = {}
    for k, v in state.items():
        for prefix in ("module.", "_orig_mod."):
            while k.startswith(prefix):
                k = k[len(prefix):]
        out[k] = v
    return out


def classifier_outputs(state: dict) -> int | None:
    """Output count of the classifier: the first dim of the last 2-D '.weight' tensor."""
    import torch

    shapes = [v.shape for k, v in state.items() if k.endswith("weight") and isinstance(v, torch.Tensor) and v.dim() == 2]
    return int(shapes[-1][0]) if shapes else None


def read_weights(path: Path | str) -> dict:
    """Load a weights file from disk (never downloads)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CurateError(f"weights file {path} is not on disk; nothing is downloaded here. Copy the "
                          "torchvision/timm state dict (or a curate checkpoint) to that path first")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise CurateError(f"{path} is not a PyTorch weights file readable with weights_only=True: {exc}") from exc
    if not isinstance(raw, dict):
        raise CurateError(f"{path} holds a {type(raw).__name__}, not a state dict or curate checkpoint; "
                          "pass the file torch.save(model.state_dict(), ...) wrote")
    return raw


@dataclass
class LoadedModel:
    model: Any
    arch: str
    num_classes: int
    classes: list[dict] | None  # [{key, name, logit_index}] for our checkpoints; None for foreign weights
    source: str


def load_model(arch: str | None, weights: Path | str | None = None, num_classes: int | None = None) -> LoadedModel:
    """Build ``arch`` and load ``weights`` (torchvision/timm state dict or a curate checkpoint).

    Our checkpoints carry their architecture and classes; foreign weights give the class count."""
    if weights is None:
        if not arch or not num_classes:
            raise CurateError("give --weights PATH or --checkpoint RUN (a random model has nothing to evaluate)")
        return LoadedModel(create_model(arch, num_classes), arch, num_classes, None, "random-init")
    raw = read_weights(weights)
    ours = isinstance(raw, dict) and raw.get("format") == "curate-checkpoint"
    state = clean_state_dict(raw)
    if ours:
        stored = raw["config"]["recipe"]["model"]
        arch = arch or stored
        if arch != stored:
            raise CurateError(f"{weights} holds a {stored} model, not {arch}")
    if not arch:
        raise CurateError(f"{weights} is not a curate checkpoint; say which architecture it is with --model")
    n = classifier_outputs(state) or num_classes or 1000
    model = create_model(arch, n)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise CurateError(f"{weights} does not fit {arch} (tensor shapes differ); check --model") from exc
    if missing or unexpected:
        raise CurateError(f"{weights} does not fit {arch}: missing {list(missing)[:3]}, unexpected "
                          f"{list(unexpected)[:3]}; check --model")
    return LoadedModel(model, arch, n, raw.get("classes") if ours else None, str(weights))
