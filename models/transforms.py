"""Per-sample transforms on PIL images with the sample's own ``numpy.random.Generator``.

torchvision's random transforms draw from the global torch RNG; these draw from the generator the
dataset passes in, so a sample's augmentation is a pure function of (seed, epoch, index).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np


def random_resized_crop_box(width: int, height: int, rng: np.random.Generator, scale=(0.08, 1.0),
                            ratio=(3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop box (left, top, w, h), drawn from ``rng``."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def center_crop_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    return int(round((width - size) / 2)), int(round((height - size) / 2)), size, size


def resize_shorter(width: int, height: int, size: int) -> tuple[int, int]:
    """torchvision Resize(int): the shorter side becomes ``size``, aspect kept."""
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


class TrainTransform:
    """RandomResizedCrop + horizontal flip, then the augmentations' image transforms; returns ``views``
    outputs: view 0 is the clean crop when an augmentation asks for several views (AugMix + JSD).

    With ``draft`` the image may come opened but undecoded: the crop box is drawn from the full size (the
    same box a full decode gets), then a JPEG decodes with Pillow's DCT scaling only as far down as keeps
    the box's shorter side at or above ``size``, so the crop is never upsampled from a reduced decode."""

    def __init__(self, size: int, image_transforms: Sequence[Callable[[Any, np.random.Generator], Any]] = (),
                 views: int = 1, scale=(0.08, 1.0), draft: bool = False):
        self.size, self.image_transforms, self.views, self.scale = size, list(image_transforms), views, scale
        self.draft = draft

    def __call__(self, img, rng: np.random.Generator):
        from PIL import Image

        left, top, w, h = random_resized_crop_box(img.width, img.height, rng, self.scale)
        if self.draft and img.format == "JPEG":
            left, top, w, h = draft_for_box(img, (left, top, w, h), self.size)
        if img.mode != "RGB":
            img = img.convert("RGB")
        img = img.resize((self.size, self.size), Image.BILINEAR, box=(left, top, left + w, top + h))
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        if self.views == 1:
            return self._augment(img, rng)
        return (img,) + tuple(self._augment(img, rng) for _ in range(self.views - 1))

    def _augment(self, img, rng):
        for fn in self.image_transforms:
            img = fn(img, rng)
        return img


def draft_for_box(img, box: tuple[int, int, int, int], size: int) -> tuple[float, float, float, float]:
    """Ask the JPEG decoder for the smallest DCT scale at which ``box`` still spans ``size`` pixels on its
    shorter side; returns the box in the decoded image's coordinates."""
    width, height = img.size
    left, top, w, h = box
    need = size / min(w, h)
    if need >= 1:
        return box
    img.draft("RGB", (math.ceil(width * need), math.ceil(height * need)))
    sx, sy = img.width / width, img.height / height
    return left * sx, top * sy, w * sx, h * sy


class EvalTransform:
    """Resize (shorter side) + CenterCrop, as the reference evaluation; ``resize=0`` keeps the stored
    size (ImageNet-C style sets), ``crop=0`` skips the crop; ``squash`` resizes to resize x resize
    (aspect not kept, DFR's ``Scale((256, 256))``)."""

    def __init__(self, resize: int, crop: int, squash: bool = False):
        self.resize, self.crop, self.squash = resize, crop, squash

    def __call__(self, img, rng: np.random.Generator | None = None):
        from PIL import Image

        if self.resize and self.squash:
            img = img.resize((self.resize, self.resize), Image.BILINEAR)
        elif self.resize:
            img = img.resize(resize_shorter(img.width, img.height, self.resize), Image.BILINEAR)
        if self.crop and (img.width, img.height) != (self.crop, self.crop):
            left, top, w, h = center_crop_box(img.width, img.height, self.crop)
            img = img.crop((left, top, left + w, top + h))
        return img
