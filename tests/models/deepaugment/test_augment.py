"""The ``Augmentation`` factories the training registry imports: noise2net and deepaugment-online."""

from __future__ import annotations

import pytest
import torch

from curation.errors import CurateError
from models.augment.base import Augmentation
from models.deepaugment.augment import deepaugment_online, noise2net


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_noise2net_factory():
    aug = noise2net(fraction=0.25)
    assert isinstance(aug, Augmentation) and aug.name == "noise2net" and aug.image_transform is None
    x = torch.rand(8, 3, 16, 16, generator=gen(0))
    y = aug.batch_transform(x, gen(1))
    assert torch.equal(y[2:], x[2:]) and not torch.equal(y[:2], x[:2])
    aug.batch_transform.set_epoch(3)
    with pytest.raises(ValueError, match="unknown options"):
        noise2net(bogus=1)


def test_online_needs_weights():
    with pytest.raises(CurateError, match="curate deepaugment fit"):
        deepaugment_online()


def test_online_deepaugment(edsr_weights, cae_weights):
    aug = deepaugment_online(edsr_weights=str(edsr_weights), cae_weights=str(cae_weights))
    assert aug.name == "deepaugment-online"
    x = torch.rand(1, 3, 22, 26, generator=gen(0)).repeat(8, 1, 1, 1)
    y = aug.batch_transform(x, gen(1))
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1 and torch.isfinite(y).all()
    assert torch.equal(y[4:], x[4:])
    assert not torch.allclose(y[0], y[2]) and not torch.allclose(y[1], y[3])  # same method, own networks
    again = deepaugment_online(edsr_weights=str(edsr_weights), cae_weights=str(cae_weights))
    assert torch.equal(again.batch_transform(x, gen(1)), y)


def test_online_precision_option(edsr_weights):
    x = torch.rand(4, 3, 16, 16, generator=gen(0))
    fp32 = deepaugment_online(edsr_weights=str(edsr_weights), fraction=1.0, precision="fp32")
    bf16 = deepaugment_online(edsr_weights=str(edsr_weights), fraction=1.0, precision="bf16")
    assert fp32.options["precision"] == "fp32"
    a, b = fp32.batch_transform(x, gen(3)), bf16.batch_transform(x, gen(3))
    assert a.dtype == b.dtype == torch.float32 and not torch.equal(a, b) and float((a - b).abs().mean()) < 2 / 255
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, auto"):
        deepaugment_online(edsr_weights=str(edsr_weights), precision="half")


def test_online_single_method_with_chain(edsr_weights):
    aug = deepaugment_online(edsr_weights=str(edsr_weights), fraction=1.0, resample=0.05)
    transform = aug.batch_transform
    x = torch.rand(4, 3, 16, 16, generator=gen(0))
    g = gen(2)
    for _ in range(5):
        assert transform(x, g).shape == x.shape
    chain = next(iter(transform._chains.values()))
    assert 1 <= chain.draws < 20
