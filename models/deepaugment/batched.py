"""One pass, one perturbed network per image: grouped convolutions over stacked per-image weights.

The released scripts push one image at a time through a network whose weights were loaded into an
``nn.Module``. Here a batch of N images and N state dicts (stacked to (N, ...) tensors) run together:
every conv becomes one ``groups=N`` conv over the images packed into the channel dimension (the
Noise2Net trick), and every activation distortion is applied from stacked per-image tensors. For the
same sampled networks and activation draws the result equals the one-image path (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from models.deepaugment.activations import FeatureOp, sample_cae_latent, sample_edsr_acts
from models.deepaugment.cae import binarize
from models.deepaugment.precision import PRECISIONS, compute_dtype, ieee_fp32  # noqa: F401 (re-exported)

Params = dict[str, torch.Tensor]



@dataclass(frozen=True)
class ConvPlan:
    """How a batch's convolutions run; the defaults are what measured fastest (``bench/deepaugment.py``)."""

    # batches with more runs of consecutive images on one network than this may use the grouped conv
    grouped_min_runs: int = 4
    # a CPU's convs run as fast one image at a time as batched, and oneDNN's grouped convs are slower than one
    # plain conv per network (measured: 2.3x vs 1.7x the loop for EDSR, 3.3x vs 1.4x for CAE), so never there
    grouped_on_cpu: bool = False
    # images per pass on a CPU: batching gains nothing there, and a batch's 112-224 px activations (hundreds
    # of MB at 16 images) would stream through memory instead of staying in cache
    cpu_chunk: int = 1
    # CPU: channels-last activations let oneDNN skip a layout reorder around every conv
    channels_last: bool = True


DEFAULT_PLAN = ConvPlan()


def _layout(x: torch.Tensor, plan: ConvPlan) -> torch.Tensor:
    """Channels-last on the CPU (oneDNN's native layout; ``F.pad`` and indexing hand back NCHW)."""
    if plan.channels_last and x.device.type == "cpu" and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def _pad(x: torch.Tensor, pad: tuple[int, int, int, int], plan: ConvPlan) -> torch.Tensor:
    """Zero padding (left, right, top, bottom) written straight into a channels-last tensor on the CPU
    (``F.pad`` would hand back NCHW, to be copied once more)."""
    if not (plan.channels_last and x.device.type == "cpu"):
        return F.pad(x, pad)
    left, right, top, bottom = pad
    n, c, h, w = x.shape
    out = torch.empty((n, c, h + top + bottom, w + left + right), dtype=x.dtype, device=x.device,
                      memory_format=torch.channels_last).zero_()
    out[:, :, top:top + h, left:left + w] = x
    return out


