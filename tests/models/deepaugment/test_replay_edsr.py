"""Faithful EDSR DeepAugment equals the released ``EDSR_distort_imagenet.py``, draw for draw.

The release is transcribed here from ../shared/reference/deepaugment.md (get_weights, the distorted
forward, the per-image loop), one image at a time, in plain torch on a state dict; it shares nothing
with the implementation but the draws: every draw ``curate`` makes is recorded and replayed into it.
Small random weights (8 features, all 16 ResBlocks) stand in for ``edsr_baseline_x4.pt``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.deepaugment import batched as B
from models.deepaugment import distortions as D
from models.deepaugment.edsr import EDSR
from tests.models.deepaugment.replay import Recorder, Replay

MEAN = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1)
SIZES = [(48, 64), (64, 96), (48, 64), (64, 96)]
RATE = 0.5  # re-sample often, so that several networks (and the re-sampling draws) are exercised


# ---- the transcription ---------------------------------------------------------------------------

def released_get_weights(clean: dict, r: Replay) -> dict:
    w = {k: v.clone() for k, v in clean.items()}
    b = lambda i, j, p="weight": f"body.{i}.body.{j}.{p}"  # noqa: E731
    n = w[b(0, 0)].shape[0]
    for option in r.integers(0, 17, 3):
        if option in (0, 2, 3, 4, 5, 6, 7, 9):
            i = r.choice([0, 3, 6, 9])
        elif option == 1:
            i = r.choice([1, 4, 7])
        elif option in (8, 10):
            i = r.choice([1, 5, 9])
        if option == 0:
            for j in (0, 2):
                w[b(i, j)], w[b(i, j, "bias")] = torch.flip(w[b(i, j)], (0,)), torch.flip(w[b(i, j, "bias")], (0,))
        elif option == 1:
            w[b(i, 0)], w[b(i, 0, "bias")] = -w[b(i, 0)], -w[b(i, 0, "bias")]
        elif option == 2:
            w[b(i, 0)], w[b(i, 0, "bias")] = 0 * w[b(i, 0)], 0 * w[b(i, 0, "bias")]
        elif option == 3:
            w[b(i, 0)], w[b(i, 2)] = -F.gelu(w[b(i, 0)]), -F.gelu(w[b(i, 2)])
        elif option == 4:
            w[b(i, 0)] = w[b(i, 0)] * torch.Tensor([[0, 1, 0], [1, -4., 1], [0, 1, 0]]).view(1, 1, 3, 3)
        elif option == 5:
            w[b(i, 0)] = w[b(i, 0)] * torch.Tensor([[-1, -1, -1], [-1, 8., -1], [-1, -1, -1]]).view(1, 1, 3, 3)
        elif option == 6:
            w[b(i, 2)] = w[b(i, 2)] * (1 + 2 * r.uniform() * (2 * r.rand(*w[b(i, 2)].shape)))
        elif option == 7:
            w[b(i, 0)], w[b(i, 2)] = torch.flip(w[b(i, 0)], (-1,)), -1 * w[b(i, 2)]
        elif option == 8:
            z = torch.zeros_like(w[b(i, 0)])
            for j in range(z.size(0)):
                shift_x, shift_y = r.integers(0, 3, 2)
                z[:, j, shift_x, shift_y] = r.choice([1., -1.])
            w[b(i, 0)] = F.conv2d(w[b(i, 0)], z, padding=1)
        elif option == 9:
            z = (2 * r.rand(*w[b(i, 0)].shape) * r.uniform() - 1) / 6.
            w[b(i, 0)] = F.conv2d(w[b(i, 0)], z, padding=1)
        elif option == 10:
            z = torch.FloatTensor(r.dirichlet(0.1, 9, (n, n))).view(n, n, 3, 3)
            w[b(i, 2)] = F.conv2d(w[b(i, 2)], z, padding=1)
        elif option == 11:
            i = r.integer(0, 15)
            w[b(i, 2)] += (r.rand(*w[b(i, 2)].shape) - 0.5) * 1.0
        elif option in (12, 16):
            pairs = [[r.integer(0, 15), r.choice([0, 2])] for _ in range(5)]
            for i, j in pairs:
                if option == 12:
                    k = r.integer(1, 4)
                    dims = (2, 3) if r.integer(0, 2) == 0 else (0, 1)
                    w[b(i, j)] = torch.rot90(w[b(i, j)], k=k, dims=dims)
                else:
                    flat = torch.reshape(w[b(i, j)], shape=(n, n, 9))
                    top = torch.topk(flat, k=1)
                    w[b(i, j)] = torch.zeros_like(flat).scatter(2, top.indices, top.values).reshape(n, n, 3, 3)
        else:  # 13, 14, 15
            for i in [r.integer(0, 15) for _ in range(5)]:
                if option == 13:
                    w[b(i, 0)] = w[b(i, 0)] * (torch.round(r.rand(*w[b(i, 0)].shape)) * 2 - 1)
                elif option == 14:
                    w[b(i, 0)] = w[b(i, 0)] * torch.round(r.rand(*w[b(i, 0)].shape))
                else:
                    filters = [r.integer(0, n) for _ in range(32)]
                    w[b(i, 0)][filters] *= -1
    return w


def released_forward(w: dict, x: torch.Tensor, pre: int, body: int, r: Replay) -> torch.Tensor:
    conv = lambda t, name: F.conv2d(t, w[f"{name}.weight"], w[f"{name}.bias"], padding=1)  # noqa: E731
    n = w["head.0.weight"].shape[0]

    def layer(i: int, t: torch.Tensor) -> torch.Tensor:
        if i == 16:
            return conv(t, "body.16")
        res = conv(F.relu(conv(t, f"body.{i}.body.0")), f"body.{i}.body.2").mul(1)
        res += t
        return res

    def run(layers, t):
        for i in layers:
            t = layer(i, t)
        return t

    x = conv(x - 255 * MEAN, "head.0")  # sub_mean, head
    if pre == 1:
        for _ in range(5):
            c1, c2 = r.integer(0, n), r.integer(0, n)
            x[:, c1], x[:, c2] = x[:, c2], x[:, c1]
    if pre == 2:
        x = x * torch.round(r.rand(*x.shape) + 0.45)
    if pre == 3:
        x = x * ((torch.round(r.rand(*x.shape) + 0.475) * 2) - 1)
    if body == 1:
        res = run(range(5, 17), -run(range(5), x))
    elif body == 2:
        act = F.relu if r.integer(0, 3) == 1 else F.gelu
        res = run(range(5, 17), act(run(range(5), x)))
    elif body == 3:
        axes = [1, 2] if r.integer(0, 3) == 1 else [1, 3]
        res = run(range(5, 17), torch.flip(run(range(5), x), axes))
    elif body == 4:
        to_skip = set([r.integer(2, 17) for _ in range(3)])
        for i in range(17):
            if i not in to_skip:
                res = layer(i, x)
    else:
        res = run(range(17), x)
    res += x
    t = F.pixel_shuffle(conv(res, "tail.0.0"), 2)
    t = F.pixel_shuffle(conv(t, "tail.0.2"), 2)
    return conv(t, "tail.1") + 255 * MEAN  # tail, add_mean


def released_loop(clean: dict, images: list[torch.Tensor], r: Replay) -> list[torch.Tensor]:
    net = released_get_weights(clean, r)  # at start
    outs = []
    for x in images:
        if r.uniform() < RATE:
            net = released_get_weights(clean, r)
        pre, body = r.integer(1, 5), r.integer(1, 6)
        outs.append(released_forward(net, 255 * x, pre, body, r).clamp(0, 255) / 255.)
    r.done()
    return outs


# ---- the implementation, with its draws recorded --------------------------------------------------

@pytest.fixture(scope="module")
def clean() -> dict:
    torch.manual_seed(0)
    return {k: v.clone() for k, v in EDSR(n_feats=8).state_dict().items()}


def curate_paths(clean: dict, rec: Recorder, images: list[torch.Tensor]) -> tuple[list, list]:
    """The one-image path (``EDSR.forward``) and the batched path (images of one size together)."""
    chain = D.ResamplingChain("edsr", clean, rec, faithful=True, rate=RATE)
    drawn = B.draw_images("edsr", chain, images, rec, faithful=True)
    model = EDSR(n_feats=8).eval()
    one = [B.run_one("edsr", model, s, x, None, act=a) for x, (s, a) in zip(images, drawn)]
    batched: list = [None] * len(images)
    for size in set(SIZES):
        idx = [i for i, x in enumerate(images) if tuple(x.shape[-2:]) == size]
        out = B.run_batched("edsr", [drawn[i][0] for i in idx], torch.cat([images[i] for i in idx]), None,
                            acts=[drawn[i][1] for i in idx], precision="fp32")
        for k, i in enumerate(idx):
            batched[i] = out[k:k + 1]
    return one, batched


@pytest.mark.parametrize("option", range(17))
def test_edsr_faithful_equals_release(option, clean):
    """Every network drawn starts with weight option ``option``; pre ids 1-4 and body ids 1-5 cycle."""
    nets = [[option, (option + 5 + j) % 17, (option + 11 + 2 * j) % 17] for j in range(len(SIZES) + 1)]
    pres = [(option + i) % 4 + 1 for i in range(len(SIZES))]
    bodies = [(option + i) % 5 + 1 for i in range(len(SIZES))]
    rec = Recorder(100 + option, {("integers", (0, 17, 3)): nets, ("integer", (1, 5)): pres,
                                  ("integer", (1, 6)): bodies})
    g = torch.Generator().manual_seed(option)
    images = [torch.rand(1, 3, h, w, generator=g) for h, w in SIZES]
    with torch.no_grad():
        one, batched = curate_paths(clean, rec, images)
        want = released_loop(clean, images, Replay(rec.log))
    for got_one, got_batched, ref in zip(one, batched, want):
        assert got_one.shape == got_batched.shape == ref.shape
        assert float((got_one - ref).abs().max()) <= 1e-5
        assert float((got_batched - ref).abs().max()) <= 1e-5
        assert 0.01 < float(((ref > 0) & (ref < 1)).float().mean())  # not all clamped away: a real comparison
