"""Weight distortions of DeepAugment (EDSR: 17 options, CAE: 8) and the 0.05 re-sampling chain.

Every distortion is a function ``fn(state, d, faithful)`` that edits a cloned state dict with draws
from the draw source ``d`` (``rand.source``: a ``torch.Generator`` or a recording source), registered
under a name in ``EDSR_WEIGHT`` or ``CAE_WEIGHT`` (dict order = the released option ids). A perturbed
EDSR applies 3 options drawn with replacement; a perturbed CAE exactly one. Each function makes the
released code's draws in the released order, so the same draws give the same network (tested against a
transcription of ``get_weights()``). EDSR options 0-10 distort ONE block drawn from their set.
:class:`ResamplingChain` follows the released schedule: a network at the start, then before each image a
fresh one with probability 0.05.

``faithful=True`` (the default everywhere) reproduces the released code, quirks included, because
the released EDSR/CAE images (and so the paper's numbers) were made by it:

* EDSR option 6 / CAE option 4 multiply weights by ``1 + 2u(2U)`` / ``1 + 2u(4U)``: one-sided.
  ``faithful=False`` centres the same spread: ``1 + 2u(2U-1)`` / ``1 + 2u(4U-2)``.
* CAE option 0 flips ``weight_j`` twice (a typo for ``bias_j``): no change to layer j.
  ``faithful=False`` reverses weight and bias of both layers.

The activation quirks (duplicating "swap", collapsing "skip") live in ``activations``.
"""

from __future__ import annotations

from typing import Any, Callable

from models.deepaugment import rand

State = dict[str, Any]
WeightFn = Callable[[State, Any, bool], None]
EDSR_RESAMPLE = CAE_RESAMPLE = 0.05
EVERY_THIRD = (0, 3, 6, 9)   # np.arange(0, 10, 3)
NEGATED = (1, 4, 7)          # np.arange(1, 10, 3)
EVERY_FOURTH = (1, 5, 9)     # np.arange(1, 13, 4) and np.arange(1, 12, 4)
N_TOUCHED = 15               # options 11-16 draw blocks from range(15)


def c1(i: int) -> str:
    return f"body.{i}.body.0"


def c2(i: int) -> str:
    return f"body.{i}.body.2"


def _gelu(w: Any) -> Any:
    import torch.nn.functional as F

    return F.gelu(w)


def _conv_weight(w: Any, z: Any) -> Any:
    """conv2d of a (out, in, 3, 3) weight, seen as a batch of ``out`` images, with kernel ``z``."""
    import torch.nn.functional as F

    return F.conv2d(w, z, padding=1)


