"""The batched path (one perturbed network per image, one pass) equals the one-image path."""

from __future__ import annotations

import pytest
import torch

from models.deepaugment import activations as A
from models.deepaugment import batched as B
from models.deepaugment import distortions as D
from models.deepaugment import rand
from models.deepaugment.cae import CAE
from models.deepaugment.edsr import EDSR


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def states(method: str, model: torch.nn.Module, n: int, seed: int, faithful: bool = True) -> list:
    clean = {k: v.clone() for k, v in model.state_dict().items()}
    g = gen(seed)
    return [D.PERTURB[method](clean, g, faithful) for _ in range(n)]


@pytest.mark.parametrize("faithful", [True, False])
def test_edsr_batched_equals_one_image(faithful):
    torch.manual_seed(0)
    model = EDSR(n_feats=8).eval()
    sts = states("edsr", model, 8, 1, faithful)
    x = torch.rand(8, 3, 10, 12, generator=gen(2))
    g = rand.source(gen(3))
    shape = (8, 10, 12)
    # every body route and every pre distortion at least once, then random draws
    acts = [(A.EDSR_PRE[p](g, shape, faithful), A.EDSR_BODY[b](g, shape, faithful))
            for p, b in zip(["duplicate-channels", "dropout", "sign-mask", "dropout"], list(A.EDSR_BODY))]
    acts += B.sample_acts("edsr", g, 4, shape, faithful)
    with torch.no_grad():
        out = B.run_batched("edsr", sts, x, g, faithful, acts=acts, precision="fp32")
        ref = []
        for i, (s, (pre, body)) in enumerate(zip(sts, acts)):
            model.load_state_dict(s)
            ref.append((model(x[i:i + 1] * 255, pre=pre, body=body).clamp(0, 255) / 255))
    assert out.shape == (8, 3, 40, 48)
    torch.testing.assert_close(out, torch.cat(ref), atol=2e-5, rtol=1e-4)


def test_cae_batched_equals_one_image():
    torch.manual_seed(0)
    model = CAE().eval()
    sts = states("cae", model, 9, 4)
    x = torch.rand(9, 3, 16, 20, generator=gen(5))
    g = gen(6)
    acts = [A.sample_cae_latent(g, (32, 4, 5), name=name) for name in A.CAE_LATENT]
    with torch.no_grad():
        out = B.run_batched("cae", sts, x, g, acts=acts, precision="fp32")
        ref = []
        for i, (s, op) in enumerate(zip(sts, acts)):
            model.load_state_dict(s)
            ref.append(model(x[i:i + 1], op=op).clamp(0, 1))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close(out, torch.cat(ref), atol=1e-5, rtol=1e-4)


def test_run_one_draws_like_run_batched():
    torch.manual_seed(0)
    model = EDSR(n_feats=8).eval()
    sts = states("edsr", model, 3, 7)
    x = torch.rand(3, 3, 6, 6, generator=gen(8))
    with torch.no_grad():
        out = B.run_batched("edsr", sts, x, gen(9), precision="fp32")
        g = gen(9)
        ref = torch.cat([B.run_one("edsr", model, s, x[i:i + 1], g) for i, s in enumerate(sts)])
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=1e-4)


def test_identical_images_get_different_networks():
    torch.manual_seed(0)
    model = EDSR(n_feats=8).eval()
    x = torch.rand(1, 3, 6, 6, generator=gen(10)).repeat(2, 1, 1, 1)
    with torch.no_grad():
        out = B.run_batched("edsr", states("edsr", model, 2, 11), x, gen(12), precision="fp32")
    assert not torch.allclose(out[0], out[1])


