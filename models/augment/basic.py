"""Simple baselines: Speckle noise and Random Erasing, on PIL images with the sample's generator."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from models.augment.base import Augmentation

# ImageNet-C speckle_noise scales per severity (hendrycks/robustness).
SPECKLE_SCALES = (0.15, 0.2, 0.35, 0.45, 0.6)
IMAGENET_MEAN = (0.485, 0.456, 0.406)


def speckle(severity: int | str = "random", p: float = 1.0) -> Augmentation:
    """Speckle noise x + x*N(0, c): c from ImageNet-C's speckle scales, at a fixed severity 1-5 or a
    severity drawn per image ('random')."""
    if severity != "random" and int(severity) not in range(1, 6):
        raise ValueError(f"speckle severity must be 1-5 or 'random', got {severity!r}")

    def transform(img: Any, rng: np.random.Generator):
        from PIL import Image

        if rng.random() >= p:
            return img
        level = int(rng.integers(1, 6)) if severity == "random" else int(severity)
        x = np.asarray(img, dtype=np.float32) / 255.0
        x = np.clip(x + x * rng.normal(0.0, SPECKLE_SCALES[level - 1], x.shape), 0, 1)
        return Image.fromarray((x * 255).round().astype(np.uint8))

    return Augmentation("speckle", image_transform=transform, options={"severity": severity, "p": p})


def random_erasing(p: float = 0.5, scale: tuple[float, float] = (0.02, 0.33), ratio: tuple[float, float] = (0.3, 3.3),
                   value: str = "mean") -> Augmentation:
    """Random Erasing (Zhong et al.) with torchvision's defaults. ``value='mean'`` fills with the
    ImageNet mean colour, i.e. torchvision's value=0 after normalisation; 'random' fills with
    per-pixel normal noise in normalised space."""
    if value not in ("mean", "random"):
        raise ValueError(f"random-erasing value must be 'mean' or 'random', got {value!r}")

    def transform(img: Any, rng: np.random.Generator):
        from PIL import Image

        if rng.random() >= p:
            return img
        x = np.array(img, dtype=np.uint8)
        h, w = x.shape[:2]
        for _ in range(10):
            area = h * w * rng.uniform(*scale)
            aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
            eh, ew = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if eh < h and ew < w:
                top, left = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
                if value == "mean":
                    fill = np.array(IMAGENET_MEAN) * 255
                else:
                    fill = (np.array(IMAGENET_MEAN) + np.array((0.229, 0.224, 0.225)) * rng.normal(size=(eh, ew, 3))) * 255
                x[top:top + eh, left:left + ew] = np.clip(fill, 0, 255).round().astype(np.uint8)
                break
        return Image.fromarray(x)

    return Augmentation("random-erasing", image_transform=transform,
                        options={"p": p, "scale": list(scale), "ratio": list(ratio), "value": value})
