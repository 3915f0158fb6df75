"""Benchmark: photos found and downloaded per second, curate's scraper vs a naive sequential loop and
vs the thread-pool script a competent user writes; then search calls on a capped, bursty catalogue.

The speed runs share one emulator (a separate process, 50 ms latency on every API call and every
image request) and the same queries (class x style of the generated corpus):

* naive: for each query, ``flickr.photos.search`` page by page (flickrapi), then ``requests.get``
  each image in turn and write it to a folder;
* thread pool: the same search loop with the queries in a ``ThreadPoolExecutor``, then the images
  through one pooled ``requests.Session`` in a ``ThreadPoolExecutor``, both at curate's concurrency;
  run twice: ignoring the API's rate limit (as the script is usually written), and keeping it with a
  token bucket around each search call (as a key's limit requires);
* curate: ``setup_job`` + ``run_job`` (search workers) and ``download`` (32 concurrent fetches) into a
  fresh SQLite workspace: every photo deduplicated, probed, hashed, stored and recorded.

Search calls: an in-process emulator with Flickr's cap (4,000 results a search, 500 a page), a
catalogue whose uploads come in bursts (many photos share an upload second), temporary API errors and
mixed field types; queries matching more than the cap. curate's calls are compared with
Σ⌈matched/500⌉ over the queries (matched counted by a plain loop over the catalogue): the fewest
pages any client needs, plus one call a query.

Rate limit: Flickr's default of 3,600 calls/hour would make the search phase a 1-call-per-second
queue and the comparison would time the limit, not the scraper. The bench therefore uses
``--rate`` (default 72,000 calls/hour = 20/s, burst 8; image requests are not API calls) and checks,
from the emulator's own timestamps of every API call, that no window of 1 s, 5 s or the whole run
saw more calls than the token bucket allows (burst + rate x window).

    python bench/scrape.py            # full size: 1,000 photos; 12,000 in the capped catalogue
    python bench/scrape.py --quick    # smoke run: 200 photos; 6,000 in the capped catalogue
"""

from __future__ import annotations

import argparse
import logging
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
            elif isinstance(command, tuple) and command[0] == "calls":
                conn.send(([emu.counters.max_in_window(w) for w in command[1]], len(emu.counters.api_calls),
                           emu.counters.image_requests))
            else:
                break


def _queries() -> list[str]:
    from curation.emulator.renditions import STYLE_WORDS

    return [f"{c} {STYLE_WORDS[s][0]}" if s != "photo" else f"{c} photo" for c in CLASSES for s in STYLES]


def search_pages(rest_url: str, key: str, secret: str, text: str, limiter=None) -> dict[str, str]:
    """The practitioner's search loop for one query: every page of ``flickr.photos.search``, photo id -> URL
    (with ``limiter``, a token bucket taken before each call)."""
    import flickrapi

    from curation.flickr.photos import pick_url

    api = flickrapi.FlickrAPI(key, secret, format="parsed-json", store_token=False)
    api.REST_URL = rest_url
    found, page, pages = {}, 1, 1
    while page <= pages:
        if limiter is not None:
            limiter.acquire()
        photos = api.photos.search(text=text, per_page=500, page=page, license="0,1,2,3,4,5,6,7,8,9,10",
                                   extras="license,url_c,url_l,url_o,url_z,url_m", content_type=1)["photos"]
        pages = int(photos["pages"])
        for photo in photos["photo"]:
            picked = pick_url(photo, ("url_c", "url_l", "url_o"))
            if picked:
                found.setdefault(photo["id"], picked[1])
        page += 1
    return found


def naive(rest_url: str, key: str, secret: str, out: Path) -> int:
    """The baseline: sequential search pages, then one ``requests.get`` per image."""
    import requests

    urls: dict[str, str] = {}
    for text in _queries():
        for photo_id, url in search_pages(rest_url, key, secret, text).items():
            urls.setdefault(photo_id, url)
    out.mkdir(parents=True, exist_ok=True)
    saved = 0
    for photo_id, url in urls.items():
        response = requests.get(url, timeout=30)
        if response.status_code == 200:
            (out / f"{photo_id}.jpg").write_bytes(response.content)
            saved += 1
    return saved


