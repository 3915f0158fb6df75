"""Activation (signal) distortions of DeepAugment, re-drawn for every image.

Each registered function draws one distortion for one image from a ``torch.Generator`` and returns
a :class:`FeatureOp`: a small bundle of tensors (channel source map, multiplicative mask, per-channel
flips, activation, 3x3 kernel, post-binarisation scale). The same op applies to one image
(:meth:`FeatureOp.apply`, the reference path) or, stacked, to a batch (``batched.apply_ops``).

EDSR (on the 64 head features): ``EDSR_PRE`` ("pre", id uniform in 1..4, 4 = none) and
``EDSR_BODY`` (id uniform in 1..5, 5 = none; acts after ResBlock 4 or re-routes the body).
CAE (on the 32-channel tanh latent): ``CAE_LATENT``, one of nine, uniform.

``faithful`` (the default, because the released data and the paper's numbers came from this
behaviour) reproduces the released code: "swap" copies channel c2 into c1 (a duplication) and the
"skip" option applies every kept body layer to the head output and keeps the last one. With
``faithful=False`` the swap swaps and the skip chains the kept layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from models.deepaugment import rand


@dataclass
class FeatureOp:
    """One image's activation distortion as tensors; fields left ``None`` are the identity."""

    name: str
    index: Any = None       # (C,) long: output channel c takes input channel index[c]
    mask: Any = None        # (1|C, H, W) multiplier
    flip_h: Any = None      # (C,) bool
    flip_w: Any = None      # (C,) bool
    act: str = ""           # "", "relu" or "gelu"
    kernel: Any = None      # (C, C, 3, 3) conv, padding 1
    post_scale: Any = None  # (C, H, W) multiplier of the binary code (CAE only)
    noise: Any = None       # (C, H, W) U[0,1) for stochastic binarisation (CAE only)

    def apply(self, x: Any) -> Any:
        """Apply to one image's features ``x`` of shape (1, C, H, W)."""
        import torch
        import torch.nn.functional as F

        if self.index is not None:
            x = x[:, self.index]
        if self.mask is not None:
            x = x * self.mask
        if self.flip_h is not None:
            x = torch.where(self.flip_h[None, :, None, None], x.flip(2), x)
        if self.flip_w is not None:
            x = torch.where(self.flip_w[None, :, None, None], x.flip(3), x)
        if self.act == "relu":
            x = F.relu(x)
        elif self.act == "gelu":
            x = F.gelu(x)
        if self.kernel is not None:
            x = F.conv2d(x, self.kernel, padding=1)
        return x


@dataclass
class BodyOp:
    """EDSR body distortion: ``mid`` acts after ResBlock 4; ``skip`` re-routes the body."""

    name: str
    mid: FeatureOp | None = None
    skip: frozenset[int] = field(default_factory=frozenset)
    faithful: bool = True

    def route(self, n_layers: int) -> tuple[str, tuple[int, ...]]:
        """("chain", layers) runs layers in sequence; ("single", (l,)) applies layer l to the head output."""
        kept = tuple(i for i in range(n_layers) if i not in self.skip)
        if self.skip and self.faithful:
            return "single", kept[-1:]
        return "chain", kept


Shape = tuple[int, int, int]


def _arange(c: int, g: Any) -> Any:
    import torch

    return torch.arange(c, device=g.device)


# ---- EDSR "pre" distortions, on the head output -------------------------------------------------

