"""The Flickr client: retries for temporary faults, none for key or parameter errors; the token bucket;
queries, licenses and photo records with old and new field types."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from curation.emulator import Faults
from curation.errors import CurateError
from curation.flickr.client import FlickrClient, FlickrRequestError, FlickrUnavailable, RetryPolicy
from curation.flickr.licenses import load_licenses, parse_licenses, resolve_licenses
from curation.flickr.photos import as_int, pick_url, record_fields
from curation.scrape.ratelimit import TokenBucket

FAST = RetryPolicy(tries=4, base_s=0.01, max_s=0.05)


def _client(emu, **kw) -> FlickrClient:
    kw.setdefault("retry", FAST)
    return FlickrClient(kw.pop("key", emu.api_key), emu.api_secret, rest_url=emu.rest_url,
                        rng=np.random.default_rng(0), **kw)


@pytest.mark.parametrize("kind", ["api_error", "api_5xx"])
def test_temporary_faults_are_retried(start_emulator, kind):
    emu = start_emulator(faults=Faults(first={kind: 2}))
    client = _client(emu)
    photos = client.search(text="goldfish", per_page=3)
    assert photos["photo"] and client.retries == 2 and client.calls == 3


def test_timeouts_are_retried(start_emulator):
    emu = start_emulator(faults=Faults(first={"hang": 1}, hang_s=1.5))
    client = _client(emu, timeout=0.5)
    assert client.search(text="goldfish", per_page=1)["photo"]
    assert client.retries == 1


def test_gives_up_after_the_last_try(start_emulator):
    emu = start_emulator(faults=Faults(api_error_rate=1.0))
    client = _client(emu)
    with pytest.raises(FlickrUnavailable, match="after 4 tries"):
        client.search(text="goldfish")
    assert len(emu.counters.api_calls) == 4


def test_invalid_key_is_not_retried(start_emulator):
    emu = start_emulator(faults=Faults(invalid_key=True))
    client = _client(emu)
    with pytest.raises(FlickrRequestError, match="FLICKR_API_KEY") as err:
        client.search(text="goldfish")
    assert err.value.code == 100 and client.calls == 1 and isinstance(err.value, CurateError)


def test_bad_parameter_is_not_retried(emulator):
    client = _client(emulator)
    with pytest.raises(FlickrRequestError, match="check the search options"):
        client.search(text="goldfish", min_upload_date=2000, max_upload_date=1000)
    assert client.calls == 1


def test_token_bucket_bound_with_threads():
    now = [0.0]
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            now[0] += seconds

    bucket = TokenBucket(3600, burst=2, clock=lambda: now[0], sleep=sleep)
    stamps = []

    def worker():
        for _ in range(5):
            bucket.acquire()
            with lock:
                stamps.append(now[0])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stamps) == 20
    assert bucket.waited_s >= 17.9  # 20 calls at 1/s with a burst of 2 need 18 s of waiting in all


def test_token_bucket_real_time_rate(emulator):
    bucket = TokenBucket(36_000, burst=2)  # 10 calls/s
    client = _client(emulator, limiter=bucket)
    for _ in range(8):
        client.search(text="goldfish", per_page=1)
    assert emulator.counters.max_in_window(0.3) <= bucket.bound(0.3) + 1e-9


def test_license_table_cached_and_resolved(emulator, tmp_path):
    client = _client(emulator)
    table = load_licenses(client, tmp_path)
    assert (tmp_path / "flickr_licenses.json").exists() and client.calls == 1
    assert load_licenses(client, tmp_path) == table and client.calls == 1  # from the cache
    load_licenses(client, tmp_path, refresh=True)
    assert client.calls == 2
    short = {x.id: x.short for x in table}
    assert short["4"] == "CC-BY-2.0" and short["9"] == "CC0-1.0" and short["10"] == "PDM-1.0"
    redistributable = {x.id for x in resolve_licenses(table, ["redistributable"])}
    assert "0" not in redistributable and {"1", "4", "7", "9", "10"} <= redistributable
    assert [x.id for x in resolve_licenses(table, ["cc-by-2.0", "9"])] == ["4", "9"]
    with pytest.raises(CurateError, match="unknown license"):
        resolve_licenses(table, ["CC-XYZ"])


def test_new_license_ids_are_understood():
    rows = [{"id": "11", "name": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            {"id": 12, "name": "All Rights Reserved", "url": ""}]
    new, reserved = parse_licenses(rows)
    assert new.short == "CC-BY-4.0" and new.redistributable and not reserved.redistributable


def test_photo_fields_accept_str_and_int():
    base = {"id": "1", "owner": "1@N00", "secret": "ab", "server": "1", "title": "<b>x</b>", "license": "4",
            "dateupload": "1578000000", "datetaken": "2019-12-31 18:20:05", "tags": "a b"}
    modern = record_fields({**base, "url_l": "http://h/1_b.jpg", "height_l": 768, "width_l": 1024},
                           ("url_c", "url_l", "url_o"), {"4": "CC-BY-2.0"})
    legacy = record_fields({**base, "url_l": "http://h/1_b.jpg", "height_l": "768", "width_l": "1024"},
                           ("url_c", "url_l", "url_o"), {"4": "CC-BY-2.0"})
    assert modern == legacy and modern["metadata_"]["width"] == 1024 and modern["license"] == "CC-BY-2.0"
    assert modern["uploaded_at"].year == 2020 and modern["taken_at"].year == 2019
    assert pick_url({"url_o": "http://o", "url_c": "http://c"}, ("url_c", "url_o")) == ("url_c", "http://c")
    assert pick_url({"url_m": "http://m"}, ("url_c",)) == ("url_m", "http://m")
    assert pick_url({"url_c": "javascript:alert(1)"}, ("url_c",)) is None
    assert as_int("4000") == 4000 and as_int(4000) == 4000 and as_int(None) is None and as_int("x") is None
