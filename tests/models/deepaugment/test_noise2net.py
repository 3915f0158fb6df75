"""Noise2Net: shapes, eps = 0, determinism, per-image networks, fraction, per-epoch architecture."""

from __future__ import annotations

import pytest
import torch

from models.deepaugment import noise2net as N


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_shapes_and_identity_at_eps_zero():
    net = N.Noise2Net()
    x = torch.rand(4, 3, 16, 16, generator=gen(0))
    assert torch.equal(net.perturb(x, gen(1), eps=0.0), x)
    y = net.perturb(x, gen(1))
    assert y.shape == x.shape and torch.isfinite(y).all() and not torch.allclose(x, y)


def test_clamp_option_keeps_range():
    y = N.Noise2Net(clamp=True, fraction=1.0)(torch.rand(2, 3, 16, 16, generator=gen(0)), gen(1))
    assert y.min() >= 0 and y.max() <= 1


def test_fixed_generator_fixed_output():
    x = torch.rand(4, 3, 16, 16, generator=gen(0))
    assert torch.equal(N.Noise2Net()(x, gen(5)), N.Noise2Net()(x, gen(5)))
    assert not torch.equal(N.Noise2Net()(x, gen(5)), N.Noise2Net()(x, gen(6)))


def test_identical_images_come_out_different():
    x = torch.rand(1, 3, 16, 16, generator=gen(0)).repeat(4, 1, 1, 1)
    y = N.Noise2Net(fraction=1.0)(x, gen(2))
    assert not torch.allclose(y[0], y[1]) and not torch.allclose(y[2], y[3])


def test_fraction_of_batch():
    x = torch.rand(8, 3, 16, 16, generator=gen(0))
    y = N.Noise2Net()(x, gen(3))
    assert torch.equal(y[4:], x[4:]) and all(not torch.equal(y[i], x[i]) for i in range(4))
    assert torch.equal(N.Noise2Net(fraction=0.0)(x, gen(3)), x)
    with pytest.raises(ValueError):
        N.Noise2Net(fraction=1.5)


def test_eps_range_and_block_normalisation():
    net = N.Noise2Net()
    x = torch.rand(2, 3, 24, 24, generator=gen(0))
    arch = N.draw_architecture(gen(1))
    out = N.block(x, arch.convs[0], gen(2))
    assert out.shape == x.shape
    torch.testing.assert_close(out.mean(dim=(2, 3)), torch.zeros(2, 3), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.var(dim=(2, 3), unbiased=False), torch.ones(2, 3), atol=1e-3, rtol=0)
    # the perturbation is eps * (sum of unit-variance blocks) in normalised space: eps in [0.375, 0.75]
    net.architecture = arch
    assert net.max_eps == 0.75


def test_architecture_redrawn_per_epoch_only():
    net = N.Noise2Net()
    x = torch.rand(2, 3, 8, 8, generator=gen(0))
    g = gen(7)
    net.set_epoch(0)
    net(x, g)
    first = net.architecture
    for _ in range(3):
        net(x, g)
    assert net.architecture is first
    assert all(k in (1, 3) and d in (1, 2, 3) for block in first.convs for k, d in block)
    assert len(first.convs) == 4 and all(len(b) == 3 for b in first.convs)
    seen = {first}
    for epoch in range(1, 6):
        net.set_epoch(epoch)
        net(x, g)
        seen.add(net.architecture)
    assert len(seen) > 1


def test_grouped_conv_matches_separate_convs():
    x = torch.rand(3, 4, 9, 9, generator=gen(0))
    w = torch.rand(3, 5, 4, 3, 3, generator=gen(1))
    b = torch.rand(3, 5, generator=gen(2))
    out = N._gconv(x, w, b, dilation=2)
    for i in range(3):
        ref = torch.nn.functional.conv2d(x[i:i + 1], w[i], b[i], padding=2, dilation=2)
        torch.testing.assert_close(out[i:i + 1], ref)
