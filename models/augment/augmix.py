"""AugMix (Hendrycks et al.) with the paper's operation set and the Jensen-Shannon consistency loss.

Follows google-research/augmix: each op's level is U(0.1, severity), ``width`` chains of ``depth``
ops (1-3 when depth is -1) mixed with Dirichlet weights, then blended with the original by a
Beta(alpha, alpha) weight. Brightness, contrast, color and sharpness are left out by default
(they overlap ImageNet-C); ``all_ops=True`` adds them. Mixing is done in float [0, 1] space;
since the weights sum to one this equals the reference's mixing after Normalize.
Affine ops fill with black by default, as google-research/augmix's ``augmentations.py`` (no fillcolor);
``fill=128`` gives the grey of the maintainer's ImageNet code and of DeepFashion Remixed's AugMix.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from models.augment.base import Augmentation

PAPER_OPS = ("autocontrast", "equalize", "posterize", "rotate", "solarize", "shear_x", "shear_y",
             "translate_x", "translate_y")
EXTRA_OPS = ("color", "contrast", "brightness", "sharpness")


def _int(level: float, maxval: float) -> int:
    return int(level * maxval / 10)


def _float(level: float, maxval: float) -> float:
    return float(level) * maxval / 10.0


def _sign(rng: np.random.Generator, value: float) -> float:
    return -value if rng.uniform() > 0.5 else value


def apply_op(name: str, img: Any, level: float, rng: np.random.Generator, fill: int) -> Any:
    """One AugMix operation at ``level`` (0.1..severity) on a PIL image."""
    from PIL import Image, ImageEnhance, ImageOps

    size = img.size
    affine = dict(resample=Image.BILINEAR, fillcolor=(fill, fill, fill))
    if name == "autocontrast":
        return ImageOps.autocontrast(img)
    if name == "equalize":
        return ImageOps.equalize(img)
    if name == "posterize":
        return ImageOps.posterize(img, 4 - _int(level, 4))
    if name == "rotate":
        return img.rotate(_sign(rng, _int(level, 30)), resample=Image.BILINEAR, fillcolor=(fill, fill, fill))
    if name == "solarize":
        return ImageOps.solarize(img, 256 - _int(level, 256))
    if name == "shear_x":
        return img.transform(size, Image.AFFINE, (1, _sign(rng, _float(level, 0.3)), 0, 0, 1, 0), **affine)
    if name == "shear_y":
        return img.transform(size, Image.AFFINE, (1, 0, 0, _sign(rng, _float(level, 0.3)), 1, 0), **affine)
    if name == "translate_x":
        return img.transform(size, Image.AFFINE, (1, 0, _sign(rng, _int(level, size[0] / 3)), 0, 1, 0), **affine)
    if name == "translate_y":
        return img.transform(size, Image.AFFINE, (1, 0, 0, 0, 1, _sign(rng, _int(level, size[1] / 3))), **affine)
    enhancer = {"color": ImageEnhance.Color, "contrast": ImageEnhance.Contrast,
                "brightness": ImageEnhance.Brightness, "sharpness": ImageEnhance.Sharpness}[name]
    return enhancer(img).enhance(_float(level, 1.8) + 0.1)


def _as_float(img: Any) -> np.ndarray:
    return np.asarray(img, dtype=np.float32) / 255.0


def augment_and_mix(img: Any, rng: np.random.Generator, severity: float = 1, width: int = 3, depth: int = -1,
                    alpha: float = 1.0, ops: tuple[str, ...] = PAPER_OPS, fill: int = 0) -> np.ndarray:
    """One AugMix image as float HWC in [0, 1]."""
    ws = rng.dirichlet([alpha] * width).astype(np.float32)
    m = np.float32(rng.beta(alpha, alpha))
    mix = np.zeros((img.size[1], img.size[0], 3), dtype=np.float32)
    for i in range(width):
        chain = img
        for _ in range(depth if depth > 0 else int(rng.integers(1, 4))):
            chain = apply_op(ops[int(rng.integers(len(ops)))], chain, rng.uniform(0.1, severity), rng, fill)
        mix += ws[i] * _as_float(chain)
    return (1 - m) * _as_float(img) + m * mix


def augmix(severity: float = 1, width: int = 3, depth: int = -1, alpha: float = 1.0, all_ops: bool = False,
           jsd: bool = True, jsd_weight: float = 12.0, fill: int = 0) -> Augmentation:
    """AugMix; with ``jsd`` the loader returns (clean, augmix, augmix) and the loss adds
    ``jsd_weight`` times the Jensen-Shannon divergence."""
    if not 0 < severity <= 10:
        raise ValueError(f"augmix severity must be in (0, 10], got {severity}")
    ops = PAPER_OPS + (EXTRA_OPS if all_ops else ())

    def transform(img: Any, rng: np.random.Generator):
        import torch

        out = augment_and_mix(img, rng, severity, width, depth, alpha, ops, fill)
        return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))

    return Augmentation("augmix", image_transform=transform, views=3 if jsd else 1,
                        jsd_weight=jsd_weight if jsd else 0.0,
                        options={"severity": severity, "width": width, "depth": depth, "alpha": alpha,
                                 "all_ops": all_ops, "jsd": jsd, "jsd_weight": jsd_weight, "fill": fill})


def jsd_loss(logits: Any, target: Any, n_views: int = 3, weight: float = 12.0,
             base_loss: Callable[[Any, Any], Any] | None = None):
    """CE on the clean third of a split-major batch [clean; aug1; aug2] plus ``weight`` times the
    Jensen-Shannon divergence between the three predictive distributions (reference formula:
    mixture clamped to [1e-7, 1], KL with batchmean, averaged over views)."""
    import torch.nn.functional as F

    chunks = logits.chunk(n_views)
    loss = (base_loss or F.cross_entropy)(chunks[0], target)
    log_probs = [F.log_softmax(c.float(), dim=1) for c in chunks]
    probs = [lp.exp() for lp in log_probs]
    log_mixture = (sum(probs) / n_views).clamp(1e-7, 1).log()
    # KL(p || M) = sum p (log p - log M), with log p from log_softmax: the value of F.kl_div(log M, p,
    # 'batchmean') but with a finite gradient where a probability underflows to 0 (F.kl_div gives NaN there)
    js = sum((p * (lp - log_mixture)).sum(1).mean() for p, lp in zip(probs, log_probs)) / n_views
    return loss + weight * js