def threadpool(rest_url: str, key: str, secret: str, out: Path, concurrency: int, limiter=None) -> int:
    """The thread-pool script: the naive search loop with queries in parallel, then pooled downloads
    (``limiter``: the API's rate limit kept, as a token bucket around each search call)."""
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from requests.adapters import HTTPAdapter

    urls: dict[str, str] = {}
    with ThreadPoolExecutor(min(concurrency, len(_queries()))) as pool:
        for found in pool.map(lambda text: search_pages(rest_url, key, secret, text, limiter), _queries()):
            urls.update(found)
    out.mkdir(parents=True, exist_ok=True)
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=concurrency))

    def get(item: tuple[str, str]) -> bool:
        response = session.get(item[1], timeout=30)
        if response.status_code != 200:
            return False
        (out / f"{item[0]}.jpg").write_bytes(response.content)
        return True

    with ThreadPoolExecutor(concurrency) as pool:
        return sum(pool.map(get, urls.items()))


def curate_run(rest_url: str, key: str, secret: str, root: Path, rate: float, burst: int, concurrency: int):
    import numpy as np

    from curation.config import load_settings
    from curation.db.session import connect, upgrade
    from curation.flickr.client import FlickrClient
    from curation.flickr.queries import QuerySpec
    from curation.scrape.job import ScrapeOptions
    from curation.scrape.pipeline import setup_job
    from curation.scrape.ratelimit import TokenBucket
    from curation.download.runner import storing_threads
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
    print(f"  search: {stats.pages} pages, {stats.seconds['search']:.2f} worker-s in calls (rate limiter wait "
          f"{bucket.waited_s:.2f} s of it), {stats.seconds['database']:.2f} s storing pages in the database")
    print("  downloads " + got.profile(elapsed, concurrency + storing_threads(concurrency)))
    engine.dispose()
    return got.downloaded, stats.new, elapsed, bucket


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 photos instead of 1,000 (6,000 capped, not 12,000)")
    parser.add_argument("--latency", type=float, default=0.05, help="emulator latency per request, seconds")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=72_000, help="API calls per hour for curate's token bucket")
    parser.add_argument("--burst", type=int, default=8)
    parser.add_argument("--skip-speed", action="store_true", help="only the search-calls part")
    args = parser.parse_args()
    logging.getLogger("flickrapi").setLevel(logging.CRITICAL)  # injected 503s are expected, and counted
    if not args.skip_speed:
        speed(args)
    search_calls(12_000 if not args.quick else 6_000)


