"""Named augmentation methods: a dict from name to factory ``(**options) -> Augmentation``.

Names combine with ``+`` (``noise2net+augmix``); the training code applies their transforms in that
order. DeepAugment's entries live in ``models.deepaugment.augment`` and are imported only when asked.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

from models.augment.base import Augmentation


def _lazy(target: str) -> Callable[..., Augmentation]:
    module_name, attr = target.split(":")

    def factory(**options: Any) -> Augmentation:
        return getattr(importlib.import_module(module_name), attr)(**options)

    factory.__doc__ = f"Imported on use from {target}."
    return factory


def _none(**options: Any) -> Augmentation:
    if options:
        raise ValueError(f"augmentation 'none' takes no options, got {sorted(options)}")
    return Augmentation("none")


def _speckle(**options: Any) -> Augmentation:
    from models.augment.basic import speckle

    return speckle(**options)


def _random_erasing(**options: Any) -> Augmentation:
    from models.augment.basic import random_erasing

    return random_erasing(**options)


def _augmix(**options: Any) -> Augmentation:
    from models.augment.augmix import augmix

    return augmix(**options)


def _style_transfer(**options: Any) -> Augmentation:
    from models.augment.style import style_transfer

    return style_transfer(**options)


AUGMENTATIONS: dict[str, Callable[..., Augmentation]] = {
    "none": _none,
    "speckle": _speckle,
    "random-erasing": _random_erasing,
    "augmix": _augmix,
    "style-transfer": _style_transfer,
    "noise2net": _lazy("models.deepaugment.augment:noise2net"),
    "deepaugment-online": _lazy("models.deepaugment.augment:deepaugment_online"),
}


def split_names(spec: str) -> list[str]:
    """``'noise2net+augmix'`` -> ['noise2net', 'augmix']; unknown names raise ValueError listing valid ones."""
    names = [n.strip() for n in (spec or "none").split("+") if n.strip()]
    for name in names:
        if name not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {name!r}; valid names: {', '.join(sorted(AUGMENTATIONS))} "
                             "(combine with '+', e.g. noise2net+augmix)")
    return names or ["none"]


def build_augmentations(spec: str, options: Mapping[str, Mapping[str, Any]] | None = None) -> list[Augmentation]:
    """Build every method named in ``spec``; ``options[name]`` holds that method's keyword options."""
    options = options or {}
    names = split_names(spec)
    stray = set(options) - set(names)
    if stray:
        raise ValueError(f"options given for {sorted(stray)}, which are not in {spec!r}")
    augs = [AUGMENTATIONS[name](**dict(options.get(name, {}))) for name in names]
    if sum(a.views > 1 for a in augs) > 1:
        raise ValueError(f"{spec!r}: at most one method may ask for several views (e.g. augmix)")
    return augs
