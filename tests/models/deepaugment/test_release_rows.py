"""Distributions of the draws that once differed from the release (issue 14), in both modes, and the
release's image sizing (torchvision ``Resize``) and saving (``to_pil_image``) checked against torchvision."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from models.deepaugment import activations as A
from models.deepaugment import distortions as D
from models.deepaugment import rand
from models.deepaugment.cae import cae_weight_names
from tests.models.deepaugment.replay import Recorder

# option id -> the blocks the release draws one from (np.arange(0, 10, 3), arange(1, 10, 3), arange(1, 13, 4) ...)
ONE_BLOCK = {0: {0, 3, 6, 9}, 1: {1, 4, 7}, 2: {0, 3, 6, 9}, 3: {0, 3, 6, 9}, 4: {0, 3, 6, 9}, 5: {0, 3, 6, 9},
             6: {0, 3, 6, 9}, 7: {0, 3, 6, 9}, 8: {1, 5, 9}, 9: {0, 3, 6, 9}, 10: {1, 5, 9}}


def tiny_edsr_state(n: int = 4) -> dict:
    g = torch.Generator().manual_seed(0)
    state = {}
    for i in range(16):
        for j in (0, 2):
            state[f"body.{i}.body.{j}.weight"] = torch.randn(n, n, 3, 3, generator=g)
            state[f"body.{i}.body.{j}.bias"] = torch.randn(n, generator=g)
    return state


def touched_blocks(clean: dict, new: dict) -> set[int]:
    return {int(k.split(".")[1]) for k in clean if not torch.equal(clean[k], new[k])}


@pytest.mark.parametrize("faithful", [True, False])
@pytest.mark.parametrize("option", sorted(ONE_BLOCK))
def test_edsr_options_0_to_10_change_exactly_one_block(option, faithful):
    clean, g = tiny_edsr_state(), torch.Generator().manual_seed(option)
    seen = set()
    for _ in range(120):
        blocks = touched_blocks(clean, D.perturb_edsr(clean, g, faithful, [list(D.EDSR_WEIGHT)[option]]))
        assert len(blocks) == 1
        seen |= blocks
    assert seen == ONE_BLOCK[option]  # one block, drawn from the whole listed set


def spread(new: Any, old: Any, width: int) -> float:
    """u read off a weight scaled by 1 + 2u(width U) (or its centred form): (max - min) of the factor / 2 width."""
    ratio = new / old
    return float(ratio.max() - ratio.min()) / (2 * width)


@pytest.mark.parametrize("faithful", [True, False])
@pytest.mark.parametrize("name", ["scale", "smooth-noise"])
def test_edsr_u_is_drawn_at_each_application(name, faithful):
    """Options 6 and 9 make one u draw per application; two blocks scaled by option 6 show two u."""
    clean, rec = tiny_edsr_state(), Recorder(3)
    differs = pairs = 0
    for _ in range(40):
        new = D.perturb_edsr(clean, rec, faithful, [name, name])
        blocks = sorted(touched_blocks(clean, new))
        if len(blocks) == 2 and name == "scale":
            u = [spread(new[f"body.{b}.body.2.weight"], clean[f"body.{b}.body.2.weight"], 2) for b in blocks]
            pairs += 1
            differs += abs(u[0] - u[1]) > 0.05 * max(u)
    assert rec.count("uniform") == 80  # one u per application, not one per option
    assert name != "scale" or differs >= pairs * 0.7 > 10


@pytest.mark.parametrize("faithful", [True, False])
def test_pre_dropout_keeps_95_percent(faithful):
    mask = A.feature_dropout(rand.source(torch.Generator().manual_seed(0)), (64, 128, 128), faithful).mask
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert abs(float(mask.mean()) - 0.95) <= 0.005


@pytest.mark.parametrize("faithful", [True, False])
def test_pre_sign_mask_flips_2_5_percent(faithful):
    mask = A.sign_mask(rand.source(torch.Generator().manual_seed(0)), (64, 128, 128), faithful).mask
    assert set(mask.unique().tolist()) == {-1.0, 1.0}
    assert abs(float((mask < 0).float().mean()) - 0.025) <= 0.003


@pytest.mark.parametrize("faithful", [True, False])
def test_cae_scale_draws_its_own_u_per_layer(faithful):
    names = cae_weight_names()
    g = torch.Generator().manual_seed(2)
    clean = {n: torch.rand(8, 8, 3, 3, generator=g) + 0.5 for n in names}
    clean.update({n.replace("weight", "bias"): torch.zeros(8) for n in names})
    rec, differs = Recorder(4), 0
    for _ in range(30):
        new = dict(clean)
        D.CAE_WEIGHT["scale"](new, rec, faithful, 8, 9)
        u = [spread(new[names[k]], clean[names[k]], 4) for k in (8, 9)]
        differs += abs(u[0] - u[1]) > 0.05 * max(u)
    assert rec.count("uniform") == 60 and differs >= 20


def test_cae_flip_channels_uses_one_dim_pair_per_image():
    g = rand.source(torch.Generator().manual_seed(5))
    pairs = set()
    for _ in range(200):
        op = A.flip_channels(g, (32, 6, 6))
        flipped = {(bool(h), bool(w)) for h, w in zip(op.flip_h, op.flip_w) if h or w}
        assert len(flipped) <= 1  # every flipped channel over the same pair
        pairs |= flipped
    assert pairs == {(True, False), (False, True), (True, True)}  # (batch, H), (batch, W), (H, W)


def test_cae_extra_tap_is_set_not_added():
    """Force every channel to get its extra tap on its own centre: the kernel stays the identity."""
    rec = Recorder(6, {("uniform", ()): [0.0] * 32, ("integer", (0, 32)): list(range(32)),
                       ("integer", (-1, 2)): [1] * 64})
    kernel = A.extra_tap_conv(rec, (32, 4, 4)).kernel
    identity = torch.zeros(32, 32, 3, 3)
    identity[range(32), range(32), 1, 1] = 1
    assert torch.equal(kernel, identity)
    rec = Recorder(7)
    for _ in range(50):
        kernel = A.extra_tap_conv(rec, (32, 4, 4)).kernel
        assert float(kernel.max()) == 1.0 and set(kernel.unique().tolist()) == {0.0, 1.0}


# ---- sizing and saving, against torchvision -------------------------------------------------------

def jpeg(size: tuple[int, int]) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("size, side, want", [((500, 375), 128, (170, 128)), ((375, 500), 128, (128, 170)),
                                              ((500, 375), 512, (682, 512)), ((128, 200), 128, (128, 200))])
def test_resize_truncates_like_torchvision(size, side, want):
    from torchvision import transforms as trn

    from models.deepaugment.generate import _to_tensor, resized_size

    assert resized_size(*size, side) == want
    data = jpeg(size)
    for method in ("edsr", "cae"):  # the CAE gets the same size (no rounding to multiples of 4)
        ours = _to_tensor(data, side, method)
        with Image.open(io.BytesIO(data)) as img:
            theirs = trn.Compose([trn.Resize(side), trn.ToTensor()])(img.convert("RGB"))
        assert ours.shape == (1, 3, want[1], want[0])
        assert torch.equal(ours[0], theirs)


def test_saving_truncates_like_to_pil_image(tmp_path):
    from torchvision.transforms.functional import to_pil_image

    from models.deepaugment.generate import GenerateConfig, _save, to_uint8

    img = torch.rand(3, 20, 30, generator=torch.Generator().manual_seed(0))
    img[:, 0, 0] = torch.tensor([0.999, 254.9 / 255, 1.0])
    arr = to_uint8(img)
    assert arr[0, 0].tolist() == [254, 254, 255]  # truncated, not rounded
    assert np.array_equal(arr, np.asarray(to_pil_image(img)))
    row = {"path": "train/a/x.png", "sha256": "0" * 64, "subset": "train", "labels": ["a"], "source": "folder",
           "source_id": "1", "url": None, "owner": None, "license": None, "metadata": {}}
    saved = _save(row, img, GenerateConfig("edsr", "w.pt"), tmp_path)
    buf = io.BytesIO()
    to_pil_image(img).save(buf, format="JPEG")  # what the released `img.save("....JPEG")` writes
    assert (tmp_path / saved["path"]).read_bytes() == buf.getvalue()
