"""EDSR and CAE: published parameter names, loading weight files, shapes."""

from __future__ import annotations

import pytest
import torch

from curation.errors import CurateError
from models.deepaugment import cae, edsr

PUBLISHED_EDSR = (["sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias",
                   "head.0.weight", "head.0.bias"]
                  + [f"body.{i}.body.{j}.{p}" for i in range(16) for j in (0, 2) for p in ("weight", "bias")]
                  + ["body.16.weight", "body.16.bias", "tail.0.0.weight", "tail.0.0.bias", "tail.0.2.weight",
                     "tail.0.2.bias", "tail.1.weight", "tail.1.bias"])
PUBLISHED_CAE = {
    "e_conv_1.1": (64, 3, 5, 5), "e_conv_2.1": (128, 64, 5, 5),
    **{f"e_block_{b}.{j}": (128, 128, 3, 3) for b in (1, 2, 3) for j in (1, 4)},
    "e_conv_3.0": (32, 128, 5, 5), "d_up_conv_1.0": (64, 32, 3, 3), "d_up_conv_1.3": (64, 128, 2, 2),
    **{f"d_block_{b}.{j}": (128, 128, 3, 3) for b in (1, 2, 3) for j in (1, 4)},
    "d_up_conv_2.0": (32, 128, 3, 3), "d_up_conv_2.3": (32, 256, 2, 2), "d_up_conv_3.0": (16, 256, 3, 3),
    "d_up_conv_3.3": (3, 16, 3, 3)}


def published_edsr_state() -> dict[str, torch.Tensor]:
    """A state dict written only from the published names and shapes (64 features, x4)."""
    g = torch.Generator().manual_seed(0)
    shapes = {"head.0.weight": (64, 3, 3, 3), "body.16.weight": (64, 64, 3, 3), "tail.0.0.weight": (256, 64, 3, 3),
              "tail.0.2.weight": (256, 64, 3, 3), "tail.1.weight": (3, 64, 3, 3)}
    state = {}
    for name in PUBLISHED_EDSR:
        if name.startswith(("sub_mean", "add_mean")):
            continue
        if name.endswith("bias"):
            shape = shapes.get(name.replace("bias", "weight"), (64, 64, 3, 3))[:1]
        else:
            shape = shapes.get(name, (64, 64, 3, 3))
        state[name] = torch.randn(shape, generator=g) * 0.01
    return state


def test_edsr_has_published_names():
    assert list(edsr.EDSR().state_dict()) == PUBLISHED_EDSR


def test_loading_published_edsr_file(tmp_path):
    state = published_edsr_state()
    path = tmp_path / "edsr_baseline_x4.pt"
    torch.save({f"module.{k}": v for k, v in state.items()}, path)  # a DataParallel-style file too
    model = edsr.build(str(path))
    for name, value in state.items():
        assert torch.equal(model.state_dict()[name], value)
    assert model.sub_mean.bias[0].item() == pytest.approx(-255 * 0.4488)
    out = model(torch.rand(1, 3, 6, 5) * 255)
    assert out.shape == (1, 3, 24, 20)


def test_loading_published_cae_file(tmp_path):
    g = torch.Generator().manual_seed(1)
    state = {}
    for name, shape in PUBLISHED_CAE.items():
        state[f"{name}.weight"] = torch.randn(shape, generator=g) * 0.01
        bias = shape[1] if name in ("d_up_conv_1.3", "d_up_conv_2.3") else shape[0]  # ConvTranspose: (in, out)
        state[f"{name}.bias"] = torch.randn(bias, generator=g) * 0.01
    path = tmp_path / "model_final.state"
    torch.save(state, path)
    model = cae.build(str(path))
    assert set(model.state_dict()) == set(state)
    for name, value in state.items():
        assert torch.equal(model.state_dict()[name], value)


def test_wrong_file_is_refused(tmp_path, cae_weights):
    with pytest.raises(CurateError, match="do not fit"):
        edsr.build(str(cae_weights))
    with pytest.raises(CurateError, match="not found"):
        cae.build(str(tmp_path / "missing.state"))


def test_shapes_and_ranges():
    x = torch.rand(2, 3, 16, 20)
    assert edsr.EDSR(n_feats=8)(x * 255).shape == (2, 3, 64, 80)
    model = cae.CAE()
    y = model(x, noise=torch.rand(2, 32, 4, 5))
    assert y.shape == x.shape and y.abs().max() <= 1
    assert model.encode(x).shape == (2, 32, 4, 5)


def test_binarize_is_stochastic_sign_with_straight_through_gradient():
    z = torch.tensor([-1.0, -0.2, 0.5, 1.0], requires_grad=True)
    out = cae.binarize(z, torch.tensor([0.1, 0.45, 0.8, 0.99]))
    assert out.tolist() == [0.0, 0.0, 0.0, 1.0]
    out.sum().backward()
    assert z.grad.tolist() == [0.5] * 4
