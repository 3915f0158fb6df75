"""Benchmark: photos found and downloaded per second, curate's scraper vs a naive sequential loop.

Both run in the same script against the same emulator (a separate process, 50 ms latency on every
API call and every image request), over the same queries (class x style of the generated corpus):

* naive: for each query, ``flickr.photos.search`` page by page (flickrapi), then ``requests.get``
  each image in turn and write it to a folder;
* curate: ``setup_job`` + ``run_job`` (search workers) and ``download`` (32 concurrent fetches) into a
  fresh SQLite workspace: every photo deduplicated, probed, hashed, stored and recorded.

Rate limit: Flickr's default of 3,600 calls/hour would make the search phase a 1-call-per-second
queue and the comparison would time the limit, not the scraper. The bench therefore uses
``--rate`` (default 72,000 calls/hour = 20/s, burst 8; image requests are not API calls) and checks,
from the emulator's own timestamps of every API call, that no window of 1 s, 5 s or the whole run
saw more calls than the token bucket allows (burst + rate x window).

    python bench/scrape.py            # full size: 1,000 photos
    python bench/scrape.py --quick    # smoke run: 200 photos
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CLASSES = ("goldfish", "strawberry", "mushroom", "beacon", "ladybug")
STYLES = ("photo", "sketch", "cartoon", "painting", "origami")


def _serve(conn, per_cell: int, latency: float) -> None:
    """Emulator process: build and prerender the corpus, then answer 'reset' / 'calls' / 'stop'."""
    from curation.emulator import CorpusConfig, Faults, FlickrEmulator, build_corpus
    from curation.emulator.server import Counters

    corpus = build_corpus(CorpusConfig(classes=CLASSES, styles=STYLES, per_cell=per_cell, plants=0,
                                       reference_size=0), seed=1)
    with FlickrEmulator(corpus, faults=Faults(latency_s=latency), max_side=320) as emu:
        emu.prerender("url_c")
        conn.send((emu.rest_url, emu.api_key, emu.api_secret, len(corpus.photos)))
        while True:
            command = conn.recv()
            if command == "reset":
                emu.counters = Counters()
                conn.send(True)
            elif command == "calls":
                conn.send(([t for t, _, _ in emu.counters.api_calls], emu.counters.image_requests))
            else:
                break


def _queries() -> list[str]:
    from curation.emulator.renditions import STYLE_WORDS

    return [f"{c} {STYLE_WORDS[s][0]}" if s != "photo" else f"{c} photo" for c in CLASSES for s in STYLES]


def naive(rest_url: str, key: str, secret: str, out: Path) -> int:
    """The baseline: sequential search pages, then one ``requests.get`` per image."""
    import flickrapi
    import requests

    from curation.flickr.photos import pick_url

    api = flickrapi.FlickrAPI(key, secret, format="parsed-json", store_token=False)
    api.REST_URL = rest_url
    urls: dict[str, str] = {}
    for text in _queries():
        page, pages = 1, 1
        while page <= pages:
            photos = api.photos.search(text=text, per_page=500, page=page, license="0,1,2,3,4,5,6,7,8,9,10",
                                       extras="license,url_c,url_l,url_o,url_z,url_m", content_type=1)["photos"]
            pages = int(photos["pages"])
            for photo in photos["photo"]:
                picked = pick_url(photo, ("url_c", "url_l", "url_o"))
                if picked:
                    urls.setdefault(photo["id"], picked[1])
            page += 1
    out.mkdir(parents=True, exist_ok=True)
    saved = 0
    for photo_id, url in urls.items():
        response = requests.get(url, timeout=30)
        if response.status_code == 200:
            (out / f"{photo_id}.jpg").write_bytes(response.content)
            saved += 1
    return saved


def curate_run(rest_url: str, key: str, secret: str, root: Path, rate: float, burst: int, concurrency: int):
    import numpy as np

    from curation.config import load_settings
    from curation.db.session import connect, upgrade
    from curation.flickr.client import FlickrClient
    from curation.flickr.queries import QuerySpec
    from curation.scrape.job import ScrapeOptions
    from curation.scrape.pipeline import setup_job
    from curation.scrape.ratelimit import TokenBucket
    from curation.scrape.runner import run_job_with_downloads
    from curation.store import ImageStore
    from curation.workspace import create_workspace

    create_workspace(root)
    settings = load_settings(root)
    engine = connect(settings.database_url)
    upgrade(engine)
    bucket = TokenBucket(rate, burst=burst)
    client = FlickrClient(key, secret, rest_url=rest_url, limiter=bucket, rng=np.random.default_rng(0))
    start = time.perf_counter()
    job_id, _, shorts = setup_job(engine, settings, client, [QuerySpec(q) for q in _queries()], "imagenet-r",
                                  ["all"], ScrapeOptions(licenses=()))
    # as `curate scrape` does: downloads start with the first search page
    stats, got = run_job_with_downloads(engine, client, job_id, shorts, ImageStore(settings.store_path),
                                        workers=min(concurrency, len(_queries())), max_pixels=settings.max_image_pixels,
                                        max_bytes=settings.max_image_bytes, download_workers=concurrency)
    elapsed = time.perf_counter() - start
    print(f"  curate: search and downloads overlapped, {elapsed:.2f} s in all")
    engine.dispose()
    return got.downloaded, stats.new, elapsed, bucket


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 photos instead of 1,000")
    parser.add_argument("--latency", type=float, default=0.05, help="emulator latency per request, seconds")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=72_000, help="API calls per hour for curate's token bucket")
    parser.add_argument("--burst", type=int, default=8)
    args = parser.parse_args()
    per_cell = 8 if args.quick else 40
    parent, child = mp.Pipe()
    server = mp.get_context("spawn").Process(target=_serve, args=(child, per_cell, args.latency), daemon=True)
    server.start()
    rest_url, key, secret, n_photos = parent.recv()
    work = Path(tempfile.mkdtemp(prefix="bench-scrape-"))
    try:
        print(f"corpus: {n_photos} photos, {len(_queries())} queries, latency {args.latency * 1000:.0f} ms, "
              f"rate limit {args.rate:.0f} calls/h burst {args.burst}")
        t0 = time.perf_counter()
        naive_n = naive(rest_url, key, secret, work / "naive")
        naive_s = time.perf_counter() - t0
        print(f"naive loop:  {naive_n} photos in {naive_s:.2f} s = {naive_n / naive_s:.1f} photos/s")
        parent.send("reset")
        parent.recv()
        ours_n, new, ours_s, bucket = curate_run(rest_url, key, secret, work / "ws", args.rate, args.burst,
                                                 args.concurrency)
        parent.send("calls")
        calls, images = parent.recv()
        print(f"curate:      {ours_n} photos ({new} found) in {ours_s:.2f} s = {ours_n / ours_s:.1f} photos/s "
              f"(concurrency {args.concurrency}; {len(calls)} API calls, {images} image requests)")
        windows = {"1 s": 1.0, "5 s": 5.0, "run": max(ours_s, 1e-3)}
        within = True
        for name, seconds in windows.items():
            worst = _max_in_window(calls, seconds)
            allowed = bucket.bound(seconds)
            within &= worst <= allowed
            print(f"  API calls in any {name} window: {worst} (token bucket allows {allowed:.1f})")
        ratio = (ours_n / ours_s) / (naive_n / naive_s)
        print(f"TARGET scrape_speedup: {ratio:.1f}x (target 15x) {'met' if ratio >= 15 else 'missed'}")
        print(f"TARGET rate_limit_respected: {'yes' if within else 'no'} (target yes) {'met' if within else 'missed'}")
    finally:
        parent.send("stop")
        server.join(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def _max_in_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] > seconds:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


if __name__ == "__main__":
    main()
