"""Every weight and activation distortion: registered, changes the output, stays finite; the quirks."""

from __future__ import annotations

import pytest
import torch

from models.deepaugment import activations as A
from models.deepaugment import distortions as D
from models.deepaugment import rand
from models.deepaugment.cae import CAE
from models.deepaugment.edsr import EDSR


@pytest.fixture(scope="module")
def small_edsr():
    torch.manual_seed(0)
    return EDSR(n_feats=8).eval()


@pytest.fixture(scope="module")
def cae_model():
    torch.manual_seed(0)
    return CAE().eval()


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_registries_are_complete():
    assert len(D.EDSR_WEIGHT) == 17 and len(D.CAE_WEIGHT) == 8
    assert len(A.EDSR_PRE) == 3 and len(A.EDSR_BODY) == 4 and len(A.CAE_LATENT) == 9
    assert D.EDSR_RESAMPLE == D.CAE_RESAMPLE == 0.05


@pytest.mark.parametrize("name", list(D.EDSR_WEIGHT))
def test_edsr_weight_distortion_changes_output(name, small_edsr):
    clean = {k: v.clone() for k, v in small_edsr.state_dict().items()}
    x = torch.rand(1, 3, 8, 8, generator=gen(1)) * 255
    with torch.no_grad():
        before = small_edsr(x)
        changed = D.perturb_edsr(clean, gen(2), names=[name])
        touched = [k for k in clean if not torch.equal(clean[k], changed[k])]
        assert touched and all(k.startswith("body.") and int(k.split(".")[1]) <= 14 for k in touched)
        model = EDSR(n_feats=8).eval()
        model.load_state_dict(changed)
        after = model(x)
    assert torch.isfinite(after).all()
    assert not torch.allclose(before, after)


@pytest.mark.parametrize("name", list(D.CAE_WEIGHT))
def test_cae_weight_distortion_changes_output(name, cae_model):
    clean = {k: v.clone() for k, v in cae_model.state_dict().items()}
    x, noise = torch.rand(1, 3, 16, 16, generator=gen(1)), torch.rand(1, 32, 4, 4, generator=gen(3))
    with torch.no_grad():
        before = cae_model(x, noise=noise)
        for seed in range(5):  # a draw may hit a no-op (e.g. negate a filter twice); another will not
            changed = D.perturb_cae(clean, gen(seed), name=name)
            touched = [k for k in clean if not torch.equal(clean[k], changed[k])]
            if touched:
                break
        index = {n: i for i, n in enumerate(__import__("models.deepaugment.cae", fromlist=["x"]).cae_weight_names())}
        low, high = D.CAE_LAYERS.get(name, (8, 13))
        assert all(low <= index[k.replace("bias", "weight")] <= high for k in touched)
        model = CAE().eval()
        model.load_state_dict(changed)
        after = model(x, noise=noise)
    assert torch.isfinite(after).all() and not torch.allclose(before, after)


def edsr_out(model, x, pre=None, body=None):
    with torch.no_grad():
        return model(x, pre=pre, body=body)


@pytest.mark.parametrize("name", list(A.EDSR_PRE))
def test_edsr_pre_distortion(name, small_edsr):
    x = torch.rand(1, 3, 8, 8, generator=gen(1)) * 255
    op = A.EDSR_PRE[name](rand.source(gen(4)), (8, 8, 8))
    after = edsr_out(small_edsr, x, pre=op)
    assert torch.isfinite(after).all() and not torch.allclose(edsr_out(small_edsr, x), after)


@pytest.mark.parametrize("name", list(A.EDSR_BODY))
@pytest.mark.parametrize("faithful", [True, False])
def test_edsr_body_distortion(name, faithful, small_edsr):
    x = torch.rand(1, 3, 8, 8, generator=gen(1)) * 255
    op = A.EDSR_BODY[name](rand.source(gen(5)), (8, 8, 8), faithful)
    after = edsr_out(small_edsr, x, body=op)
    assert torch.isfinite(after).all() and not torch.allclose(edsr_out(small_edsr, x), after)


