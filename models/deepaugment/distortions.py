"""Weight distortions of DeepAugment (EDSR: 17 options, CAE: 8) and the 0.05 re-sampling chain.

Every distortion is a function ``fn(state, g, faithful)`` that edits a cloned state dict in place with
draws from the ``torch.Generator`` ``g``, registered under a name in ``EDSR_WEIGHT`` or ``CAE_WEIGHT``
(dict order = the released option ids). A perturbed EDSR applies 3 options drawn with replacement;
a perturbed CAE exactly one. :class:`ResamplingChain` keeps a perturbed network and, before each
image, replaces it with a fresh one with probability 0.05, as the released scripts do.

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


# ---- EDSR: option ids 0..16 ---------------------------------------------------------------------

def e_reverse(s: State, g: Any, faithful: bool) -> None:
    for i in (0, 3, 6, 9):
        for name in (c1(i), c2(i)):
            s[f"{name}.weight"] = s[f"{name}.weight"].flip(0)
            s[f"{name}.bias"] = s[f"{name}.bias"].flip(0)


def e_negate(s: State, g: Any, faithful: bool) -> None:
    for i in (1, 4, 7):
        s[f"{c1(i)}.weight"], s[f"{c1(i)}.bias"] = -s[f"{c1(i)}.weight"], -s[f"{c1(i)}.bias"]


def e_zero(s: State, g: Any, faithful: bool) -> None:
    for i in (0, 3, 6, 9):
        s[f"{c1(i)}.weight"], s[f"{c1(i)}.bias"] = s[f"{c1(i)}.weight"] * 0, s[f"{c1(i)}.bias"] * 0


def e_neg_gelu(s: State, g: Any, faithful: bool) -> None:
    for i in (0, 3, 6, 9):
        for name in (c1(i), c2(i)):
            s[f"{name}.weight"] = -_gelu(s[f"{name}.weight"])


def _mask_kernels(s: State, mask: list[list[float]]) -> None:
    import torch

    for i in (0, 3, 6, 9):
        w = s[f"{c1(i)}.weight"]
        s[f"{c1(i)}.weight"] = w * torch.tensor(mask, dtype=w.dtype, device=w.device)


def e_laplace4(s: State, g: Any, faithful: bool) -> None:
    _mask_kernels(s, [[0, 1, 0], [1, -4, 1], [0, 1, 0]])


def e_laplace8(s: State, g: Any, faithful: bool) -> None:
    _mask_kernels(s, [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])


def e_scale(s: State, g: Any, faithful: bool) -> None:
    """c2 *= 1 + 2u(2U): one-sided as released; centred 1 + 2u(2U-1) when not faithful."""
    u = rand.scalar(g)
    for i in (0, 3, 6, 9):
        w = s[f"{c2(i)}.weight"]
        big_u = rand.uniform(g, *w.shape).to(w.device)
        s[f"{c2(i)}.weight"] = w * (1 + 2 * u * (2 * big_u if faithful else 2 * big_u - 1))


def e_flip_negate(s: State, g: Any, faithful: bool) -> None:
    for i in (0, 3, 6, 9):
        s[f"{c1(i)}.weight"] = s[f"{c1(i)}.weight"].flip(3)
        s[f"{c2(i)}.weight"] = -s[f"{c2(i)}.weight"]


def e_shift_sum(s: State, g: Any, faithful: bool) -> None:
    """Every input-channel slice of a filter becomes one signed sum of shifted slices."""
    import torch

    for i in (1, 5, 9):
        w = s[f"{c1(i)}.weight"]
        n_in = w.shape[1]
        z = torch.zeros(w.shape[1], n_in, 3, 3, device=w.device, dtype=w.dtype)
        pos, sign = rand.randints(g, 0, 9, n_in), rand.randints(g, 0, 2, n_in)
        for j in range(n_in):
            z[:, j, pos[j] // 3, pos[j] % 3] = float(sign[j] * 2 - 1)
        s[f"{c1(i)}.weight"] = _conv_weight(w, z)


def e_smooth_noise(s: State, g: Any, faithful: bool) -> None:
    u = rand.scalar(g)
    for i in (0, 3, 6, 9):
        w = s[f"{c1(i)}.weight"]
        z = ((2 * rand.uniform(g, w.shape[1], w.shape[1], 3, 3) * u - 1) / 6).to(w)
        s[f"{c1(i)}.weight"] = _conv_weight(w, z)


def e_dirichlet(s: State, g: Any, faithful: bool) -> None:
    import torch

    for i in (1, 5, 9):
        w = s[f"{c2(i)}.weight"]
        n = w.shape[1]
        z = rand.numpy_rng(g).dirichlet([0.1] * 9, size=(n, n)).reshape(n, n, 3, 3)
        s[f"{c2(i)}.weight"] = _conv_weight(w, torch.as_tensor(z, dtype=w.dtype, device=w.device))


def e_add_noise(s: State, g: Any, faithful: bool) -> None:
    i = rand.randint(g, 0, 15)
    w = s[f"{c2(i)}.weight"]
    s[f"{c2(i)}.weight"] = w + (rand.uniform(g, *w.shape).to(w) - 0.5)


def e_rot90(s: State, g: Any, faithful: bool) -> None:
    import torch

    for _ in range(5):
        name = (c1, c2)[rand.randint(g, 0, 2)](rand.randint(g, 0, 15)) + ".weight"
        k, spatial = rand.randint(g, 1, 4), rand.randint(g, 0, 2) == 0
        s[name] = torch.rot90(s[name], k, (2, 3) if spatial else (0, 1))


def e_sign_mask(s: State, g: Any, faithful: bool) -> None:
    for _ in range(5):
        name = c1(rand.randint(g, 0, 15)) + ".weight"
        s[name] = s[name] * ((rand.uniform(g, *s[name].shape) < 0.5).to(s[name]) * 2 - 1)


def e_binary_mask(s: State, g: Any, faithful: bool) -> None:
    for _ in range(5):
        name = c1(rand.randint(g, 0, 15)) + ".weight"
        s[name] = s[name] * (rand.uniform(g, *s[name].shape) < 0.5).to(s[name])


def e_negate_filters(s: State, g: Any, faithful: bool) -> None:
    for _ in range(5):
        name = c1(rand.randint(g, 0, 15)) + ".weight"
        w = s[name].clone()
        idx = rand.randints(g, 0, w.shape[0], 32)
        w[idx] = -w[idx]
        s[name] = w


def e_keep_max(s: State, g: Any, faithful: bool) -> None:
    import torch

    for _ in range(5):
        name = (c1, c2)[rand.randint(g, 0, 2)](rand.randint(g, 0, 15)) + ".weight"
        w = s[name]
        flat = w.flatten(2)
        keep = torch.zeros_like(flat).scatter_(2, flat.argmax(2, keepdim=True), 1.0)
        s[name] = (flat * keep).view_as(w)


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


def _filters(g: Any, s: State, weight: str, n: int) -> list[int]:
    return rand.randints(g, 0, s[weight].shape[0], n)


def k_reverse(s: State, g: Any, faithful: bool, i: int, j: int) -> None:
    """Reverse filters of layers i and j; the released typo flips weight_j twice instead of bias_j."""
    (wi, bi), (wj, bj) = _layer(s, i), _layer(s, j)
    s[wi], s[bi] = s[wi].flip(0), s[bi].flip(0)
    s[wj] = s[wj].flip(0)
    if faithful:
        s[wj] = s[wj].flip(0)
    else:
        s[bj] = s[bj].flip(0)


def _per_filter(s: State, weight: str, bias: str, idx: list[int], fn: Callable[[Any], Any]) -> None:
    w, b = s[weight].clone(), s[bias].clone()
    for f in idx:  # a loop, as released: repeated filters compound
        w[f], b[f] = fn(w[f]), fn(b[f])
    s[weight], s[bias] = w, b


def k_negate(s: State, g: Any, faithful: bool, i: int, j: int) -> None:
    w, b = _layer(s, i)
    _per_filter(s, w, b, _filters(g, s, w, 12), lambda t: -t)


def k_zero(s: State, g: Any, faithful: bool, i: int, j: int) -> None:
    w, b = _layer(s, i)
    _per_filter(s, w, b, _filters(g, s, w, 25), lambda t: t * 0)


def k_neg_gelu(s: State, g: Any, faithful: bool, i: int, j: int) -> None:
    w, b = _layer(s, i)
    _per_filter(s, w, b, _filters(g, s, w, 25), lambda t: -_gelu(t))


def k_scale(s: State, g: Any, faithful: bool, i: int, j: int) -> None:
    """weight *= 1 + 2u(4U) (one-sided, as released) or 1 + 2u(4U-2) (centred)."""
    u = rand.scalar(g)
    for index in (i, j):
        w = _layer(s, index)[0]
        big_u = rand.uniform(g, *s[w].shape).to(s[w])
        s[w] = s[w] * (1 + 2 * u * (4 * big_u if faithful else 4 * big_u - 2))


def k_mask(s: State, g: Any, faithful: bool, i: int, j: int) -> None:
    w = _layer(s, i)[0]
    keep = (rand.uniform(g, *s[w].shape) < 0.5).to(s[w])
    s[w] = s[w] * (keep if rand.randint(g, 0, 2) == 0 else keep * 2 - 1)


def k_rot90(s: State, g: Any, faithful: bool, i: int, j: int) -> None:
    import torch

    w = _layer(s, i)[0]
    s[w] = torch.rot90(s[w], rand.randint(g, 1, 4), (2, 3))


def k_negate_set(s: State, g: Any, faithful: bool, i: int, j: int) -> None:
    w = _layer(s, i)[0]
    idx = sorted(set(_filters(g, s, w, s[w].shape[0] // 5)))
    t = s[w].clone()
    t[idx] = -t[idx]
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
    state = dict(clean)
    if names is None:
        names = [list(EDSR_WEIGHT)[k] for k in rand.randints(g, 0, len(EDSR_WEIGHT), 3)]
    _check(EDSR_WEIGHT, names)
    for name in names:
        EDSR_WEIGHT[name](state, g, faithful)
    return state


def perturb_cae(clean: State, g: Any, faithful: bool = True, name: str | None = None) -> State:
    """A perturbed copy of ``clean``: one option, on layers i, j drawn from the option's range."""
    state = dict(clean)
    if name is None:
        name = list(CAE_WEIGHT)[rand.randint(g, 0, len(CAE_WEIGHT))]
    _check(CAE_WEIGHT, [name])
    low, high = CAE_LAYERS.get(name, (8, 13))
    i, j = rand.randint(g, low, high + 1), rand.randint(g, low, high + 1)
    CAE_WEIGHT[name](state, g, faithful, i, j)
    return state


PERTURB: dict[str, Callable[..., State]] = {"edsr": perturb_edsr, "cae": perturb_cae}


class ResamplingChain:
    """The released schedule: a perturbed network, replaced before each image with probability ``rate``."""

    def __init__(self, method: str, clean: State, g: Any, faithful: bool = True, rate: float = EDSR_RESAMPLE):
        if method not in PERTURB:
            raise ValueError(f"unknown method {method!r}; valid: {', '.join(PERTURB)}")
        self.method, self.clean, self.g, self.faithful, self.rate = method, clean, g, faithful, rate
        self.current: State | None = None
        self.draws = 0

    def next(self) -> State:
        """The network for the next image (the first call always draws)."""
        if self.current is None or rand.scalar(self.g) < self.rate:
            self.current = PERTURB[self.method](self.clean, self.g, self.faithful)
            self.draws += 1
        return self.current
