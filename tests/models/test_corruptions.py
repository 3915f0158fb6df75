"""The 15 ImageNet-C corruptions and ``curate corrupt``."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from models.corruptions import CORRUPTION_FUNCTIONS, corrupt, disk, plasma_fractal
from models.data import open_export
from models.metrics import CORRUPTIONS


def _photo(size=(40, 32)) -> Image.Image:
    yy, xx = np.mgrid[0:size[1], 0:size[0]]
    arr = np.stack([xx * 5 % 256, yy * 7 % 256, (xx + yy) * 3 % 256], axis=2).astype(np.uint8)
    return Image.fromarray(arr)


def test_the_fifteen_benchmark_corruptions_are_all_there():
    assert tuple(CORRUPTION_FUNCTIONS) == CORRUPTIONS


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_each_corruption_is_deterministic_keeps_size_and_changes_the_image(name):
    img = _photo()
    a = corrupt(img, name, 3, np.random.default_rng(1))
    b = corrupt(img, name, 3, np.random.default_rng(1))
    assert a.size == img.size and a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(img))


@pytest.mark.parametrize("name", ["gaussian_noise", "shot_noise", "impulse_noise", "contrast", "defocus_blur", "fog"])
def test_severity_increases_distortion(name):
    img = _photo((64, 64))
    ref = np.asarray(img, dtype=float)
    dist = [np.abs(np.asarray(corrupt(img, name, s, np.random.default_rng(0)), dtype=float) - ref).mean()
            for s in (1, 5)]
    assert dist[1] > dist[0]


def test_helpers_and_errors():
    k = disk(3, 0.1)
    assert k.sum() == pytest.approx(1.0, abs=1e-5) and k.shape == (17, 17)
    p = plasma_fractal(np.random.default_rng(0), 64, 3)
    assert p.shape == (64, 64) and p.min() == 0 and p.max() == 1
    with pytest.raises(ValueError, match="valid names"):
        corrupt(_photo(), "lens_flare", 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="1-5"):
        corrupt(_photo(), "fog", 6, np.random.default_rng(0))


def test_corrupt_cli_writes_a_verified_imagenet_c_export(cli, photos, tmp_path):
    out = tmp_path / "photos-c"
    res = cli("corrupt", photos, "--out", out, "--subset", "val", "--corruptions", "fog,pixelate", "--severities",
              "2,4", "--resize", "36", "--crop", "32", "--workers", "1")
    assert "-> 64 images" in res.output
    export = open_export(out)  # checksums verified
    assert export.info["kind"] == "imagenet-c" and export.info["severities"] == [2, 4]
    assert {(r.metadata["corruption"], r.metadata["severity"]) for r in export.rows} == \
        {("fog", "2"), ("fog", "4"), ("pixelate", "2"), ("pixelate", "4")}
    assert all(Image.open(export.image_path(r)).size == (32, 32) for r in export.rows[:5])
    again = cli("corrupt", photos, "--out", out, ok=False)
    assert again.exit_code != 0 and "not empty" in again.output