class Nets:
    """U distinct networks and which network each of N images uses.

    Two ways to run a conv, picked per batch (``grouped``; never on a CPU unless ``plan.grouped_on_cpu``):

    * per network (the 0.05 schedule: a batch of 16 has one or two networks): the images of each
      network form runs (consecutive images share a network), and each run is one plain batched conv
      with that network's own weights, taken straight from its state dict (no stacked copy).
    * grouped (most images have their own network): images are packed into "slots" (M, U·C, H, W),
      M = most images on one network, and one ``groups=U`` conv runs every image through its own
      network (the Noise2Net trick); the stacked (U, ...) weights are built once per layer and batch.
      Empty slots compute on zeros, so this is only chosen when there are few of them.
    """

    def __init__(self, states: Sequence[Params], assign: Sequence[int], device: Any = None,
                 grouped: bool | None = None, dtype: torch.dtype | None = None, plan: ConvPlan = DEFAULT_PLAN):
        self.states, self.assign, self.device, self.dtype = list(states), list(assign), device, dtype
        self.plan = plan
        self.u = len(self.states)
        n = len(self.assign)
        rows: list[list[int]] = [[] for _ in range(self.u)]
        for image, net in enumerate(self.assign):
            rows[net].append(image)
        self.m = max(len(r) for r in rows)
        slots = [n] * (self.m * self.u)  # index n = a zero image
        self.pos = [0] * n
        for net, images in enumerate(rows):
            for row, image in enumerate(images):
                slots[row * self.u + net] = image
                self.pos[image] = row * self.u + net
        self.slots = slots
        # runs of consecutive images on one network: (start, end, net)
        self.runs: list[tuple[int, int, int]] = []
        for image, net in enumerate(self.assign):
            if self.runs and self.runs[-1][2] == net:
                self.runs[-1] = (self.runs[-1][0], image + 1, net)
            else:
                self.runs.append((image, image + 1, net))
        # interleaved networks: sort images by network so that each network is one run
        self.order: list[int] | None = None
        if len(self.runs) > self.u:
            self.order = [image for images in rows for image in images]
            self.inverse = [0] * n
            for k, image in enumerate(self.order):
                self.inverse[image] = k
            self.sorted_runs, start = [], 0
            for net, images in enumerate(rows):
                self.sorted_runs.append((start, start + len(images), net))
                start += len(images)
        if grouped is None:  # grouped only when runs would be many small convs and slots are nearly full
            on_cpu = device is None or torch.device(device).type == "cpu"
            grouped = (self.u > 1 and len(self.runs) > plan.grouped_min_runs and self.m * self.u <= 1.25 * n
                       and (plan.grouped_on_cpu or not on_cpu))
        self.grouped = grouped
        self._stacked: dict[str, torch.Tensor] = {}
        self._moved: dict[tuple[int, str], torch.Tensor] = {}  # (id of a state dict, key) -> converted

    @classmethod
    def from_states(cls, states: Sequence[Params], device: Any = None, dtype: torch.dtype | None = None,
                    plan: ConvPlan = DEFAULT_PLAN) -> "Nets":
        unique: dict[int, int] = {}
        ordered: list[Params] = []
        for s in states:
            if id(s) not in unique:
                unique[id(s)] = len(ordered)
                ordered.append(s)
        return cls(ordered, [unique[id(s)] for s in states], device, dtype=dtype, plan=plan)

    @property
    def p(self) -> Params:
        """The first network's parameters (names and shapes are shared by all networks)."""
        return self.states[0]

    def images_per_net(self) -> list[list[int]]:
        """The images of each network, in network order."""
        rows: list[list[int]] = [[] for _ in range(self.u)]
        for image, net in enumerate(self.assign):
            rows[net].append(image)
        return rows

    def subset(self, images: Sequence[int]) -> "Nets":
        """The networks of ``images`` (no weights are copied)."""
        used = sorted({self.assign[i] for i in images})
        remap = {net: j for j, net in enumerate(used)}
        sub = Nets([self.states[net] for net in used], [remap[self.assign[i]] for i in images], self.device,
                   dtype=self.dtype, plan=self.plan)
        sub._moved = self._moved  # weights converted once per batch, whichever subset asks first
        return sub

    def _weight(self, net: int, key: str) -> torch.Tensor:
        w = self.states[net].get(key)
        if w is None:
            return self._derived(net, key)
        same_device = self.device is None or w.device == torch.device(self.device)
        # a conv weight on the CPU in oneDNN's layout, else reordered at every call
        target = w.device if same_device else torch.device(self.device)
        reorder = self.plan.channels_last and w.dim() == 4 and target.type == "cpu"
        if same_device and (self.dtype is None or w.dtype == self.dtype) and not reorder:
            return w
        cached = (id(self.states[net]), key)  # by state dict, so subsets share the conversions
        if cached not in self._moved:  # another device, dtype or layout: convert each weight once per batch
            moved = w.to(self.device if not same_device else w.device, self.dtype or w.dtype)
            self._moved[cached] = moved.contiguous(memory_format=torch.channels_last) if reorder else moved
        return self._moved[cached]

    def _derived(self, net: int, key: str) -> torch.Tensor:
        """A weight computed from a network's own (``DERIVED``), once per state dict and batch."""
        state, name = self.states[net], key.rsplit(".", 1)[0]
        if name not in DERIVED:
            raise KeyError(key)
        if (id(state), key) not in self._moved:
            for part, value in DERIVED[name](state).items():
                device = value.device if self.device is None else self.device
                self._moved[(id(state), f"{name}.{part}")] = value.to(device, self.dtype or value.dtype)
        return self._moved[(id(state), key)]

    def _stack(self, key: str) -> torch.Tensor:
        if key not in self._stacked:
            self._stacked[key] = torch.stack([self._weight(net, key) for net in range(self.u)])
        return self._stacked[key]

    def conv(self, x: torch.Tensor, name: str, stride: int = 1, padding: int = 0,
             transpose: bool = False) -> torch.Tensor:
        """Image i of x (N, C, H, W) through its network's conv ``name``."""
        fn = F.conv_transpose2d if transpose else F.conv2d
        wk, bk = f"{name}.weight", f"{name}.bias"
        if self.u == 1:
            return fn(x, self._weight(0, wk), self._weight(0, bk), stride=stride, padding=padding)
        if not self.grouped:
            if self.order is None:
                src, runs = x, self.runs
            else:
                src, runs = x[self.order], self.sorted_runs
            out = torch.cat([fn(src[a:b], self._weight(net, wk), self._weight(net, bk), stride=stride,
                                padding=padding) for a, b, net in runs])
            return out if self.order is None else out[self.inverse]
        w, b = self._stack(wk), self._stack(bk)
        n, c, h, wd = x.shape
        dense = self.m == 1 and self.slots == list(range(n))
        if dense:
            packed = x.reshape(1, n * c, h, wd)
        else:
            packed = torch.cat([x, x.new_zeros(1, c, h, wd)])[self.slots].reshape(self.m, self.u * c, h, wd)
        out = fn(packed, w.reshape(-1, *w.shape[2:]), b.reshape(-1), stride=stride, padding=padding, groups=self.u)
        out = out.reshape(self.m * self.u, -1, *out.shape[2:])
        return out if dense else out[self.pos]


