"""Activation (signal) distortions of DeepAugment, re-drawn for every image.

Each registered function draws one distortion for one image from a draw source (``rand.source``: a
``torch.Generator`` or a recording source), making the released forward pass's draws in its order, and returns
a :class:`FeatureOp`: a small bundle of tensors (channel source map, multiplicative mask, per-channel
flips, activation, 3x3 kernel, post-binarisation scale). The same op applies to one image
(:meth:`FeatureOp.apply`, the reference path) or, stacked, to a batch (``batched.apply_ops``).

EDSR (on the 64 head features): ``EDSR_PRE`` ("pre", id uniform in 1..4, 4 = none) and
``EDSR_BODY`` (id uniform in 1..5, 5 = none; acts after ResBlock 4 or re-routes the body).
CAE (on the 32-channel tanh latent): ``CAE_LATENT``, one of nine, uniform.

Both samplers draw in the released order: EDSR draws the "pre" and "body" ids before the forward pass,
then the pre distortion's and the body distortion's parameters; the CAE draws its latent option, its
parameters, the binarisation noise and, for option 0 only, the code multiplier after the noise.

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


def _arange(c: int, d: Any) -> Any:
    import torch

    return torch.arange(c, device=d.device)


# ---- EDSR "pre" distortions, on the head output -------------------------------------------------

def duplicate_channels(d: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Five times pick channels c1, c2 and "swap" them; the released code copies c2 into c1 (QUIRK)."""
    index = _arange(shape[0], d)
    for _ in range(5):
        c1, c2 = d.integer(0, shape[0]), d.integer(0, shape[0])
        if faithful:
            index[c1] = index[c2].clone()
        else:
            index[c1], index[c2] = index[c2].clone(), index[c1].clone()
    return FeatureOp("duplicate-channels" if faithful else "swap-channels", index=index)