def duplicate_channels(g: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Five times pick channels c1, c2 and "swap" them; the released code copies c2 into c1 (QUIRK)."""
    index = _arange(shape[0], g)
    for _ in range(5):
        c1, c2 = rand.randint(g, 0, shape[0]), rand.randint(g, 0, shape[0])
        if faithful:
            index[c1] = index[c2].clone()
        else:
            index[c1], index[c2] = index[c2].clone(), index[c1].clone()
    return FeatureOp("duplicate-channels" if faithful else "swap-channels", index=index)


def feature_dropout(g: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Keep each element with probability 0.55, no rescaling."""
    return FeatureOp("dropout", mask=(rand.uniform(g, *shape) < 0.55).float())


def sign_mask(g: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Multiply by +1 (p 0.525) or -1 (p 0.475) elementwise."""
    return FeatureOp("sign-mask", mask=(rand.uniform(g, *shape) < 0.525).float() * 2 - 1)


EDSR_PRE: dict[str, Callable[..., FeatureOp]] = {
    "duplicate-channels": duplicate_channels, "dropout": feature_dropout, "sign-mask": sign_mask}


# ---- EDSR body distortions ----------------------------------------------------------------------

def body_negate(g: Any, shape: Shape, faithful: bool = True) -> BodyOp:
    """Negate the features after ResBlock 4."""
    import torch

    return BodyOp("negate", FeatureOp("negate", mask=-torch.ones(1, 1, 1, device=g.device)), faithful=faithful)


def body_activation(g: Any, shape: Shape, faithful: bool = True) -> BodyOp:
    """ReLU (p 1/3) or GELU (p 2/3) after ResBlock 4."""
    return BodyOp("activation", FeatureOp("activation", act="relu" if rand.randint(g, 0, 3) == 0 else "gelu"),
                  faithful=faithful)


def body_flip(g: Any, shape: Shape, faithful: bool = True) -> BodyOp:
    """Flip the features over (channels, height) (p 1/3) or (channels, width) (p 2/3) after ResBlock 4."""
    import torch

    c = shape[0]
    over_h = rand.randint(g, 0, 3) == 0
    flags = torch.ones(c, dtype=torch.bool, device=g.device)
    op = FeatureOp("flip", index=_arange(c, g).flip(0), flip_h=flags if over_h else None,
                   flip_w=None if over_h else flags)
    return BodyOp("flip", op, faithful=faithful)


def body_skip(g: Any, shape: Shape, faithful: bool = True, n_layers: int = 17) -> BodyOp:
    """Skip up to 3 of body layers 2..16; the released loop collapses the body to one layer (QUIRK)."""
    skip = frozenset(rand.randints(g, 2, n_layers, 3))
    return BodyOp("skip", skip=skip, faithful=faithful)


EDSR_BODY: dict[str, Callable[..., BodyOp]] = {
    "negate": body_negate, "activation": body_activation, "flip": body_flip, "skip": body_skip}


def sample_edsr_acts(g: Any, shape: Shape, faithful: bool = True) -> tuple[FeatureOp, BodyOp]:
    """The per-image draw of the released forward: pre id in 1..4 (4 = none), body id in 1..5 (5 = none)."""
    pre_id = rand.randint(g, 1, 5)
    pre = list(EDSR_PRE.values())[pre_id - 1](g, shape, faithful) if pre_id < 4 else FeatureOp("none")
    body_id = rand.randint(g, 1, 6)
    body = list(EDSR_BODY.values())[body_id - 1](g, shape, faithful) if body_id < 5 else BodyOp("none")
    return pre, body


# ---- CAE latent distortions (on the tanh latent, before binarisation; option 0 after) ----------

def _identity_kernel(c: int, g: Any) -> Any:
    import torch

    kernel = torch.zeros(c, c, 3, 3, device=g.device)
    kernel[torch.arange(c), torch.arange(c), 1, 1] = 1.0
    return kernel


def binary_scale(g: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Multiply the {0,1} code by 3 + 2u(2U) elementwise, so the decoder sees values far outside {-1, 1}."""
    u = rand.scalar(g)
    return FeatureOp("binary-scale", post_scale=3 + 2 * u * (2 * rand.uniform(g, *shape)))


def spatial_dropout(g: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Zero each latent location (all channels) with probability 0.2."""
    return FeatureOp("spatial-dropout", mask=(rand.uniform(g, 1, *shape[1:]) >= 0.2).float())


def spatial_sign_flip(g: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Negate each latent location (all channels) with probability 0.1."""
    return FeatureOp("spatial-sign-flip", mask=1 - 2 * (rand.uniform(g, 1, *shape[1:]) < 0.1).float())


def permute_channels(g: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Randomly permute the first 10 latent channels."""
    import torch

    index = _arange(shape[0], g)
    index[:10] = torch.randperm(10, generator=g, device=g.device)
    return FeatureOp("permute-channels", index=index)


def _dims_pair(g: Any) -> tuple[bool, bool]:
    """Two distinct dims among (batch, H, W); the batch flip is a no-op on one image."""
    import torch

    dims = torch.randperm(3, generator=g, device=g.device)[:2].tolist()
    return 1 in dims, 2 in dims


def flip_channels(g: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Five channels (with replacement) each flipped over two random dims; repeats compound."""
    import torch

    fh = torch.zeros(shape[0], dtype=torch.bool, device=g.device)
    fw = fh.clone()
    for _ in range(5):
        c = rand.randint(g, 0, shape[0])
        h, w = _dims_pair(g)
        fh[c] ^= h
        fw[c] ^= w
    return FeatureOp("flip-channels", flip_h=fh, flip_w=fw)


def flip_all(g: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Flip every channel over one random pair of dims."""
    import torch

    h, w = _dims_pair(g)
    ones = torch.ones(shape[0], dtype=torch.bool, device=g.device)
    return FeatureOp("flip-all", flip_h=ones & h, flip_w=ones & w)


def noisy_identity_conv(g: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """3x3 identity conv plus U[-0.1, 0.1] on every tap (mixes channels)."""
    c = shape[0]
    return FeatureOp("noisy-identity-conv", kernel=_identity_kernel(c, g) + (rand.uniform(g, c, c, 3, 3) * 0.2 - 0.1))


def extra_tap_conv(g: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Identity conv; each output channel (p 0.5) gets one extra tap 1 from a random input channel and position."""
    c = shape[0]
    kernel = _identity_kernel(c, g)
    for out in range(c):
        if rand.scalar(g) < 0.5:
            src, pos = rand.randint(g, 0, c), rand.randint(g, 0, 9)
            kernel[out, src, pos // 3, pos % 3] += 1.0
    return FeatureOp("extra-tap-conv", kernel=kernel)


def shift_channels(g: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Shift each channel by up to one pixel; the shift is re-drawn with p 0.2 per channel, else inherited."""
    import torch

    c = shape[0]
    kernel = torch.zeros(c, c, 3, 3, device=g.device)
    pos = rand.randint(g, 0, 9)
    for ch in range(c):
        if ch > 0 and rand.scalar(g) < 0.2:
            pos = rand.randint(g, 0, 9)
        kernel[ch, ch, pos // 3, pos % 3] = 1.0
    return FeatureOp("shift-channels", kernel=kernel)


CAE_LATENT: dict[str, Callable[..., FeatureOp]] = {
    "binary-scale": binary_scale, "spatial-dropout": spatial_dropout, "spatial-sign-flip": spatial_sign_flip,
    "permute-channels": permute_channels, "flip-channels": flip_channels, "flip-all": flip_all,
    "noisy-identity-conv": noisy_identity_conv, "extra-tap-conv": extra_tap_conv, "shift-channels": shift_channels}


def sample_cae_latent(g: Any, shape: Shape, faithful: bool = True, name: str | None = None) -> FeatureOp:
    """One of the nine latent distortions (uniform, or ``name``), with its binarisation noise."""
    if name is None:
        name = list(CAE_LATENT)[rand.randint(g, 0, len(CAE_LATENT))]
    elif name not in CAE_LATENT:
        raise ValueError(f"unknown CAE latent distortion {name!r}; valid: {', '.join(CAE_LATENT)}")
    op = CAE_LATENT[name](g, shape, faithful)
    op.noise = rand.uniform(g, *shape)
    return op
