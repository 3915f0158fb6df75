"""Noise2Net (hendrycks/imagenet-r ``train_noise2net.py``): a random Res2Net per image, every batch.

Four Res2Net-style bottleneck blocks (3 -> 16·4 hidden -> 3 channels, scale 4, width 16) map an image
to a perturbation; the image becomes ``x <- x + eps · block(x)`` four times. Every image of the
augmented part of a batch gets its own freshly initialised weights (PyTorch's default init:
U(±1/sqrt(fan_in)) for weights and biases), all images run in one pass through ``groups=N``
convolutions (the grouped-conv trick), and each BatchNorm runs in training mode on a batch of one,
i.e. normalises every (image, channel) map by its own statistics. Kernel sizes {1, 3} and
dilations {1, 2, 3} of the 12 scale convs are drawn once per epoch (:meth:`Noise2Net.set_epoch`),
weights and ``eps ~ U(max_eps/2, max_eps)`` once per batch, all from the caller's ``torch.Generator``.

As released it acts on ImageNet-normalised tensors and does not clamp. Our batches are in [0, 1], so
the perturbation is computed in normalised space and added back in pixel units: the result is the
released one mapped back to [0, 1] (values may leave [0, 1]; ``clamp=True`` clips them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Architecture:
    """(kernel, dilation) of each scale conv, per block."""

    convs: tuple[tuple[tuple[int, int], ...], ...]


def draw_architecture(g: torch.Generator, blocks: int = 4, scale: int = 4) -> Architecture:
    ks = torch.randint(0, 2, (blocks, scale - 1), generator=g, device=g.device).tolist()
    ds = torch.randint(1, 4, (blocks, scale - 1), generator=g, device=g.device).tolist()
    return Architecture(tuple(tuple((1 + 2 * k, d) for k, d in zip(kr, dr)) for kr, dr in zip(ks, ds)))


def _uniform(g: torch.Generator, shape: tuple[int, ...], fan_in: int, dtype: torch.dtype) -> torch.Tensor:
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=g, device=g.device) * 2 - 1).mul_(bound).to(dtype)


def _gconv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, dilation: int = 1) -> torch.Tensor:
    """x (N, C, H, W), w (N, O, C, k, k): each image through its own conv, "same" padding."""
    n, c, h, wd = x.shape
    pad = (w.shape[-1] - 1) // 2 * dilation
    out = F.conv2d(x.reshape(1, n * c, h, wd), w.reshape(-1, *w.shape[2:]), None if b is None else b.reshape(-1),
                   padding=pad, dilation=dilation, groups=n)
    return out.view(n, -1, h, wd)


def _norm(x: torch.Tensor) -> torch.Tensor:
    """BatchNorm in training mode on a batch of one (gamma 1, beta 0): per image, per channel."""
    n, c, h, w = x.shape
    return F.batch_norm(x.reshape(1, n * c, h, w), None, None, training=True, eps=1e-5).view(n, c, h, w)


def block(x: torch.Tensor, convs: tuple[tuple[int, int], ...], g: torch.Generator, width: int = 16,
          scale: int = 4) -> torch.Tensor:
    """One Bottle2neck with fresh per-image weights; output normalised per image and channel."""
    n, dt = x.shape[0], x.dtype
    hidden = width * scale
    out = F.relu(_norm(_gconv(x, _uniform(g, (n, hidden, 3, 1, 1), 3, dt))))
    chunks = out.split(width, 1)
    ys, sp = [], None
    for k, (kernel, dilation) in enumerate(convs):
        sp = chunks[k] if sp is None else sp + chunks[k]
        fan = width * kernel * kernel
        w = _uniform(g, (n, width, width, kernel, kernel), fan, dt)
        b = _uniform(g, (n, width), fan, dt)
        sp = F.relu(_norm(_gconv(sp, w, b, dilation)))
        ys.append(sp)
    out = torch.cat(ys + list(chunks[len(convs):]), 1)
    return _norm(_gconv(out, _uniform(g, (n, 3, hidden, 1, 1), hidden, dt)))


class Noise2Net:
    """The batch transform: Noise2Net on the first ``fraction`` of each batch (the batch is shuffled)."""

    def __init__(self, fraction: float = 0.5, max_eps: float = 0.75, blocks: int = 4, width: int = 16,
                 scale: int = 4, clamp: bool = False, batches_per_epoch: int | None = None):
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        self.fraction, self.max_eps, self.blocks, self.width, self.scale = fraction, max_eps, blocks, width, scale
        self.clamp, self.batches_per_epoch = clamp, batches_per_epoch
        self.architecture: Architecture | None = None
        self.epoch: int | None = None
        self._calls = 0

    def set_epoch(self, epoch: int) -> None:
        """A new epoch draws a new architecture on the next batch (as the released per-epoch rebuild)."""
        if epoch != self.epoch:
            self.epoch, self.architecture = epoch, None

    def perturb(self, x: torch.Tensor, g: torch.Generator, eps: float | None = None) -> torch.Tensor:
        """All of ``x`` (N, 3, H, W) in [0, 1] through N random networks in one pass."""
        if self.architecture is None or (self.batches_per_epoch and self._calls % self.batches_per_epoch == 0):
            self.architecture = draw_architecture(g, self.blocks, self.scale)
        self._calls += 1
        if eps is None:
            eps = self.max_eps / 2 + float(torch.rand((), generator=g, device=g.device)) * self.max_eps / 2
        mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        xn = (x - mean) / std
        total = torch.zeros_like(x)
        for convs in self.architecture.convs:
            delta = eps * block(xn, convs, g, self.width, self.scale)
            xn, total = xn + delta, total + delta
        out = x + total * std
        return out.clamp(0, 1) if self.clamp else out

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        k = int(x.shape[0] * self.fraction)
        if k == 0:
            return x
        out = x.clone()
        out[:k] = self.perturb(x[:k], g)
        return out
