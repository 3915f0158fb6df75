"""The emulator through the real flickrapi client and plain HTTP: shapes, cap, auth, image host, faults."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import requests
from PIL import Image

from curation.emulator import CorpusConfig, Faults, build_corpus, write_reference_set
from curation.emulator.corpus import image_bytes
from curation.emulator.renditions import STYLES, render

EXTRAS = "license,date_upload,date_taken,owner_name,tags,o_dims,url_m,url_c,url_l,url_o"


def _api(emu, key=None, secret=None):
    import flickrapi

    api = flickrapi.FlickrAPI(key or emu.api_key, secret or emu.api_secret, format="parsed-json", store_token=False)
    api.REST_URL = emu.rest_url
    return api


def test_search_shape_through_flickrapi(emulator):
    photos = _api(emulator).photos.search(text="goldfish cartoon", extras=EXTRAS, per_page=4)["photos"]
    assert photos["page"] == 1 and photos["perpage"] == 4 and isinstance(photos["total"], int)
    assert photos["total"] >= 6 and photos["pages"] == -(-photos["total"] // 4)
    first = photos["photo"][0]
    assert {"id", "owner", "secret", "server", "farm", "title", "ispublic", "license", "dateupload"} <= set(first)
    assert isinstance(first["id"], str) and isinstance(first["license"], str)
    assert "goldfish" in first["tags"] and "cartoon" in first["tags"]
    assert any(k.startswith("url_") for k in first)


def test_licenses_and_plain_get_with_api_key(emulator):
    rows = _api(emulator).photos.licenses.getInfo()["licenses"]["license"]
    assert [r["id"] for r in rows] == list(range(11))
    text = requests.get(emulator.rest_url, params={"method": "flickr.photos.search", "api_key": emulator.api_key,
                                                   "text": "goldfish", "format": "json"}).text
    assert text.startswith("jsonFlickrApi(") and text.endswith(")")
    xml = requests.get(emulator.rest_url, params={"method": "flickr.photos.search", "api_key": emulator.api_key,
                                                  "text": "goldfish", "format": "rest"}).text
    assert '<rsp stat="ok">' in xml and "<photo " in xml


def test_auth_errors(emulator):
    from flickrapi.exceptions import FlickrError

    with pytest.raises(FlickrError) as bad_format:
        _api(emulator, key="not-a-key").photos.search(text="goldfish")
    assert bad_format.value.code == 100 and "invalid format" in str(bad_format.value)
    with pytest.raises(FlickrError) as unknown:
        _api(emulator, key="f" * 32).photos.search(text="goldfish")
    assert unknown.value.code == 100 and "not found" in str(unknown.value)
    with pytest.raises(FlickrError) as signature:
        _api(emulator, secret="wrongsecret").photos.search(text="goldfish")
    assert signature.value.code == 96
    with pytest.raises(FlickrError) as parameterless:
        _api(emulator).photos.search()
    assert parameterless.value.code == 3


def test_cap_repeats_results_and_per_page_max(start_emulator):
    emu = start_emulator(CorpusConfig(classes=("goldfish",), styles=("cartoon",), per_cell=4600, plants=0,
                                      reference_size=0))
    api = _api(emu)
    first = api.photos.search(text="goldfish", per_page=1000, license="")["photos"]
    assert first["perpage"] == 500 and 4000 < first["total"] <= 4600
    seen: list[str] = []
    for page in range(1, first["pages"] + 1):
        seen += [p["id"] for p in api.photos.search(text="goldfish", per_page=500, page=page)["photos"]["photo"]]
    assert len(seen) == first["total"] and len(set(seen)) == 4000  # pages past the cap repeat earlier results


def test_legacy_field_types(start_emulator):
    emu = start_emulator(field_types="legacy")
    photos = _api(emu).photos.search(text="goldfish", extras="url_m,date_taken")["photos"]
    assert isinstance(photos["total"], str) and int(photos["total"]) > 0
    assert isinstance(photos["photo"][0]["height_m"], str)


def test_image_host_serves_sizes_and_planted_faults(start_emulator):
    emu = start_emulator(CorpusConfig(per_cell=3, deleted=1, noai=1))
    photos = {p["id"]: p for p in _api(emu).photos.search(text="goldfish", extras="url_m", per_page=500,
                                                         license="")["photos"]["photo"]}
    by_id = emu.photos
    for photo_id, row in photos.items():
        response = requests.get(row["url_m"])
        assert response.status_code == 200
        spec = by_id[photo_id]
        if spec.noai:
            assert "noai" in response.headers["X-Robots-Tag"]
        img = Image.open(io.BytesIO(response.content))
        if spec.deleted:
            assert img.size == (500, 374)
        elif spec.plant != "tiny":
            assert img.size == (row["width_m"], row["height_m"])
    wrong = row["url_m"].replace(by_id[photo_id].secret, "0" * 10)
    assert requests.get(wrong).status_code == 404


def test_injected_http_faults(start_emulator):
    emu = start_emulator(faults=Faults(first={"image_429": 1, "image_5xx": 1, "truncate": 1, "api_5xx": 1},
                                       retry_after_s=3))
    from flickrapi.exceptions import FlickrError

    with pytest.raises(FlickrError, match="503"):
        _api(emu).photos.search(text="goldfish")
    row = _api(emu).photos.search(text="goldfish", extras="url_m")["photos"]["photo"][0]
    too_many = requests.get(row["url_m"])
    assert too_many.status_code == 429 and too_many.headers["Retry-After"] == "3"
    assert requests.get(row["url_m"]).status_code == 502
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(row["url_m"]).content  # noqa: B018 - the body is cut short
    assert requests.get(row["url_m"]).status_code == 200
    assert emu.counters.faults == {"api_5xx": 1, "image_429": 1, "image_5xx": 1, "truncate": 1}


def test_api_error_rate_gives_temporary_codes(start_emulator):
    from flickrapi.exceptions import FlickrError

    emu = start_emulator(faults=Faults(first={"api_error": 2}))
    codes = []
    for _ in range(2):
        with pytest.raises(FlickrError) as err:
            _api(emu).photos.search(text="goldfish")
        codes.append(err.value.code)
    assert sorted(codes) == [10, 105]
    assert _api(emu).photos.search(text="goldfish")["stat"] == "ok"


def test_counters_measure_calls_per_window(emulator):
    api = _api(emulator)
    for _ in range(3):
        api.photos.search(text="goldfish", per_page=1)
    assert len(emulator.counters.api_calls) == 3
    assert emulator.counters.max_in_window(60) == 3


def test_renditions_are_deterministic_and_styles_differ():
    a = np.asarray(render("goldfish", "photo", 5, (96, 72)), dtype=np.float32)
    assert np.array_equal(a, np.asarray(render("goldfish", "photo", 5, (96, 72)), dtype=np.float32))
    means = {s: np.asarray(render("goldfish", s, 5, (96, 72)), dtype=np.float32).mean(axis=(0, 1)) for s in STYLES}
    assert len({tuple(np.round(m)) for m in means.values()}) == len(STYLES)
    sketch = np.asarray(render("goldfish", "sketch", 5, (96, 72)), dtype=np.float32)
    assert np.ptp(sketch.mean(axis=2) - sketch[..., 0]) < 1e-3  # line drawings carry no colour


def test_planted_items_and_reference_overlap(tmp_path):
    corpus = build_corpus(CorpusConfig(per_cell=3, plants=1, reference_size=2), seed=3)
    by_id = corpus.by_id()
    truth = {row["id"]: row for row in corpus.ground_truth()}
    planted = {row["plant"]: row for row in truth.values() if row["plant"]}
    assert set(planted) == {"exact", "reencode", "resize", "crop", "mirror", "black", "tiny", "reference"}
    size = (80, 60)
    exact = planted["exact"]
    assert image_bytes(by_id[exact["id"]], size) == image_bytes(by_id[exact["plant_of"]], size)
    mirrored = np.asarray(Image.open(io.BytesIO(image_bytes(by_id[planted["mirror"]["id"]], size))), np.float32)
    source = np.asarray(Image.open(io.BytesIO(image_bytes(by_id[planted["mirror"]["plant_of"]], size))), np.float32)
    assert np.abs(mirrored[:, ::-1] - source).mean() < np.abs(mirrored - source).mean() / 2
    black = Image.open(io.BytesIO(image_bytes(by_id[planted["black"]["id"]], size)))
    assert np.asarray(black).max() < 10
    from curation.emulator.api import served_size

    tiny = by_id[planted["tiny"]["id"]]
    assert served_size(tiny, "url_m", 320) == (24, 18) and served_size(tiny, "url_c", 320) is None
    files = write_reference_set(corpus, tmp_path / "ref")
    assert len(files) == 3
    overlap = next(p for p in files if p.name == planted["reference"]["plant_of"])
    ours = np.asarray(Image.open(io.BytesIO(image_bytes(by_id[planted["reference"]["id"]], (224, 168)))), np.float32)
    theirs = np.asarray(Image.open(overlap), np.float32)
    assert ours.shape == theirs.shape and np.abs(ours - theirs).mean() < 4
    saved = json.loads(corpus.write_ground_truth(tmp_path / "truth.json").read_text())
    assert len(saved["photos"]) == len(corpus.photos)