def _scaled(w: Any, d: Any, spread: int, faithful: bool) -> Any:
    """``w * (1 + 2u(spread U))`` as released (one-sided), or centred: ``1 + 2u(spread U - spread/2)``."""
    u = d.uniform()
    big_u = d.rand(*w.shape).to(w)
    return w * (1 + 2 * u * (spread * big_u if faithful else spread * big_u - spread // 2))


# ---- EDSR: option ids 0..16 (0-10 distort one drawn block, 11-16 draw blocks from 0..14) --------

def e_reverse(s: State, d: Any, faithful: bool) -> None:
    i = d.choice(EVERY_THIRD)
    for name in (c1(i), c2(i)):
        s[f"{name}.weight"], s[f"{name}.bias"] = s[f"{name}.weight"].flip(0), s[f"{name}.bias"].flip(0)


def e_negate(s: State, d: Any, faithful: bool) -> None:
    i = d.choice(NEGATED)
    s[f"{c1(i)}.weight"], s[f"{c1(i)}.bias"] = -s[f"{c1(i)}.weight"], -s[f"{c1(i)}.bias"]


def e_zero(s: State, d: Any, faithful: bool) -> None:
    i = d.choice(EVERY_THIRD)
    s[f"{c1(i)}.weight"], s[f"{c1(i)}.bias"] = 0 * s[f"{c1(i)}.weight"], 0 * s[f"{c1(i)}.bias"]


def e_neg_gelu(s: State, d: Any, faithful: bool) -> None:
    i = d.choice(EVERY_THIRD)
    for name in (c1(i), c2(i)):
        s[f"{name}.weight"] = -_gelu(s[f"{name}.weight"])


def _mask_kernels(s: State, d: Any, mask: list[list[float]]) -> None:
    import torch

    i = d.choice(EVERY_THIRD)
    w = s[f"{c1(i)}.weight"]
    s[f"{c1(i)}.weight"] = w * torch.tensor(mask, dtype=w.dtype, device=w.device).view(1, 1, 3, 3)


def e_laplace4(s: State, d: Any, faithful: bool) -> None:
    _mask_kernels(s, d, [[0, 1, 0], [1, -4, 1], [0, 1, 0]])


def e_laplace8(s: State, d: Any, faithful: bool) -> None:
    _mask_kernels(s, d, [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])


def e_scale(s: State, d: Any, faithful: bool) -> None:
    """c2 *= 1 + 2u(2U): one-sided as released; centred 1 + 2u(2U-1) when not faithful."""
    i = d.choice(EVERY_THIRD)
    s[f"{c2(i)}.weight"] = _scaled(s[f"{c2(i)}.weight"], d, 2, faithful)


def e_flip_negate(s: State, d: Any, faithful: bool) -> None:
    i = d.choice(EVERY_THIRD)
    s[f"{c1(i)}.weight"] = s[f"{c1(i)}.weight"].flip(3)
    s[f"{c2(i)}.weight"] = -1 * s[f"{c2(i)}.weight"]


def e_shift_sum(s: State, d: Any, faithful: bool) -> None:
    """Every input-channel slice of a filter becomes one signed sum of shifted slices."""
    import torch

    i = d.choice(EVERY_FOURTH)
    w = s[f"{c1(i)}.weight"]
    z = torch.zeros_like(w)
    for j in range(z.shape[0]):
        row, col = d.integers(0, 3, 2)
        z[:, j, row, col] = float(d.choice((1.0, -1.0)))
    s[f"{c1(i)}.weight"] = _conv_weight(w, z)


def e_smooth_noise(s: State, d: Any, faithful: bool) -> None:
    i = d.choice(EVERY_THIRD)
    w = s[f"{c1(i)}.weight"]
    big_u = d.rand(*w.shape).to(w)
    z = (2 * big_u * d.uniform() - 1) / 6.0
    s[f"{c1(i)}.weight"] = _conv_weight(w, z)


def e_dirichlet(s: State, d: Any, faithful: bool) -> None:
    import torch

    i = d.choice(EVERY_FOURTH)
    w = s[f"{c2(i)}.weight"]
    n = w.shape[0]
    z = torch.as_tensor(d.dirichlet(0.1, 9, (n, n)), dtype=torch.float32).view(n, n, 3, 3)
    s[f"{c2(i)}.weight"] = _conv_weight(w, z.to(w))


def e_add_noise(s: State, d: Any, faithful: bool) -> None:
    i = d.integer(0, N_TOUCHED)
    w = s[f"{c2(i)}.weight"]
    s[f"{c2(i)}.weight"] = w + (d.rand(*w.shape).to(w) - 0.5) * 1.0


def _pairs(d: Any) -> list[tuple[int, int]]:
    return [(d.integer(0, N_TOUCHED), d.choice((0, 2))) for _ in range(5)]


def e_rot90(s: State, d: Any, faithful: bool) -> None:
    import torch

    for i, j in _pairs(d):
        name = f"body.{i}.body.{j}.weight"
        k = d.integer(1, 4)
        dims = (2, 3) if d.integer(0, 2) == 0 else (0, 1)
        s[name] = torch.rot90(s[name], k=k, dims=dims)


def _blocks(d: Any) -> list[int]:
    return [d.integer(0, N_TOUCHED) for _ in range(5)]


def e_sign_mask(s: State, d: Any, faithful: bool) -> None:
    import torch

    for i in _blocks(d):
        w = s[f"{c1(i)}.weight"]
        s[f"{c1(i)}.weight"] = w * (torch.round(d.rand(*w.shape).to(w)) * 2 - 1)


def e_binary_mask(s: State, d: Any, faithful: bool) -> None:
    import torch

    for i in _blocks(d):
        w = s[f"{c1(i)}.weight"]
        s[f"{c1(i)}.weight"] = w * torch.round(d.rand(*w.shape).to(w))


def e_negate_filters(s: State, d: Any, faithful: bool) -> None:
    for i in _blocks(d):
        w = s[f"{c1(i)}.weight"].clone()
        idx = [d.integer(0, w.shape[0]) for _ in range(32)]
        w[idx] = w[idx] * -1  # a repeated filter is negated once, as with the released `w[idx] *= -1`
        s[f"{c1(i)}.weight"] = w


def _keep_max(w: Any) -> Any:
    import torch

    flat = w.reshape(w.shape[0], w.shape[1], -1)
    top = torch.topk(flat, k=1)
    return torch.zeros_like(flat).scatter(2, top.indices, top.values).reshape(w.shape)


def e_keep_max(s: State, d: Any, faithful: bool) -> None:
    for i, j in _pairs(d):
        name = f"body.{i}.body.{j}.weight"
        s[name] = _keep_max(s[name])


EDSR_WEIGHT: dict[str, WeightFn] = {
    "reverse-channels": e_reverse, "negate": e_negate, "zero": e_zero, "neg-gelu": e_neg_gelu,
    "laplace-4": e_laplace4, "laplace-8": e_laplace8, "scale": e_scale, "flip-negate": e_flip_negate,
    "shift-sum": e_shift_sum, "smooth-noise": e_smooth_noise, "dirichlet-blur": e_dirichlet,
    "add-noise": e_add_noise, "rot90": e_rot90, "sign-mask": e_sign_mask, "binary-mask": e_binary_mask,
    "negate-filters": e_negate_filters, "keep-max": e_keep_max}


# ---- CAE: option ids 0..7, on the 21 weight layers in state-dict order ---------------------------

def _layer(s: State, index: int) -> tuple[str, str]:
    from models.deepaugment.cae import cae_weight_names

    weight = cae_weight_names()[index]
    return weight, weight[: -len("weight")] + "bias"


def k_reverse(s: State, d: Any, faithful: bool, i: int, j: int) -> None:
    """Reverse filters of layers i and j; the released typo flips weight_j twice instead of bias_j."""
    (wi, bi), (wj, bj) = _layer(s, i), _layer(s, j)
    s[wi], s[bi] = s[wi].flip(0), s[bi].flip(0)
    s[wj] = s[wj].flip(0)
    if faithful:
        s[wj] = s[wj].flip(0)
    else:
        s[bj] = s[bj].flip(0)


def _per_filter(s: State, d: Any, i: int, n: int, fn: Callable[[Any], Any]) -> None:
    weight, bias = _layer(s, i)
    idx = [d.integer(0, s[weight].shape[0]) for _ in range(n)]
    w, b = s[weight].clone(), s[bias].clone()
    for f in idx:  # a loop, as released: repeated filters compound
        w[f], b[f] = fn(w[f]), fn(b[f])
    s[weight], s[bias] = w, b


def k_negate(s: State, d: Any, faithful: bool, i: int, j: int) -> None:
    _per_filter(s, d, i, 12, lambda t: -t)


def k_zero(s: State, d: Any, faithful: bool, i: int, j: int) -> None:
    _per_filter(s, d, i, 25, lambda t: 0 * t)


def k_neg_gelu(s: State, d: Any, faithful: bool, i: int, j: int) -> None:
    _per_filter(s, d, i, 25, lambda t: -_gelu(t))


def k_scale(s: State, d: Any, faithful: bool, i: int, j: int) -> None:
    """weight *= 1 + 2u(4U) (one-sided, as released) or 1 + 2u(4U-2) (centred), u drawn per layer."""
    for index in (i, j):
        w = _layer(s, index)[0]
        s[w] = _scaled(s[w], d, 4, faithful)


def k_mask(s: State, d: Any, faithful: bool, i: int, j: int) -> None:
    import torch

    w = _layer(s, i)[0]
    binary = d.uniform() < 0.5
    mask = torch.round(d.rand(*s[w].shape).to(s[w]))
    s[w] = s[w] * (mask if binary else mask * 2 - 1)


def k_rot90(s: State, d: Any, faithful: bool, i: int, j: int) -> None:
    import torch

    w = _layer(s, i)[0]
    s[w] = torch.rot90(s[w], k=d.integer(1, 4), dims=(2, 3))


def k_negate_set(s: State, d: Any, faithful: bool, i: int, j: int) -> None:
    w = _layer(s, i)[0]
    out = s[w].shape[0]
    idx = sorted({d.integer(0, out) for _ in range(out // 5)})
    t = s[w].clone()
    t[idx] = t[idx] * -1.0
    s[w] = t


CAE_WEIGHT: dict[str, Callable[..., None]] = {
    "reverse-filters": k_reverse, "negate-filters": k_negate, "zero-filters": k_zero,
    "neg-gelu-filters": k_neg_gelu, "scale": k_scale, "mask": k_mask, "rot90": k_rot90,
    "negate-filter-set": k_negate_set}
CAE_LAYERS = {"reverse-filters": (11, 15), "neg-gelu-filters": (10, 13)}  # inclusive; others (8, 13)


# ---- sampling a perturbed network ---------------------------------------------------------------

def _check(registry: dict[str, Any], names: list[str]) -> None:
    for name in names:
        if name not in registry:
            raise ValueError(f"unknown weight distortion {name!r}; valid: {', '.join(registry)}")


def perturb_edsr(clean: State, g: Any, faithful: bool = True, names: list[str] | None = None) -> State:
    """A perturbed copy of ``clean``: 3 options drawn with replacement (or the given ``names``)."""
    d = rand.source(g)
    state = dict(clean)
    if names is None:
        names = [list(EDSR_WEIGHT)[k] for k in d.integers(0, len(EDSR_WEIGHT), 3)]
    _check(EDSR_WEIGHT, names)
    for name in names:
        EDSR_WEIGHT[name](state, d, faithful)
    return state


def perturb_cae(clean: State, g: Any, faithful: bool = True, name: str | None = None) -> State:
    """A perturbed copy of ``clean``: one option, on layers i, j drawn from the option's range."""
    d = rand.source(g)
    state = dict(clean)
    if name is None:
        name = list(CAE_WEIGHT)[d.choice(range(len(CAE_WEIGHT)))]
    _check(CAE_WEIGHT, [name])
    low, high = CAE_LAYERS.get(name, (8, 13))
    i, j = d.choice(range(low, high + 1)), d.choice(range(low, high + 1))
    CAE_WEIGHT[name](state, d, faithful, i, j)
    return state


PERTURB: dict[str, Callable[..., State]] = {"edsr": perturb_edsr, "cae": perturb_cae}


class ResamplingChain:
    """The released schedule: a perturbed network at the start; before each image, with probability
    ``rate``, a fresh one (so the first image draws ``U`` too, after the starting network)."""

    def __init__(self, method: str, clean: State, g: Any, faithful: bool = True, rate: float = EDSR_RESAMPLE):
        if method not in PERTURB:
            raise ValueError(f"unknown method {method!r}; valid: {', '.join(PERTURB)}")
        self.method, self.clean, self.g, self.faithful, self.rate = method, clean, g, faithful, rate
        self.current: State | None = None
        self.draws = 0

    def _fresh(self) -> State:
        self.draws += 1
        return PERTURB[self.method](self.clean, self.g, self.faithful)

    def next(self) -> State:
        """The network for the next image. At ``rate >= 1`` the starting network would never be used,
        so it is not drawn."""
        if self.current is None and self.rate < 1:
            self.current = self._fresh()
        if rand.source(self.g).uniform() < self.rate or self.current is None:
            self.current = self._fresh()
        return self.current
