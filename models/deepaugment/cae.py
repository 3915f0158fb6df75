"""The convolutional autoencoder ``cae_32x32x32_zero_pad_bin`` (alexandru-dinu/cae), published names.

Encoder to a 32-channel tanh latent at 1/4 resolution, stochastic binarisation, decoder back to the
input size (H, W multiples of 4). Parameter names match ``model_final.state``: ``e_conv_1.1``,
``e_conv_2.1``, ``e_block_{1,2,3}.{1,4}``, ``e_conv_3.0``, ``d_up_conv_1.{0,3}``, ``d_block_{1,2,3}.{1,4}``,
``d_up_conv_2.{0,3}``, ``d_up_conv_3.{0,3}``. :meth:`CAE.forward` is the one-image reference path of
``CAE_distort_imagenet.py`` (a latent ``FeatureOp`` carries the distortion and the binarisation noise).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _block() -> nn.Sequential:
    return nn.Sequential(nn.ZeroPad2d(1), nn.Conv2d(128, 128, 3), nn.LeakyReLU(),
                         nn.ZeroPad2d(1), nn.Conv2d(128, 128, 3))


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(cin, cout, 5, stride=2), nn.LeakyReLU())


def _up(cin: int, mid: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, mid, 3), nn.LeakyReLU(), nn.ZeroPad2d(1),
                         nn.ConvTranspose2d(mid, cout, 2, stride=2))


class CAE(nn.Module):
    """Images in [0, 1] (not rescaled, as released) -> reconstruction in [-1, 1] (tanh)."""

    LATENT = 32

    def __init__(self) -> None:
        super().__init__()
        self.e_conv_1 = _down(3, 64)
        self.e_conv_2 = _down(64, 128)
        self.e_block_1, self.e_block_2, self.e_block_3 = _block(), _block(), _block()
        self.e_conv_3 = nn.Sequential(nn.Conv2d(128, 32, 5, padding=2), nn.Tanh())
        self.d_up_conv_1 = _up(32, 64, 128)
        self.d_block_1, self.d_block_2, self.d_block_3 = _block(), _block(), _block()
        self.d_up_conv_2 = _up(128, 32, 256)
        self.d_up_conv_3 = nn.Sequential(nn.Conv2d(256, 16, 3), nn.LeakyReLU(), nn.ReflectionPad2d(2),
                                         nn.Conv2d(16, 3, 3), nn.Tanh())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        x = self.e_conv_2(self.e_conv_1(x))
        for block in (self.e_block_1, self.e_block_2, self.e_block_3):
            x = block(x) + x
        return self.e_conv_3(x)

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        x = self.d_up_conv_1(y)
        for block in (self.d_block_1, self.d_block_2, self.d_block_3):
            x = block(x) + x
        return self.d_up_conv_3(self.d_up_conv_2(x))

    def forward(self, x: torch.Tensor, op: Any = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``op``: a latent FeatureOp (with its noise); else ``noise`` U[0,1) of the latent's shape."""
        z = self.encode(x)
        if op is not None:
            z = op.apply(z)
            noise = op.noise
        encoded = binarize(z, noise)
        if op is not None and op.post_scale is not None:
            encoded = encoded * op.post_scale
        return self.decode(2 * encoded - 1)


def binarize(z: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """+1 with probability (1+z)/2 else -1, mapped to {0,1}; straight-through gradient to ``z``."""
    with torch.no_grad():
        eps = torch.where(noise <= (1 + z) / 2, 1 - z, -z - 1)
    return 0.5 * (z + eps + 1)


def cae_weight_names() -> list[str]:
    """The 21 weight tensors in state-dict order (the released code's layer indices 0..20)."""
    blocks = lambda p: [f"{p}.1.weight", f"{p}.4.weight"]  # noqa: E731
    return (["e_conv_1.1.weight", "e_conv_2.1.weight"] + blocks("e_block_1") + blocks("e_block_2")
            + blocks("e_block_3") + ["e_conv_3.0.weight", "d_up_conv_1.0.weight", "d_up_conv_1.3.weight"]
            + blocks("d_block_1") + blocks("d_block_2") + blocks("d_block_3")
            + ["d_up_conv_2.0.weight", "d_up_conv_2.3.weight", "d_up_conv_3.0.weight", "d_up_conv_3.3.weight"])


def build(weights: str | None = None) -> CAE:
    """CAE in eval mode, with ``weights`` loaded by name if given."""
    from models.deepaugment.weights import load_into, read_state_dict

    with torch.random.fork_rng(devices=[]):  # module init draws from the global RNG; keep the caller's intact
        model = CAE()
    if weights:
        load_into(model, read_state_dict(weights))
    return model.eval()