@pytest.mark.parametrize("method", ["edsr", "cae"])
def test_shared_networks_pack_into_slots(method):
    """Images sharing a network (the 0.05 schedule) and images with their own, mixed in one batch."""
    torch.manual_seed(0)
    model = EDSR(n_feats=8).eval() if method == "edsr" else CAE().eval()
    a, b, c = states(method, model, 3, 13)
    sts = [a, a, b, a, c, c]
    x = torch.rand(6, 3, 16, 16, generator=gen(14))
    nets = B.stack_states(sts)
    assert nets.u == 3 and nets.m == 3
    with torch.no_grad():
        out = B.run_batched(method, sts, x, gen(15), precision="fp32")
        g = gen(15)
        ref = torch.cat([B.run_one(method, model, s, x[i:i + 1], g) for i, s in enumerate(sts)])
        single = B.run_batched(method, [a] * 3, x[:3], gen(16), precision="fp32")
        g = gen(16)
        single_ref = torch.cat([B.run_one(method, model, a, x[i:i + 1], g) for i in range(3)])
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(single, single_ref, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("method", ["edsr", "cae"])
def test_grouped_and_per_network_convs_agree(method):
    """The two ways to run a batch (a plain conv per network, or one grouped conv) give the same images."""
    torch.manual_seed(0)
    model = EDSR(n_feats=8).eval() if method == "edsr" else CAE().eval()
    a, b, c = states(method, model, 3, 17)
    sts = [a, b, a, c, c, b]  # interleaved networks: the per-network path sorts and restores the order
    x = torch.rand(6, 3, 16, 16, generator=gen(18))
    acts = B.sample_acts(method, gen(19), 6, B.act_shape(method, x, 8), True)
    outs = []
    for min_runs in (len(sts), 0):  # never grouped, then grouped
        plan = B.ConvPlan(grouped_min_runs=min_runs, grouped_on_cpu=min_runs == 0, channels_last=min_runs == 0)
        assert B.stack_states(sts, plan=plan).grouped == (min_runs == 0)
        with torch.no_grad():
            outs.append(B.run_batched(method, sts, x, None, acts=acts, precision="fp32", plan=plan))
    with torch.no_grad():  # per network, several images a pass on the CPU
        outs.append(B.run_batched(method, sts, x, None, acts=acts, precision="fp32", plan=B.ConvPlan(cpu_chunk=4)))
    torch.testing.assert_close(outs[0], outs[1], atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(outs[0], outs[2], atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("method", ["edsr", "cae"])
def test_bf16_networks_stay_close_to_fp32_and_hand_back_fp32(method):
    torch.manual_seed(0)
    model = EDSR(n_feats=8).eval() if method == "edsr" else CAE().eval()
    sts = states(method, model, 4, 20)
    x = torch.rand(4, 3, 16, 16, generator=gen(21))
    acts = B.sample_acts(method, gen(22), 4, B.act_shape(method, x, 8), True)
    with torch.no_grad():
        fp32 = B.run_batched(method, sts, x, None, acts=acts, precision="fp32")
        bf16 = B.run_batched(method, sts, x, None, acts=acts, precision="bf16")
    assert bf16.dtype == torch.float32 and bf16.shape == fp32.shape
    assert 0 <= float(bf16.min()) and float(bf16.max()) <= 1
    assert not torch.equal(bf16, fp32)  # it did compute in bf16
    assert float((bf16 - fp32).abs().mean()) < 2 / 255


def test_precision_choice():
    assert B.compute_dtype("cpu", "fp32") == torch.float32 and B.compute_dtype("cpu", "bf16") == torch.bfloat16
    assert B.compute_dtype("cpu") == torch.float32  # fp32 unless bf16 is asked for
    assert B.compute_dtype("cpu", "auto") == torch.float32  # a CPU never picks bf16 by itself
    with pytest.raises(ValueError, match="valid: fp32, bf16, auto"):
        B.compute_dtype("cpu", "fp16")



def test_subpixel_tail_equals_shuffle_then_conv_then_add_mean():
    torch.manual_seed(0)
    model = EDSR(n_feats=8).eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["tail.1.bias"] = torch.randn(3)
    pre = torch.randn(2, 32, 7, 9, generator=gen(24))  # the last upsampler's output, before its shuffle
    folded = B.edsr_subpixel_tail(state)
    F = torch.nn.functional
    with torch.no_grad():
        want = model.add_mean(F.conv2d(F.pixel_shuffle(pre, 2), state["tail.1.weight"], state["tail.1.bias"],
                                       padding=1))
        got = F.pixel_shuffle(F.conv2d(pre, folded["weight"], folded["bias"], padding=1), 2)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-5)