def speed(args) -> None:
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
        t0 = time.perf_counter()
        pool_n = threadpool(rest_url, key, secret, work / "pool", args.concurrency)
        pool_s = time.perf_counter() - t0
        print(f"thread pool: {pool_n} photos in {pool_s:.2f} s = {pool_n / pool_s:.1f} photos/s "
              f"(concurrency {args.concurrency}, no rate limit)")
        from curation.scrape.ratelimit import TokenBucket

        t0 = time.perf_counter()
        kept_n = threadpool(rest_url, key, secret, work / "pool-limited", args.concurrency,
                            TokenBucket(args.rate, burst=args.burst))
        kept_s = time.perf_counter() - t0
        print(f"thread pool keeping the rate limit (a token bucket around its search calls): {kept_n} photos in "
              f"{kept_s:.2f} s = {kept_n / kept_s:.1f} photos/s")
        parent.send("reset")
        parent.recv()
        ours_n, new, ours_s, bucket = curate_run(rest_url, key, secret, work / "ws", args.rate, args.burst,
                                                 args.concurrency)
        windows = {"1 s": 1.0, "5 s": 5.0, "run": max(ours_s, 1e-3)}
        parent.send(("calls", list(windows.values())))
        worst, calls, images = parent.recv()
        print(f"curate:      {ours_n} photos ({new} found) in {ours_s:.2f} s = {ours_n / ours_s:.1f} photos/s "
              f"(concurrency {args.concurrency}; {calls} API calls, {images} image requests)")
        within = True
        for (name, seconds), most in zip(windows.items(), worst):
            allowed = bucket.bound(seconds)
            within &= most <= allowed
            print(f"  API calls in any {name} window: {most} (token bucket allows {allowed:.1f})")
        ratio = (ours_n / ours_s) / (naive_n / naive_s)
        pool_ratio = (ours_n / ours_s) / (pool_n / pool_s)
        print(f"TARGET scrape_speedup: {ratio:.1f}x (target 15x) {'met' if ratio >= 15 else 'missed'}")
        print(f"TARGET scrape_vs_threadpool: {pool_ratio:.2f}x (target 1.0x) {'met' if pool_ratio >= 1.0 else 'missed'}")
        if pool_ratio < 1.0:
            print("  why: the thread pool ignores the API's rate limit, which no real key allows (Flickr's is 3,600 "
                  "calls an hour); curate waits for its token bucket (see the search line), so on a corpus this "
                  "small its start-up (the license list, the job and its windows) and the rate-limited searches "
                  "are not hidden behind the downloads, and it commits every page and every image with its checks "
                  "and fsyncs (bench/download.py compares the download part alone); against the same script "
                  "keeping the rate limit, the next line")
        kept_ratio = (ours_n / ours_s) / (kept_n / kept_s)
        print(f"TARGET scrape_vs_threadpool_same_rate_limit: {kept_ratio:.2f}x (target 1.0x) "
              f"{'met' if kept_ratio >= 1.0 else 'missed'}")
        print(f"TARGET rate_limit_respected: {'yes' if within else 'no'} (target yes) {'met' if within else 'missed'}")
    finally:
        parent.send("stop")
        server.join(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def search_calls(n_photos: int) -> None:
    """Calls to scrape a capped, bursty catalogue against the fewest pages that hold its matches."""
    import math
    import re

    import numpy as np

    from curation.emulator import CorpusConfig, Faults, FlickrEmulator, build_corpus
    from curation.emulator.corpus import with_bursty_uploads

    queries = ("goldfish", "mushroom", "cartoon", "mushroom sketch", "goldfish origami")
    corpus = build_corpus(CorpusConfig(classes=("goldfish", "mushroom"), per_cell=n_photos // 10, plants=0,
                                       reference_size=0), seed=7)
    corpus = with_bursty_uploads(corpus, np.random.default_rng(7), bursts=8, burst_s=900)
    matched = {}
    for text in queries:  # what a default search returns: every word in title, description or tags; safe photos
        words = set(text.split())
        matched[text] = sum(1 for p in corpus.photos if p.safety == 1 and p.content_type == 1 and words <= set(
            re.findall(r"[a-z0-9]+", f"{p.title} {p.description} {p.tags}".lower())))
    least = sum(math.ceil(n / 500) for n in matched.values())
    faults = Faults(api_error_rate=0.05, api_5xx_rate=0.02)
    with FlickrEmulator(corpus, faults=faults, cap=4000, max_side=64, field_types="mixed", seed=7) as emu:
        work = Path(tempfile.mkdtemp(prefix="bench-search-"))
        try:
            stats, calls, retries, seconds = _scrape_only(emu, work, queries)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    bound = 1.2 * least + len(queries)
    print(f"capped catalogue: {len(corpus.photos)} photos, uploads in bursts; matched per query "
          + ", ".join(f"{q!r}: {n}" for q, n in matched.items()))
    print(f"search: {stats.pages} pages answered in {seconds:.2f} s ({calls} calls made, {retries} of them retries of "
          f"injected errors); Σ⌈matched/500⌉ = {least}, {len(queries)} queries; {stats.continued} windows continued "
          f"past the cap, {stats.repeats} repeats at boundary seconds, {stats.empty_windows} empty windows, "
          f"{stats.crowded_seconds} seconds over the cap; {stats.linked} photos linked "
          f"(expected {sum(matched.values())})")
    print(f"  time: {stats.seconds['search']:.2f} worker-s in calls, {stats.seconds['database']:.2f} s storing pages")
    ok = stats.pages <= bound and stats.linked == sum(matched.values())
    print(f"TARGET search_calls: {stats.pages} (target <= 1.2*{least}+{len(queries)} = {bound:.0f}, every match found) "
          f"{'met' if ok else 'missed'}")


def _scrape_only(emu, root: Path, queries):
    import numpy as np

    from curation.config import load_settings
    from curation.db.session import connect, upgrade
    from curation.flickr.client import FlickrClient, RetryPolicy
    from curation.flickr.queries import QuerySpec
    from curation.scrape.job import ScrapeOptions
    from curation.scrape.pipeline import setup_job
    from curation.scrape.runner import run_job
    from curation.workspace import create_workspace

    create_workspace(root)
    settings = load_settings(root)
    engine = connect(settings.database_url)
    upgrade(engine)
    client = FlickrClient(emu.api_key, emu.api_secret, rest_url=emu.rest_url, rng=np.random.default_rng(0),
                          retry=RetryPolicy(tries=8, base_s=0.01, max_s=0.1))
    job_id, _, shorts = setup_job(engine, settings, client, [QuerySpec(q) for q in queries], "imagenet-r", ["all"],
                                  ScrapeOptions(licenses=()))
    before_calls, before_retries = client.calls, client.retries
    start = time.perf_counter()
    stats = run_job(engine, client, job_id, shorts, workers=4)
    seconds = time.perf_counter() - start
    engine.dispose()
    return stats, client.calls - before_calls, client.retries - before_retries, seconds


if __name__ == "__main__":
    main()
