"""Faithful CAE DeepAugment equals the released ``CAE_distort_imagenet.py`` + ``cae_32x32x32_zero_pad_bin.py``,
draw for draw.

The release (get_weights, ``CAE.forward`` with its latent distortions and stochastic binarisation,
``decode``, the per-image loop) is transcribed here from ../shared/reference/deepaugment.md in plain
torch on a state dict, one image at a time; every draw ``curate`` makes is recorded and replayed into
it. Random weights stand in for ``model_final.state``. One image size (50 x 66) is not a multiple of 4.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.deepaugment import batched as B
from models.deepaugment import distortions as D
from models.deepaugment.cae import CAE
from tests.models.deepaugment.replay import Recorder, Replay

SIZES = [(48, 64), (64, 96), (50, 66), (48, 64)]
RATE = 0.5
BLOCKS = lambda p: [f"{p}.1", f"{p}.4"]  # noqa: E731
LAYERS = (["e_conv_1.1", "e_conv_2.1"] + BLOCKS("e_block_1") + BLOCKS("e_block_2") + BLOCKS("e_block_3")
          + ["e_conv_3.0", "d_up_conv_1.0", "d_up_conv_1.3"] + BLOCKS("d_block_1") + BLOCKS("d_block_2")
          + BLOCKS("d_block_3") + ["d_up_conv_2.0", "d_up_conv_2.3", "d_up_conv_3.0", "d_up_conv_3.3"])
OPTION_LAYERS = {0: range(11, 16), 3: range(10, 14)}  # the others: range(8, 14)


# ---- the transcription ---------------------------------------------------------------------------

def released_get_weights(clean: dict, r: Replay) -> dict:
    w = {k: v.clone() for k, v in clean.items()}
    option = r.choice(range(8))
    i, j = r.choice(OPTION_LAYERS.get(option, range(8, 14))), r.choice(OPTION_LAYERS.get(option, range(8, 14)))
    weight_i, bias_i, weight_j = f"{LAYERS[i]}.weight", f"{LAYERS[i]}.bias", f"{LAYERS[j]}.weight"
    bias_j = f"{LAYERS[j]}.weight"  # sic: the released typo
    if option == 0:
        for name in (weight_i, bias_i, weight_j, bias_j):
            w[name] = torch.flip(w[name], (0,))
    elif option in (1, 2, 3):
        for k in [r.integer(0, w[weight_i].size()[0]) for _ in range((12, 25, 25)[option - 1])]:
            fn = (lambda t: -t, lambda t: 0 * t, lambda t: -F.gelu(t))[option - 1]
            w[weight_i][k], w[bias_i][k] = fn(w[weight_i][k]), fn(w[bias_i][k])
    elif option == 4:
        w[weight_i] = w[weight_i] * (1 + 2 * r.uniform() * (4 * r.rand(*w[weight_i].shape)))
        w[weight_j] = w[weight_j] * (1 + 2 * r.uniform() * (4 * r.rand(*w[weight_j].shape)))
    elif option == 5:
        if r.uniform() < 0.5:
            mask = torch.round(r.rand(*w[weight_i].shape))
        else:
            mask = torch.round(r.rand(*w[weight_i].shape)) * 2 - 1
        w[weight_i] *= mask
    elif option == 6:
        w[weight_i] = torch.rot90(w[weight_i], k=r.integer(1, 4), dims=(2, 3))
    elif option == 7:
        out_filters = w[weight_i].shape[0]
        to_zero = list(set([r.integer(0, out_filters) for _ in range(out_filters // 5)]))
        w[weight_i][to_zero] = w[weight_i][to_zero] * -1.0
    return w


def released_latent(ec3: torch.Tensor, option: int, r: Replay) -> torch.Tensor:
    c = ec3.shape[1]
    if option == 1:
        ec3 = ec3 * (r.rand(*ec3.shape[2:]) > 0.2).float()
    elif option == 2:
        ec3 = ec3 * (((r.rand(*ec3.shape[2:]) > 0.1).float() * 2) - 1)
    elif option == 3:
        ec3 = ec3[:, r.permutation(10) + list(range(10, c))]
    elif option in (4, 5):
        r.integer(1, 4)  # _k, unused
        dims = [[0, 1, 2][p] for p in r.permutation(3)][:2]
        for k in range(5 if option == 4 else c):
            if option == 5 and k == c / 2:
                dims = [dims[1], dims[0]]
            f = r.integer(0, c) if option == 4 else k
            ec3[:, f] = torch.flip(ec3[:, f], dims=dims)
    elif option in (6, 7, 8):
        z = torch.zeros(c, c, 3, 3)
        if option == 8:
            shift_x, shift_y = r.integers(0, 3, 2)
        for j in range(c):
            if option == 8:
                if r.uniform() < 0.2:
                    shift_x, shift_y = r.integers(0, 3, 2)
                z[j, j, shift_x, shift_y] = 1
                continue
            z[j, j, 1, 1] = 1
            if option == 7 and r.uniform() < 0.5:
                rand_layer = r.integer(0, c)
                z[j, rand_layer, r.integer(-1, 2), r.integer(-1, 2)] = 1
        if option == 6:
            z = z + ((r.rand(*z.shape) - 0.5) * 0.2)
        ec3 = F.conv2d(ec3, z, padding=1)
    return ec3


def released_forward(w: dict, x: torch.Tensor, r: Replay) -> torch.Tensor:
    conv = lambda t, name, **kw: F.conv2d(t, w[f"{name}.weight"], w[f"{name}.bias"], **kw)  # noqa: E731
    up = lambda t, name: F.conv_transpose2d(t, w[f"{name}.weight"], w[f"{name}.bias"], stride=2)  # noqa: E731
    lrelu = F.leaky_relu

    def block(t: torch.Tensor, name: str) -> torch.Tensor:
        return conv(F.pad(lrelu(conv(F.pad(t, (1, 1, 1, 1)), f"{name}.1")), (1, 1, 1, 1)), f"{name}.4") + t

    t = lrelu(conv(F.pad(x, (1, 2, 1, 2)), "e_conv_1.1", stride=2))
    t = lrelu(conv(F.pad(t, (1, 2, 1, 2)), "e_conv_2.1", stride=2))
    for name in ("e_block_1", "e_block_2", "e_block_3"):
        t = block(t, name)
    ec3 = torch.tanh(conv(t, "e_conv_3.0", padding=2))
    option = r.choice(range(9))
    ec3 = released_latent(ec3, option, r)
    rand = r.rand(*ec3.shape)
    prob = (1 + ec3) / 2
    eps = torch.zeros(ec3.shape)
    eps[rand <= prob] = (1 - ec3)[rand <= prob]
    eps[rand > prob] = (-ec3 - 1)[rand > prob]
    encoded = 0.5 * (ec3 + eps + 1)
    if option == 0:
        encoded = encoded * (3 + 2 * r.uniform() * (2 * r.rand(*encoded.shape)))
    y = encoded * 2.0 - 1
    t = up(F.pad(lrelu(conv(y, "d_up_conv_1.0")), (1, 1, 1, 1)), "d_up_conv_1.3")
    for name in ("d_block_1", "d_block_2", "d_block_3"):
        t = block(t, name)
    t = up(F.pad(lrelu(conv(t, "d_up_conv_2.0")), (1, 1, 1, 1)), "d_up_conv_2.3")
    t = lrelu(conv(t, "d_up_conv_3.0"))
    return torch.tanh(conv(F.pad(t, (2, 2, 2, 2), mode="reflect"), "d_up_conv_3.3"))


def released_loop(clean: dict, images: list[torch.Tensor], r: Replay) -> list[torch.Tensor]:
    net = released_get_weights(clean, r)
    outs = []
    for x in images:
        if r.uniform() < RATE:
            net = released_get_weights(clean, r)
        outs.append(released_forward(net, x, r).clamp(0, 1))
    r.done()
    return outs


# ---- the implementation, with its draws recorded --------------------------------------------------

@pytest.fixture(scope="module")
def clean() -> dict:
    torch.manual_seed(0)
    return {k: v.clone() for k, v in CAE().state_dict().items()}


@pytest.mark.parametrize("option", range(8))
def test_cae_faithful_equals_release(option, clean):
    """Every network drawn uses weight option ``option``; the nine latent options cycle over the images."""
    latents = [(4 * option + i) % 9 for i in range(len(SIZES))]
    rec = Recorder(200 + option, {("choice", (tuple(range(8)),)): [option] * (len(SIZES) + 1),
                                  ("choice", (tuple(range(9)),)): latents})
    g = torch.Generator().manual_seed(option)
    images = [torch.rand(1, 3, h, w, generator=g) for h, w in SIZES]
    chain = D.ResamplingChain("cae", clean, rec, faithful=True, rate=RATE)
    with torch.no_grad():
        drawn = B.draw_images("cae", chain, images, rec, faithful=True)
        model = CAE().eval()
        one = [B.run_one("cae", model, s, x, None, act=a) for x, (s, a) in zip(images, drawn)]
        batched = [B.run_batched("cae", [s], x, None, acts=[a], precision="fp32") for x, (s, a) in zip(images, drawn)]
        same = [i for i, size in enumerate(SIZES) if size == SIZES[0]]  # two images of one size, in one batch
        pair = B.run_batched("cae", [drawn[i][0] for i in same], torch.cat([images[i] for i in same]), None,
                             acts=[drawn[i][1] for i in same], precision="fp32")
        want = released_loop(clean, images, Replay(rec.log))
    for k, i in enumerate(same):
        batched[i] = pair[k:k + 1]
    for got_one, got_batched, ref, (h, w) in zip(one, batched, want, SIZES):
        assert got_one.shape == got_batched.shape == ref.shape == (1, 3, h // 4 * 4, w // 4 * 4)
        assert float((got_one - ref).abs().max()) <= 1e-5
        assert float((got_batched - ref).abs().max()) <= 1e-5
        assert 0.01 < float(((ref > 0) & (ref < 1)).float().mean())  # not all clamped away: a real comparison
