import io

import pytest
from PIL import Image

from curation.filters.hashing import hash_bytes
from curation.filters.params import FilterParams, load_params
from curation.filters.quality import verdict
from curation.errors import CurateError
from tests.filters.conftest import encode, photo, png_header


def _judge(data: bytes, params: FilterParams = FilterParams()):
    r = hash_bytes(data, max_pixels=params.max_pixels)
    return verdict(r.width, r.height, r.n_frames, r.mean, r.std, None if r.ok else r.reason, params)


def _gif(frames: int) -> bytes:
    images = [photo(10 + k) for k in range(frames)]
    buf = io.BytesIO()
    images[0].save(buf, "GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return buf.getvalue()


@pytest.mark.parametrize("name, data, reason", [
    ("good", encode(photo(1), quality=90), None),
    ("truncated", encode(photo(2, (400, 300)), quality=95)[:1500], "corrupt"),
    ("garbage", b"\x00" * 300, "not-an-image"),
    ("bomb", png_header(50_000, 50_000), "decompression-bomb"),
    ("black", encode(Image.new("RGB", (300, 200), (3, 3, 3))), "black"),
    ("dark-noise", encode(Image.effect_noise((300, 200), 2).point(lambda v: v // 40).convert("RGB")), "black"),
    ("flat", encode(Image.new("RGB", (300, 200), (120, 160, 90)), "PNG"), "flat"),
    ("tiny", encode(photo(3, (40, 30))), "tiny"),
    ("aspect", encode(photo(4, (900, 100))), "aspect"),
    ("animated", _gif(3), "animated"),
    ("still-gif", _gif(1), None),
])
def test_each_quality_case(name, data, reason):
    v, got, _ = _judge(data)
    if reason is None:
        assert v == "pass", got
    else:
        assert v == "reject" and got.startswith(reason), (name, got)


def test_flat_in_colour_is_not_flat_when_channels_differ():
    img = Image.new("RGB", (300, 200), (200, 40, 40))
    img.paste((40, 110, 40), (0, 0, 150, 200))  # same luma, different hue: not a flat image
    assert _judge(encode(img, "PNG"))[0] == "pass"


def test_thresholds_change_verdicts_and_settings_are_validated():
    data = encode(photo(5, (100, 80)))
    assert _judge(data)[0] == "pass"
    assert _judge(data, FilterParams(min_side=128))[1].startswith("tiny")
    assert _judge(data, FilterParams(max_pixels=5000))[1].startswith("decompression-bomb")
    with pytest.raises(CurateError, match="threshold"):
        load_params(None, {"threshold": 70})
    assert load_params(None, {"threshold": 6, "min_side": None}).threshold == 6


def test_workspace_filter_section_feeds_the_params(tmp_path):
    from curation.config import Settings

    settings = Settings(root=tmp_path, max_image_pixels=1234, extra={"filter": {"threshold": 6, "mirror": False}})
    params = load_params(settings, {"threshold": 8})
    assert (params.threshold, params.mirror, params.max_pixels) == (8, False, 1234)
    bad = Settings(root=tmp_path, extra={"filter": {"treshold": 6}})
    with pytest.raises(CurateError, match="valid keys"):
        load_params(bad)