def edsr_subpixel_tail(state: Params) -> Params:
    """EDSR's last conv (``tail.1``) and ``add_mean`` as one 3x3 conv on the last upsampler's output
    *before* its pixel shuffle, followed by a pixel shuffle of 12 channels (same arithmetic).

    Output pixel (2i + a, 2j + b) of a 3x3 conv on the shuffled image reads shuffled pixels
    (2i + a + ky - 1, 2j + b + kx - 1), which are pre-shuffle pixel (i + dy, j + dx), channel
    (c, p, q) with 2 dy + p = a + ky - 1 and 2 dx + q = b + kx - 1. So the full-size conv with 3
    output channels (87 M multiply-adds per 224 px image, at a poor rate: 3 output channels) becomes a
    half-size conv with 12 (at the full rate), and the 256-channel shuffle before it goes away.
    """
    w, bias = state["tail.1.weight"].float(), state["tail.1.bias"].float()  # (3, C, 3, 3)
    mix, shift = state["add_mean.weight"].float()[:, :, 0, 0], state["add_mean.bias"].float()
    w, bias = torch.einsum("oc,cikl->oikl", mix, w), mix @ bias + shift
    out_c, in_c = w.shape[:2]
    sub = w.new_zeros(out_c, 2, 2, in_c, 2, 2, 3, 3)  # (out, a, b, in, p, q, dy, dx)
    for a in (0, 1):
        for ky in range(3):
            dy, p = divmod(a + ky - 1, 2)
            for b in (0, 1):
                for kx in range(3):
                    dx, q = divmod(b + kx - 1, 2)
                    sub[:, a, b, :, p, q, dy + 1, dx + 1] = w[:, :, ky, kx]
    return {"weight": sub.reshape(out_c * 4, in_c * 4, 3, 3), "bias": bias.repeat_interleave(4)}


DERIVED = {"tail_subpixel": edsr_subpixel_tail}  # conv name -> its weights, computed from a state dict


