"""On a CUDA device: the batched paths run on the device, deterministically, and match the CPU."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.gpu


def test_noise2net_on_device_is_deterministic():
    from models.deepaugment.noise2net import Noise2Net

    x = torch.rand(8, 3, 32, 32, device="cuda")
    a = Noise2Net()(x, torch.Generator("cuda").manual_seed(0))
    b = Noise2Net()(x, torch.Generator("cuda").manual_seed(0))
    assert a.device.type == "cuda" and torch.equal(a, b) and torch.equal(a[4:], x[4:])


def test_batched_edsr_on_device_matches_cpu():
    from models.deepaugment import batched as B
    from models.deepaugment import distortions as D
    from models.deepaugment.edsr import EDSR

    torch.manual_seed(0)
    model = EDSR(n_feats=8).eval()
    clean = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    states = [D.perturb_edsr(clean, g) for _ in range(4)]
    x = torch.rand(4, 3, 12, 12, generator=g)
    acts = B.sample_acts("edsr", g, 4, (8, 12, 12))
    with torch.no_grad():
        cpu = B.run_batched("edsr", states, x, g, acts=acts, precision="fp32")
        dev_states = [{k: v.cuda() for k, v in s.items()} for s in states]
        dev_acts = [(_to_cuda(p), _to_cuda(b)) for p, b in acts]
        gpu = B.run_batched("edsr", dev_states, x.cuda(), None, acts=dev_acts, precision="fp32")
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-3, rtol=1e-3)


def _to_cuda(op):
    import dataclasses

    from models.deepaugment.activations import BodyOp, FeatureOp

    if isinstance(op, BodyOp):
        return dataclasses.replace(op, mid=_to_cuda(op.mid) if op.mid is not None else None)
    assert isinstance(op, FeatureOp)
    return dataclasses.replace(op, **{f.name: getattr(op, f.name).cuda() for f in dataclasses.fields(op)
                                      if isinstance(getattr(op, f.name), torch.Tensor)})


def test_online_deepaugment_on_device(edsr_weights, cae_weights):
    from models.deepaugment.augment import deepaugment_online

    aug = deepaugment_online(edsr_weights=str(edsr_weights), cae_weights=str(cae_weights), fraction=1.0)
    x = torch.rand(8, 3, 32, 32, device="cuda")
    y = aug.batch_transform(x, torch.Generator("cuda").manual_seed(0))
    assert y.device.type == "cuda" and y.shape == x.shape and torch.isfinite(y).all()
