"""Augmentation registry, AugMix (paper ops, JSD loss), Speckle, Random Erasing, Style Transfer (AdaIN)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from curation.errors import CurateError
from models.augment import augmix as am
from models.augment.registry import AUGMENTATIONS, build_augmentations, split_names


def _img(seed: int = 0, size: int = 32) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8))


def test_registry_names_errors_and_lazy_deepaugment_entries():
    assert {"none", "speckle", "random-erasing", "augmix", "style-transfer", "noise2net",
            "deepaugment-online"} <= set(AUGMENTATIONS)
    assert split_names("speckle+augmix") == ["speckle", "augmix"]
    with pytest.raises(ValueError, match="valid names: .*augmix"):
        split_names("augmix+cutmix")
    with pytest.raises(ValueError, match="not in"):
        build_augmentations("augmix", {"speckle": {"severity": 2}})
    with pytest.raises(ValueError, match="at most one"):
        build_augmentations("augmix+augmix")
    augs = build_augmentations("speckle+augmix", {"augmix": {"severity": 3}})
    assert [a.name for a in augs] == ["speckle", "augmix"] and augs[1].options["severity"] == 3
    assert augs[1].views == 3 and augs[1].jsd_weight == 12.0


def test_augmix_uses_the_papers_operation_set():
    assert set(am.PAPER_OPS) == {"autocontrast", "equalize", "posterize", "rotate", "solarize", "shear_x",
                                 "shear_y", "translate_x", "translate_y"}
    assert not {"brightness", "contrast", "color", "sharpness"} & set(am.PAPER_OPS)
    aug = build_augmentations("augmix")[0]
    assert aug.options["all_ops"] is False


def test_augmix_is_deterministic_per_generator_and_mixes_in_unit_range():
    aug = build_augmentations("augmix", {"augmix": {"severity": 3}})[0]
    a = aug.image_transform(_img(), np.random.default_rng(5))
    b = aug.image_transform(_img(), np.random.default_rng(5))
    c = aug.image_transform(_img(), np.random.default_rng(6))
    assert a.shape == (3, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert 0 <= float(a.min()) and float(a.max()) <= 1


def test_every_augmix_op_runs():
    rng = np.random.default_rng(0)
    for op in am.PAPER_OPS + am.EXTRA_OPS:
        out = am.apply_op(op, _img(), 3.0, rng, 128)
        assert out.size == (32, 32)


def test_jsd_loss_by_hand():
    torch.manual_seed(0)
    logits = torch.randn(6, 4)
    target = torch.tensor([0, 3])
    loss = am.jsd_loss(logits, target, 3, 12.0)
    p = [torch.softmax(c, 1) for c in logits.chunk(3)]
    m = ((p[0] + p[1] + p[2]) / 3).clamp(1e-7, 1)
    js = sum((pi * (pi.log() - m.log())).sum(1).mean() for pi in p) / 3
    expected = torch.nn.functional.cross_entropy(logits[:2], target) + 12 * js
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    same = logits[:2].repeat(3, 1)  # identical views: no divergence
    assert float(am.jsd_loss(same, target)) == pytest.approx(float(torch.nn.functional.cross_entropy(same[:2], target)), rel=1e-5)


def test_speckle_and_random_erasing():
    speckle = build_augmentations("speckle", {"speckle": {"severity": 5}})[0]
    img = _img(1)
    out1 = speckle.image_transform(img, np.random.default_rng(1))
    out2 = speckle.image_transform(img, np.random.default_rng(1))
    assert np.array_equal(np.asarray(out1), np.asarray(out2)) and not np.array_equal(np.asarray(out1), np.asarray(img))
    with pytest.raises(ValueError):
        build_augmentations("speckle", {"speckle": {"severity": 7}})
    erase = build_augmentations("random-erasing", {"random-erasing": {"p": 1.0}})[0]
    arr = np.asarray(erase.image_transform(_img(2, 64), np.random.default_rng(0)))
    mean = np.round(np.array([0.485, 0.456, 0.406]) * 255)
    assert (np.all(arr == mean, axis=2)).sum() >= 0.02 * 64 * 64 * 0.9  # a mean-coloured rectangle


def _adain_weights(tmp_path):
    from models.augment.style import build_decoder, build_encoder

    torch.manual_seed(0)
    enc, dec = build_encoder(), build_decoder()
    full = dict(enc.state_dict())
    full["31.weight"] = torch.zeros(1)  # later VGG layers exist in the real file; they are ignored
    torch.save(full, tmp_path / "vgg_normalised.pth")
    torch.save(dec.state_dict(), tmp_path / "decoder.pth")
    styles = tmp_path / "styles"
    styles.mkdir()
    for i in range(2):
        _img(10 + i, 40).save(styles / f"painting{i}.png")
    return tmp_path / "vgg_normalised.pth", tmp_path / "decoder.pth", styles


def test_style_transfer_real_layout_and_missing_weights(tmp_path):
    with pytest.raises(CurateError, match="vgg"):
        build_augmentations("style-transfer")
    vgg, dec, styles = _adain_weights(tmp_path)
    with pytest.raises(CurateError, match="not on disk"):
        build_augmentations("style-transfer", {"style-transfer": {"vgg": str(tmp_path / "nope.pth"),
                                                                  "decoder": str(dec), "styles": str(styles)}})
    opts = {"vgg": str(vgg), "decoder": str(dec), "styles": str(styles)}
    aug = build_augmentations("style-transfer", {"style-transfer": opts})[0]
    from models.augment.style import build_encoder

    assert len(build_encoder()) == 31  # vgg[:31], up to relu4_1
    x = torch.rand(3, 3, 32, 32)
    out = aug.batch_transform(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert not torch.allclose(out, x)
    keep = build_augmentations("style-transfer", {"style-transfer": dict(opts, p=0.0)})[0]
    assert torch.equal(keep.batch_transform(x, torch.Generator().manual_seed(0)), x)


def test_jsd_loss_gradient_stays_finite_when_probabilities_underflow():
    logits = torch.tensor([[200.0, -200.0, 0.0], [0.0, 300.0, -300.0], [-250.0, 0.0, 250.0]], requires_grad=True)
    loss = am.jsd_loss(logits, torch.tensor([0]), 3, 12.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
