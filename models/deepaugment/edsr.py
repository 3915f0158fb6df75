"""EDSR "baseline x4" (Lim et al.), with the parameter names of EDSR-PyTorch's weight files.

``EDSR()`` has the published structure (16 ResBlocks, 64 features, x4, rgb_range 255), so the
released ``edsr_baseline_x4.pt`` loads by name: ``sub_mean``/``add_mean`` (1x1 MeanShift convs),
``head.0``, ``body.{i}.body.0`` / ``body.{i}.body.2`` (the two convs of ResBlock i), ``body.16``,
``tail.0.0`` / ``tail.0.2`` (the two conv + PixelShuffle(2) stages) and ``tail.1``. ``n_feats`` is an
option for fast tests. :meth:`EDSR.forward` is the one-image reference path of
``EDSR_distort_imagenet.py``: optional "pre" and "body" activation distortions on one image.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

RGB_MEAN = (0.4488, 0.4371, 0.4040)
N_RESBLOCKS = 16


def conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=True)


class MeanShift(nn.Conv2d):
    """Subtract (sign -1) or add (sign +1) rgb_range x the RGB mean, as a frozen 1x1 conv."""

    def __init__(self, rgb_range: float = 255.0, sign: int = -1):
        super().__init__(3, 3, kernel_size=1)
        self.weight.data = torch.eye(3).view(3, 3, 1, 1)
        self.bias.data = sign * rgb_range * torch.tensor(RGB_MEAN)
        for p in self.parameters():
            p.requires_grad = False


class ResBlock(nn.Module):
    def __init__(self, n_feats: int):
        super().__init__()
        self.body = nn.Sequential(conv(n_feats, n_feats), nn.ReLU(True), conv(n_feats, n_feats))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


class Upsampler(nn.Sequential):
    def __init__(self, scale: int, n_feats: int):
        layers: list[nn.Module] = []
        for _ in range(scale.bit_length() - 1):
            layers += [conv(n_feats, 4 * n_feats), nn.PixelShuffle(2)]
        super().__init__(*layers)


class EDSR(nn.Module):
    """EDSR on images in [0, rgb_range]; output is ``scale`` times larger."""

    def __init__(self, n_feats: int = 64, n_resblocks: int = N_RESBLOCKS, scale: int = 4, rgb_range: float = 255.0):
        super().__init__()
        self.n_feats, self.scale, self.rgb_range = n_feats, scale, rgb_range
        self.sub_mean = MeanShift(rgb_range, -1)
        self.add_mean = MeanShift(rgb_range, +1)
        self.head = nn.Sequential(conv(3, n_feats))
        self.body = nn.Sequential(*[ResBlock(n_feats) for _ in range(n_resblocks)], conv(n_feats, n_feats))
        self.tail = nn.Sequential(Upsampler(scale, n_feats), conv(n_feats, 3))

    def forward(self, x: torch.Tensor, pre: Any = None, body: Any = None) -> torch.Tensor:
        """One image (or a batch sharing one network): ``pre`` is a FeatureOp, ``body`` a BodyOp."""
        x = self.head(self.sub_mean(x))
        if pre is not None:
            x = pre.apply(x)
        res = self._body(x, body)
        return self.add_mean(self.tail(res + x))

    def _body(self, x: torch.Tensor, op: Any) -> torch.Tensor:
        layers = list(self.body)
        if op is None or op.name == "none":
            return self.body(x)
        if op.mid is not None:
            res = x
            for layer in layers[:5]:
                res = layer(res)
            res = op.mid.apply(res)
            for layer in layers[5:]:
                res = layer(res)
            return res
        kind, kept = op.route(len(layers))
        if kind == "single":  # released loop: every kept layer sees the head output, the last one wins
            return layers[kept[0]](x)
        res = x
        for i in kept:
            res = layers[i](res)
        return res


def edsr_names(n_resblocks: int = N_RESBLOCKS) -> list[str]:
    """The published parameter names, in state-dict order."""
    names = ["sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias", "head.0.weight", "head.0.bias"]
    for i in range(n_resblocks):
        names += [f"body.{i}.body.{j}.{p}" for j in (0, 2) for p in ("weight", "bias")]
    names += [f"body.{n_resblocks}.weight", f"body.{n_resblocks}.bias"]
    names += [f"tail.0.{j}.{p}" for j in (0, 2) for p in ("weight", "bias")] + ["tail.1.weight", "tail.1.bias"]
    return names


def build(weights: str | None = None, n_feats: int = 64) -> EDSR:
    """EDSR in eval mode, with ``weights`` (a published or ``fit`` file) loaded by name if given."""
    from models.deepaugment.weights import load_into, read_state_dict

    state = read_state_dict(weights) if weights else {}
    if "head.0.weight" in state:
        n_feats = int(state["head.0.weight"].shape[0])
    with torch.random.fork_rng(devices=[]):  # module init draws from the global RNG; keep the caller's intact
        model = EDSR(n_feats=n_feats)
    if weights:
        load_into(model, state, optional=("sub_mean", "add_mean"))
    return model.eval()