def feature_dropout(d: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Multiply by round(U + 0.45): keeps each element with probability 0.95, no rescaling."""
    import torch

    return FeatureOp("dropout", mask=torch.round(d.rand(1, *shape) + 0.45)[0])


def sign_mask(d: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Multiply by 2 round(U + 0.475) - 1: +1 with probability 0.975, -1 with 0.025."""
    import torch

    return FeatureOp("sign-mask", mask=(torch.round(d.rand(1, *shape) + 0.475) * 2 - 1)[0])


EDSR_PRE: dict[str, Callable[..., FeatureOp]] = {
    "duplicate-channels": duplicate_channels, "dropout": feature_dropout, "sign-mask": sign_mask}


# ---- EDSR body distortions ----------------------------------------------------------------------

def body_negate(d: Any, shape: Shape, faithful: bool = True) -> BodyOp:
    """Negate the features after ResBlock 4."""
    import torch

    return BodyOp("negate", FeatureOp("negate", mask=-torch.ones(1, 1, 1, device=d.device)), faithful=faithful)


def body_activation(d: Any, shape: Shape, faithful: bool = True) -> BodyOp:
    """ReLU (``randint(0, 2) == 1``, p 1/3) or GELU (p 2/3) after ResBlock 4."""
    act = "relu" if d.integer(0, 3) == 1 else "gelu"
    return BodyOp("activation", FeatureOp("activation", act=act), faithful=faithful)


def body_flip(d: Any, shape: Shape, faithful: bool = True) -> BodyOp:
    """Flip the features over (channels, height) (p 1/3) or (channels, width) (p 2/3) after ResBlock 4."""
    import torch

    c = shape[0]
    over_h = d.integer(0, 3) == 1
    flags = torch.ones(c, dtype=torch.bool, device=d.device)
    op = FeatureOp("flip", index=_arange(c, d).flip(0), flip_h=flags if over_h else None,
                   flip_w=None if over_h else flags)
    return BodyOp("flip", op, faithful=faithful)


def body_skip(d: Any, shape: Shape, faithful: bool = True, n_layers: int = 17) -> BodyOp:
    """Skip up to 3 of body layers 2..16; the released loop collapses the body to one layer (QUIRK)."""
    skip = frozenset(d.integer(2, n_layers) for _ in range(3))
    return BodyOp("skip", skip=skip, faithful=faithful)


EDSR_BODY: dict[str, Callable[..., BodyOp]] = {
    "negate": body_negate, "activation": body_activation, "flip": body_flip, "skip": body_skip}


def sample_edsr_acts(g: Any, shape: Shape, faithful: bool = True) -> tuple[FeatureOp, BodyOp]:
    """One image's draws, as released: pre id in 1..4 (4 = none) and body id in 1..5 (5 = none) first,
    then the pre distortion's parameters, then the body distortion's."""
    d = rand.source(g)
    pre_id, body_id = d.integer(1, 5), d.integer(1, 6)
    pre = list(EDSR_PRE.values())[pre_id - 1](d, shape, faithful) if pre_id < 4 else FeatureOp("none")
    body = list(EDSR_BODY.values())[body_id - 1](d, shape, faithful) if body_id < 5 else BodyOp("none")
    return pre, body


# ---- CAE latent distortions (on the tanh latent, before binarisation; option 0 after) ----------

def _identity_kernel(c: int, d: Any) -> Any:
    import torch

    kernel = torch.zeros(c, c, 3, 3, device=d.device)
    kernel[torch.arange(c), torch.arange(c), 1, 1] = 1.0
    return kernel


def binary_scale(d: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Multiply the {0,1} code by 3 + 2u(2U) elementwise, so the decoder sees values far outside {-1, 1}.
    Drawn after the binarisation noise, as released."""
    u = d.uniform()
    return FeatureOp("binary-scale", post_scale=3 + 2 * u * (2 * d.rand(1, *shape)[0]))


def spatial_dropout(d: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Keep each latent location (all channels) where U > 0.2."""
    return FeatureOp("spatial-dropout", mask=(d.rand(*shape[1:]) > 0.2).float()[None])


def spatial_sign_flip(d: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Negate each latent location (all channels) where U <= 0.1."""
    return FeatureOp("spatial-sign-flip", mask=((d.rand(*shape[1:]) > 0.1).float() * 2 - 1)[None])


def permute_channels(d: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Randomly permute the first 10 latent channels."""
    import torch

    order = d.permutation(10) + list(range(10, shape[0]))
    return FeatureOp("permute-channels", index=torch.tensor(order, device=d.device))


def _dims_pair(d: Any) -> tuple[bool, bool]:
    """The released draws: an unused k in 1..3, then two dims of a shuffled (batch, H, W); the batch
    flip is a no-op on one image. Returns (flip over H, flip over W)."""
    d.integer(1, 4)
    dims = d.permutation(3)[:2]
    return 1 in dims, 2 in dims


def flip_channels(d: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """One pair of dims per image; five channels (with replacement) each flipped over it (repeats undo)."""
    import torch

    fh = torch.zeros(shape[0], dtype=torch.bool, device=d.device)
    fw = fh.clone()
    h, w = _dims_pair(d)
    for _ in range(5):
        c = d.integer(0, shape[0])
        fh[c] ^= h
        fw[c] ^= w
    return FeatureOp("flip-channels", flip_h=fh, flip_w=fw)


def flip_all(d: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Flip every channel over one random pair of dims."""
    import torch

    h, w = _dims_pair(d)
    ones = torch.ones(shape[0], dtype=torch.bool, device=d.device)
    return FeatureOp("flip-all", flip_h=ones & h, flip_w=ones & w)


def noisy_identity_conv(d: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """3x3 identity conv plus U[-0.1, 0.1] on every tap (mixes channels)."""
    c = shape[0]
    return FeatureOp("noisy-identity-conv", kernel=_identity_kernel(c, d) + (d.rand(c, c, 3, 3) - 0.5) * 0.2)


def extra_tap_conv(d: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Identity conv; each output channel (p 0.5) gets one tap SET to 1 at a random input channel and
    position (row, column in -1..1, so -1 is the last row/column)."""
    c = shape[0]
    kernel = _identity_kernel(c, d)
    for out in range(c):
        if d.uniform() < 0.5:
            src = d.integer(0, c)
            row = d.integer(-1, 2)
            kernel[out, src, row, d.integer(-1, 2)] = 1.0
    return FeatureOp("extra-tap-conv", kernel=kernel)


def shift_channels(d: Any, shape: Shape, faithful: bool = True) -> FeatureOp:
    """Shift each channel by up to one pixel; the shift is re-drawn with p 0.2 per channel (the first
    included), else inherited from the previous channel."""
    import torch

    c = shape[0]
    kernel = torch.zeros(c, c, 3, 3, device=d.device)
    row, col = d.integers(0, 3, 2)
    for ch in range(c):
        if d.uniform() < 0.2:
            row, col = d.integers(0, 3, 2)
        kernel[ch, ch, row, col] = 1.0
    return FeatureOp("shift-channels", kernel=kernel)


CAE_LATENT: dict[str, Callable[..., FeatureOp]] = {
    "binary-scale": binary_scale, "spatial-dropout": spatial_dropout, "spatial-sign-flip": spatial_sign_flip,
    "permute-channels": permute_channels, "flip-channels": flip_channels, "flip-all": flip_all,
    "noisy-identity-conv": noisy_identity_conv, "extra-tap-conv": extra_tap_conv, "shift-channels": shift_channels}


def sample_cae_latent(g: Any, shape: Shape, faithful: bool = True, name: str | None = None) -> FeatureOp:
    """One of the nine latent distortions (uniform, or ``name``), with its binarisation noise, drawn in
    the released order (option 0's multiplier after the noise)."""
    d = rand.source(g)
    if name is None:
        name = list(CAE_LATENT)[d.choice(range(len(CAE_LATENT)))]
    elif name not in CAE_LATENT:
        raise ValueError(f"unknown CAE latent distortion {name!r}; valid: {', '.join(CAE_LATENT)}")
    after_noise = name == "binary-scale"
    op = FeatureOp(name) if after_noise else CAE_LATENT[name](d, shape, faithful)
    noise = d.rand(1, *shape)[0]
    if after_noise:
        op = CAE_LATENT[name](d, shape, faithful)
    op.noise = noise
    return op