@pytest.mark.parametrize("name", list(A.CAE_LATENT))
def test_cae_latent_distortion(name, cae_model):
    x = torch.rand(1, 3, 32, 32, generator=gen(1))
    op = A.sample_cae_latent(gen(6), (32, 8, 8), name=name)
    with torch.no_grad():
        after = cae_model(x, op=op)
        before = cae_model(x, noise=op.noise)
    # a randomly initialised decoder barely depends on its input, so any change counts here ...
    assert torch.isfinite(after).all() and (after - before).abs().max() > 0
    # ... and on a latent spread over [-1, 1] like a trained encoder's, the code the decoder sees changes clearly
    from models.deepaugment.cae import binarize

    z = torch.rand(1, 32, 8, 8, generator=gen(7)) * 2 - 1
    code = binarize(op.apply(z), op.noise) * (1 if op.post_scale is None else op.post_scale)
    assert (code - binarize(z, op.noise)).abs().gt(0.5).float().mean() > 0.005


def test_unknown_names_raise_listing_valid_ones():
    with pytest.raises(ValueError, match="valid: reverse-channels"):
        D.perturb_edsr({}, gen(), names=["nope"])
    with pytest.raises(ValueError, match="binary-scale"):
        A.sample_cae_latent(gen(), (32, 4, 4), name="nope")
    with pytest.raises(ValueError, match="edsr, cae"):
        D.ResamplingChain("vae", {}, gen())


def test_swap_quirk_duplicates_and_intended_swaps():
    faithful = A.duplicate_channels(rand.source(gen(7)), (64, 4, 4), faithful=True).index
    intended = A.duplicate_channels(rand.source(gen(7)), (64, 4, 4), faithful=False).index
    assert len(set(faithful.tolist())) < 64  # a copy, not a swap: some channel appears twice
    assert sorted(intended.tolist()) == list(range(64))


def test_skip_quirk_collapses_the_body():
    op = A.BodyOp("skip", skip=frozenset({3, 9}), faithful=True)
    assert op.route(17) == ("single", (16,))
    assert A.BodyOp("skip", skip=frozenset({16, 3}), faithful=True).route(17) == ("single", (15,))
    kind, kept = A.BodyOp("skip", skip=frozenset({3, 9}), faithful=False).route(17)
    assert kind == "chain" and 3 not in kept and 9 not in kept and len(kept) == 15


def test_one_sided_multiplier_quirk(small_edsr):
    clean = {k: v.clone() for k, v in small_edsr.state_dict().items()}
    faithful, intended = D.perturb_edsr(clean, gen(8), True, ["scale"]), D.perturb_edsr(clean, gen(8), False, ["scale"])
    (name,) = [k for k in clean if not torch.equal(clean[k], faithful[k])]  # one block's second conv
    ratio_f, ratio_i = faithful[name] / clean[name], intended[name] / clean[name]
    assert ratio_f.min() >= 1 - 1e-5 and ratio_i.min() < 1 < ratio_i.max()


def test_cae_bias_typo(cae_model):
    clean = {k: v.clone() for k, v in cae_model.state_dict().items()}
    f = dict(clean)
    D.k_reverse(f, gen(), True, 11, 13)
    i = dict(clean)
    D.k_reverse(i, gen(), False, 11, 13)
    assert not torch.equal(f["d_block_1.1.weight"], clean["d_block_1.1.weight"])
    assert torch.equal(f["d_block_2.1.weight"], clean["d_block_2.1.weight"])  # flipped twice
    assert torch.equal(f["d_block_2.1.bias"], clean["d_block_2.1.bias"])
    assert torch.equal(i["d_block_2.1.weight"], clean["d_block_2.1.weight"].flip(0))
    assert torch.equal(i["d_block_2.1.bias"], clean["d_block_2.1.bias"].flip(0))


def test_resampling_rate():
    state = {f"{D.c1(i)}.{p}": torch.zeros(2, 2, 3, 3) if p == "weight" else torch.zeros(2)
             for i in range(16) for p in ("weight", "bias")}
    state.update({f"{D.c2(i)}.{p}": v for i in range(16) for p, v in (("weight", torch.ones(2, 2, 3, 3)),
                                                                          ("bias", torch.ones(2)))})
    chain = D.ResamplingChain("edsr", state, gen(9), rate=0.05)
    firsts = [chain.next() for _ in range(1000)]
    assert 25 <= chain.draws <= 80  # ~ 1 + Binomial(999, 0.05)
    assert firsts[0] is firsts[1] or chain.draws > 1
    every = D.ResamplingChain("edsr", state, gen(9), rate=1.0)
    for _ in range(10):
        every.next()
    assert every.draws == 10