def stack_states(states: Sequence[dict[str, torch.Tensor]], device: Any = None,
                 dtype: torch.dtype | None = None, plan: ConvPlan = DEFAULT_PLAN) -> Nets:
    """The networks of N images (state dicts shared between images are stacked once)."""
    return Nets.from_states(states, device, dtype, plan)


def gconv(x: torch.Tensor, p: Nets, name: str, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """Per-image conv: image i through its own network's conv ``name``."""
    return p.conv(x, name, stride, padding)


def gconv_t(x: torch.Tensor, p: Nets, name: str, stride: int = 2) -> torch.Tensor:
    """Per-image transposed conv."""
    return p.conv(x, name, stride, transpose=True)


def _stacked(ops: Sequence[FeatureOp], field: str) -> list[int]:
    return [i for i, op in enumerate(ops) if getattr(op, field) is not None]


def apply_ops(x: torch.Tensor, ops: Sequence[FeatureOp]) -> torch.Tensor:
    """Each image's FeatureOp on its own features, in the order of ``FeatureOp.apply``."""
    n, c, h, w = x.shape
    if idx := _stacked(ops, "index"):
        index = torch.arange(c, device=x.device).repeat(n, 1)
        for i in idx:
            index[i] = ops[i].index
        x = x.gather(1, index[:, :, None, None].expand_as(x))
    if idx := _stacked(ops, "mask"):
        mask = torch.ones_like(x)
        for i in idx:
            mask[i] = ops[i].mask.expand(c, h, w)
        x = x * mask
    for field, dim in (("flip_h", 2), ("flip_w", 3)):
        if idx := _stacked(ops, field):
            flags = torch.zeros(n, c, dtype=torch.bool, device=x.device)
            for i in idx:
                flags[i] = getattr(ops[i], field)
            x = torch.where(flags[:, :, None, None], x.flip(dim), x)
    for act, fn in (("relu", F.relu), ("gelu", F.gelu)):
        sel = torch.tensor([op.act == act for op in ops], device=x.device)
        if bool(sel.any()):
            x = torch.where(sel[:, None, None, None], fn(x), x)
    if idx := _stacked(ops, "kernel"):
        sub = x[idx]
        kernels = torch.stack([ops[i].kernel for i in idx]).to(x.dtype)
        mixed = F.conv2d(sub.reshape(1, -1, h, w), kernels.reshape(-1, c, 3, 3), padding=1, groups=len(idx))
        x = x.clone()
        x[idx] = mixed.view(len(idx), c, h, w)
    return x


# ---- EDSR ---------------------------------------------------------------------------------------

def _edsr_body(p: Nets, x: torch.Tensor, layers: Sequence[int], n_blocks: int, mid: list[FeatureOp] | None,
               single: bool) -> torch.Tensor:
    res = x
    for pos, i in enumerate(layers):
        inp = x if single else res
        if i == n_blocks:
            res = gconv(inp, p, f"body.{i}", padding=1)
        else:
            hid = F.relu(gconv(inp, p, f"body.{i}.body.0", padding=1), inplace=True)
            res = gconv(hid, p, f"body.{i}.body.2", padding=1).add_(inp)
        if mid is not None and i == 4:
            res = apply_ops(res, mid)
    return res


def edsr_forward(p: Nets, x: torch.Tensor, pres: Sequence[FeatureOp], bodies: Sequence[Any]) -> torch.Tensor:
    """Batched EDSR on images in [0, 255], each image through its own network (``p``) and ops."""
    n_blocks = sum(1 for k in p.p if k.endswith(".body.0.weight"))
    x = gconv(x, p, "sub_mean")
    x = apply_ops(gconv(x, p, "head.0", padding=1), pres)
    groups: dict[tuple, list[int]] = {}
    for i, op in enumerate(bodies):
        if op.name == "none" or op.mid is not None:
            key: tuple = ("chain", tuple(range(n_blocks + 1)), True)
        else:
            kind, kept = op.route(n_blocks + 1)
            key = (kind, kept, False)
        groups.setdefault(key, []).append(i)
    res = torch.empty_like(x)
    for (kind, layers, with_mid), idx in groups.items():
        sub = p.subset(idx)
        mid = [bodies[i].mid or FeatureOp("none") for i in idx] if with_mid else None
        res[idx] = _edsr_body(sub, x[idx], layers, n_blocks, mid, kind == "single")
    x = res + x
    n_up = sum(1 for k in p.p if k.startswith("tail.0.") and k.endswith(".weight"))
    for j in range(n_up - 1):
        x = F.pixel_shuffle(gconv(x, p, f"tail.0.{2 * j}", padding=1), 2)  # keeps channels-last
    if n_up == 0:
        return gconv(gconv(x, p, "tail.1", padding=1), p, "add_mean")
    x = gconv(x, p, f"tail.0.{2 * (n_up - 1)}", padding=1)  # the last upsampler, before its shuffle
    return F.pixel_shuffle(gconv(x, p, "tail_subpixel", padding=1), 2)  # tail.1 + add_mean, then shuffle


# ---- CAE ----------------------------------------------------------------------------------------

def _cae_block(p: Nets, x: torch.Tensor, name: str) -> torch.Tensor:
    h = F.leaky_relu(gconv(x, p, f"{name}.1", padding=1), inplace=True)  # = zero-pad 1 then an unpadded conv
    return gconv(h, p, f"{name}.4", padding=1).add_(x)


def cae_forward(p: Nets, x: torch.Tensor, ops: Sequence[FeatureOp]) -> torch.Tensor:
    """Batched CAE on images in [0, 1]; ``ops`` carry each image's latent distortion and noise.

    The latent (distortion and binarisation) is computed in fp32 whatever the networks run in."""
    x = F.leaky_relu(gconv(_pad(x, (1, 2, 1, 2), p.plan), p, "e_conv_1.1", stride=2), inplace=True)
    x = F.leaky_relu(gconv(_pad(x, (1, 2, 1, 2), p.plan), p, "e_conv_2.1", stride=2), inplace=True)
    for name in ("e_block_1", "e_block_2", "e_block_3"):
        x = _cae_block(p, x, name)
    z = apply_ops(torch.tanh(gconv(x, p, "e_conv_3.0", padding=2)).float(), ops)
    encoded = binarize(z, torch.stack([op.noise for op in ops]))
    if idx := _stacked(ops, "post_scale"):
        scale = torch.ones_like(encoded)
        for i in idx:
            scale[i] = ops[i].post_scale
        encoded = encoded * scale
    x = gconv(_layout((2 * encoded - 1).to(x.dtype), p.plan), p, "d_up_conv_1.0")
    x = gconv_t(_pad(F.leaky_relu(x, inplace=True), (1, 1, 1, 1), p.plan), p, "d_up_conv_1.3")
    for name in ("d_block_1", "d_block_2", "d_block_3"):
        x = _cae_block(p, x, name)
    x = gconv_t(_pad(F.leaky_relu(gconv(x, p, "d_up_conv_2.0"), inplace=True), (1, 1, 1, 1), p.plan), p,
                "d_up_conv_2.3")
    x = F.leaky_relu(gconv(x, p, "d_up_conv_3.0"), inplace=True)
    return torch.tanh(gconv(_layout(F.pad(x, (2, 2, 2, 2), mode="reflect"), p.plan), p, "d_up_conv_3.3"))


# ---- sampling + running, both paths -------------------------------------------------------------

def sample_acts(method: str, g: Any, n: int, shape: tuple[int, int, int], faithful: bool = True) -> list[Any]:
    """Per-image activation draws: EDSR (pre, body) pairs on the head features, or CAE latent ops."""
    if method == "edsr":
        return [sample_edsr_acts(g, shape, faithful) for _ in range(n)]
    return [sample_cae_latent(g, shape, faithful) for _ in range(n)]


def draw_images(method: str, chain: Any, images: Sequence[torch.Tensor], g: Any,
                faithful: bool = True) -> list[tuple[dict[str, torch.Tensor], Any]]:
    """Each image's network and activation draws in the released order: before each image the chain may
    draw a fresh network (p 0.05), then that image's activation distortions are drawn."""
    out = []
    for x in images:
        state = chain.next()
        n_feats = state["head.0.weight"].shape[0] if method == "edsr" else 32
        out.append((state, sample_acts(method, g, 1, act_shape(method, x, n_feats), faithful)[0]))
    return out


def act_shape(method: str, x: torch.Tensor, n_feats: int = 64) -> tuple[int, int, int]:
    h, w = x.shape[-2:]
    return (n_feats, h, w) if method == "edsr" else (32, h // 4, w // 4)


def run_batched(method: str, states: Sequence[dict[str, torch.Tensor]], x: torch.Tensor, g: Any,
                faithful: bool = True, acts: Sequence[Any] | None = None, precision: str = "fp32",
                plan: ConvPlan = DEFAULT_PLAN) -> torch.Tensor:
    """Distort a batch in [0, 1], image i through ``states[i]``; returns fp32 in [0, 1] (EDSR: x4 larger).

    ``acts`` are pre-drawn activation distortions (``sample_acts``); by default they are drawn here.
    ``precision`` is what the networks compute in (:func:`compute_dtype`); ``fp32`` is the released code's.
    ``plan`` says how the convolutions run (any plan gives the same images).
    """
    if acts is None:
        n_feats = states[0]["head.0.weight"].shape[0] if method == "edsr" else 32
        acts = sample_acts(method, g, len(states), act_shape(method, x, n_feats), faithful)
    p = stack_states(states, x.device, compute_dtype(x.device, precision), plan)
    on_cpu = x.device.type == "cpu"
    if p.grouped or (p.u == 1 and not on_cpu):
        return _forward(method, p, x, acts)
    # each network's images as one plain batch (on a CPU, in cache-sized chunks), then reassemble
    groups = p.images_per_net()
    if on_cpu:
        chunk = plan.cpu_chunk
        groups = [images[i:i + chunk] for images in groups for i in range(0, len(images), chunk)]
    if len(groups) > 1 or groups[0] != list(range(len(states))):
        parts = [(images, _forward(method, p.subset(images), x[images], [acts[i] for i in images]))
                 for images in groups]
        out = parts[0][1].new_empty(len(states), *parts[0][1].shape[1:])
        for images, part in parts:
            if images == list(range(images[0], images[-1] + 1)):
                out[images[0]:images[-1] + 1] = part
            else:
                out[images] = part
        return out
    return _forward(method, p, x, acts)


def _forward(method: str, p: Nets, x: torch.Tensor, acts: Sequence[Any]) -> torch.Tensor:
    dtype = p.dtype or x.dtype
    with torch.no_grad(), ieee_fp32(x.device, dtype):
        if method == "edsr":
            out = edsr_forward(p, _layout((x * 255).to(dtype), p.plan), [a[0] for a in acts], [a[1] for a in acts])
            return out.float().clamp(0, 255) / 255
        return cae_forward(p, _layout(x.to(dtype), p.plan), acts).float().clamp(0, 1)


def run_one(method: str, model: torch.nn.Module, state: dict[str, torch.Tensor], x: torch.Tensor, g: Any,
            faithful: bool = True, act: Any = None) -> torch.Tensor:
    """The reference path: load ``state`` into ``model`` and distort one image (1, 3, H, W) in fp32, with the
    activation draws ``act`` (drawn here from ``g`` when not given)."""
    model.load_state_dict(state)
    if act is None:
        n_feats = getattr(model, "n_feats", 32)
        (act,) = sample_acts(method, g, 1, act_shape(method, x, n_feats), faithful)
    with torch.no_grad(), ieee_fp32(x.device, torch.float32):
        if method == "edsr":
            return model(x * 255, pre=act[0], body=act[1]).clamp(0, 255) / 255
        return model(x, op=act).clamp(0, 1)
