"""Model factory: torchvision ResNets, SE/CBAM ResNet-50 through timm's ``attn_layer``, and any other
torchvision or timm architecture by name.

Weights come from a local file, or by name through torchvision's or timm's own loaders and caches
(``torchvision:IMAGENET1K_V1``, ``timm:goog_in21k``): a file already in the cache (``$TORCH_HOME/hub/
checkpoints``, the HuggingFace cache) is used as it is; otherwise those libraries download it, which
works only where the machine is online."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

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


def check_architecture(name: str) -> None:
    """Refuse an unknown architecture name without building anything (ValueError naming the valid ones)."""
    if name in MODELS:
        return
    import torchvision

    if name in torchvision.models.list_models():
        return
    import timm

    if not timm.is_model(name):
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}, or any torchvision "
                         "(torchvision.models.list_models()) or timm (timm.list_models()) architecture")


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
        raw = _load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise CurateError(f"{path} is not a PyTorch weights file readable with weights_only=True: {exc}") from exc
    if not isinstance(raw, dict):
        raise CurateError(f"{path} holds a {type(raw).__name__}, not a state dict or curate checkpoint; "
                          "pass the file torch.save(model.state_dict(), ...) wrote")
    return raw


def _load(path):
    """torch.load with weights_only; a released checkpoint's numpy ``best_acc1`` scalar is allowed."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - maybe a numpy scalar (best_acc1) in a released checkpoint
        with torch.serialization.safe_globals(_numpy_scalars()):
            return torch.load(path, map_location="cpu", weights_only=True)


def _numpy_scalars() -> list[Any]:
    """The numpy types a training script's ``best_acc1`` pickles as: allowed, nothing executable."""
    import numpy as np

    scalar = getattr(getattr(np, "_core", np.core), "multiarray").scalar
    return [scalar, np.dtype, *(type(np.dtype(t)) for t in ("float64", "float32", "int64"))]


def released_arch(raw: Any) -> str | None:
    """The architecture a released checkpoint names (``{'arch': 'resnet50', 'state_dict': ...}``, as
    the PyTorch ImageNet example and the ImageNet-R release save them), or None."""
    arch = raw.get("arch") if isinstance(raw, dict) else None
    return arch if isinstance(arch, str) and arch else None


@dataclass
class LoadedModel:
    model: Any
    arch: str
    num_classes: int
    classes: list[dict] | None  # [{key, name, logit_index}] for our checkpoints; None for foreign weights
    source: str


PRETRAINED_KINDS = ("torchvision", "timm")


def is_named_weights(spec: Path | str | None) -> bool:
    """Does ``spec`` name library weights (``torchvision:WEIGHTS``, ``timm:TAG``) rather than a file?"""
    return spec is not None and str(spec).partition(":")[0] in PRETRAINED_KINDS and ":" in str(spec)


def torchvision_cache_file(arch: str, tag: str) -> Path:
    """Where torchvision keeps (or will download) the ``arch`` weights ``tag``."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(_torchvision_weights(arch, tag).url).name


def _torchvision_weights(arch: str, tag: str):
    import torchvision

    try:
        return torchvision.models.get_model_weights(arch)[tag]
    except (KeyError, ValueError) as exc:
        raise CurateError(f"torchvision has no weights {tag!r} for {arch!r}; see "
                          "torchvision.models.get_model_weights(ARCH) for the names (e.g. IMAGENET1K_V1)") from exc


def load_named(arch: str, spec: str) -> LoadedModel:
    """A model with library weights: ``torchvision:IMAGENET1K_V1`` through torchvision's ``get_model``,
    ``timm:TAG`` through ``timm.create_model(ARCH.TAG, pretrained=True)``."""
    kind, _, tag = str(spec).partition(":")
    if kind == "torchvision":
        import torchvision

        weights = _torchvision_weights(arch, tag)
        cached = torchvision_cache_file(arch, tag)
        try:
            model = torchvision.models.get_model(arch, weights=weights)
        except Exception as exc:  # noqa: BLE001 - offline download, or a damaged cache file
            raise CurateError(f"could not load {spec} for {arch}: {exc}. Offline machines need the file at "
                              f"{cached} (copy it from {weights.url}), or give a local file instead") from exc
        log.info("loaded %s weights %s from %s", arch, tag, cached)
    else:
        import timm

        try:
            model = timm.create_model(f"{arch}.{tag}", pretrained=True)
        except Exception as exc:  # noqa: BLE001 - unknown tag, offline HuggingFace hub
            raise CurateError(f"could not load {spec} for {arch} through timm: {exc}. Check the tag with "
                              f"timm.list_pretrained('{arch}*'); offline machines need the weights in the "
                              "HuggingFace cache, or give a local file instead") from exc
    n = classifier_outputs(dict(model.state_dict())) or 0
    return LoadedModel(model, arch, n, None, f"{kind}:{arch}.{tag}")


def classifier(model: Any) -> Any:
    """The classification layer: timm's ``get_classifier()`` or a torchvision ``fc``."""
    if hasattr(model, "get_classifier"):
        return model.get_classifier()
    return getattr(model, "fc", None)


def adapt_head(model: Any, classes: Sequence[Any], source_classes: Sequence[dict] | None = None) -> str:
    """Fit a pretrained model's classifier to ``classes`` (objects with ``key`` and ``logit_index``).

    Rows of the pretrained head are kept where each class says which one it is (a curate checkpoint's
    class keys, else every class's ``logit_index``), re-ordered and sub-set as needed; otherwise the
    head is replaced by a freshly initialised one. Returns 'kept' or 'new'."""
    import torch

    head = classifier(model)
    if source_classes:
        position = {c["key"]: i for i, c in enumerate(source_classes)}
        rows = [position.get(c.key) for c in classes]
    else:
        rows = [c.logit_index for c in classes]
    out = getattr(head, "out_features", getattr(head, "out_channels", 0))
    if head is None or not rows or any(r is None or not 0 <= r < out for r in rows):
        reset_classifier(model, len(classes))
        return "new"
    if rows == list(range(out)):
        return "kept"
    weight, bias = head.weight.detach().clone(), None if head.bias is None else head.bias.detach().clone()
    reset_classifier(model, len(classes))
    new = classifier(model)
    with torch.no_grad():
        new.weight.copy_(weight[rows].view_as(new.weight))
        if bias is not None and new.bias is not None:
            new.bias.copy_(bias[rows])
    return "kept"


def reset_classifier(model: Any, n: int) -> None:
    """Give a model a fresh head for ``n`` classes (timm ``reset_classifier`` or a torchvision ``fc``)."""
    import torch

    if hasattr(model, "reset_classifier"):
        model.reset_classifier(n)
    elif isinstance(getattr(model, "fc", None), torch.nn.Linear):
        model.fc = torch.nn.Linear(model.fc.in_features, n)
    else:
        raise CurateError(f"cannot replace the classifier of {type(model).__name__}; use a model with a .fc head")


def load_model(arch: str | None, weights: Path | str | None = None, num_classes: int | None = None) -> LoadedModel:
    """Build ``arch`` and load ``weights``: a torchvision/timm state dict file, a curate checkpoint, or
    library weights by name (``torchvision:WEIGHTS``, ``timm:TAG``).

    Our checkpoints carry their architecture and classes; foreign weights give the class count."""
    if is_named_weights(weights):
        if not arch:
            raise CurateError(f"say which architecture {weights} is for with --model")
        return load_named(arch, str(weights))
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
    arch = arch or released_arch(raw)
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
