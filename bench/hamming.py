"""Benchmark: every pair within Hamming distance 10 among 10,000,000 64-bit hashes, exact.

Hashes are realistic for a candidate pool: uniform random 64-bit values plus planted near-duplicate
clusters (an original and 1-20 copies, each 0-10 bits away from it, so copies of one cluster may be up to
20 bits apart). Ours is :func:`curation.filters.hamming_join.join` (numba, multi-index pigeonhole with
canonical passes, two threads). In the same run:

* exactness: for a sample of hashes, their neighbours by a plain numpy scan over all n hashes must be
  exactly the pairs ours returns for them (and the planted pairs within the radius must all be found);
* FAISS ``IndexBinaryFlat.range_search`` over the full database for a subset of queries, its time
  extrapolated to all n queries (it is not run past its budget);
* peak resident memory of the process (``resource.getrusage``).

    python bench/hamming.py                 # 10,000,000 hashes
    python bench/hamming.py --n 1000000     # smaller
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.filters.hamming_join import join, plan_join  # noqa: E402

RADIUS = 10


def flip_masks(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """One uint64 mask per entry of ``counts`` with exactly that many random bits set."""
    ranks = np.argsort(rng.random((counts.size, 64)), axis=1)  # a random permutation of the bits per row
    chosen = ranks < counts[:, None]
    return (chosen.astype(np.uint64) << np.arange(64, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)


def realistic_hashes(n: int, rng: np.random.Generator, planted_share: float = 0.02) -> np.ndarray:
    """Uniform random hashes with clusters of near copies (``planted_share`` of n are copies)."""
    n_copies = int(n * planted_share)
    sizes = np.minimum(rng.geometric(0.3, size=n_copies), 20)  # copies per cluster: mostly 1-3, up to 20
    sizes = sizes[np.cumsum(sizes) <= n_copies]
    base = rng.integers(0, 2**64, n - int(sizes.sum()), dtype=np.uint64)
    originals = base[rng.choice(base.size, sizes.size, replace=False)]
    copies = np.repeat(originals, sizes)
    masks = np.empty(copies.size, dtype=np.uint64)
    for start in range(0, copies.size, 1_000_000):
        part = slice(start, start + 1_000_000)
        masks[part] = flip_masks(rng, rng.integers(0, RADIUS + 1, copies[part].size))
    return rng.permutation(np.concatenate([base, copies ^ masks]))


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: kilobytes


def check_sample(h: np.ndarray, pairs: np.ndarray, sample: np.ndarray) -> int:
    """Plain numpy scan of every sampled hash against all n; returns how many sampled hashes disagree."""
    bad = 0
    for i in sample:
        near = np.flatnonzero(np.bitwise_count(h ^ h[i]) <= RADIUS)
        expect = set(near[near != i].tolist())
        got = set(pairs[1, pairs[0] == i].tolist()) | set(pairs[0, pairs[1] == i].tolist())
        bad += expect != got
    return bad


def faiss_extrapolated(h: np.ndarray, queries: int, budget_s: float) -> tuple[float, int, int]:
    """FAISS range search of ``queries`` hashes against all of ``h``; returns (extrapolated s, queries run, hits)."""
    import faiss

    codes = np.ascontiguousarray(h.astype(">u8").view(np.uint8).reshape(-1, 8))
    index = faiss.IndexBinaryFlat(64)
    index.add(codes)
    done, hits, elapsed, step = 0, 0, 0.0, 100
    while done < queries and elapsed < budget_s:
        start = time.perf_counter()
        lims, _, _ = index.range_search(codes[done:done + step], RADIUS + 1)  # FAISS keeps distances < radius
        elapsed += time.perf_counter() - start
        hits += int(lims[-1]) - min(step, h.size - done)  # each query finds itself
        done += step
    return elapsed * h.size / done, done, hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=int, default=200, help="hashes checked against a numpy scan")
    parser.add_argument("--faiss-queries", type=int, default=2000)
    parser.add_argument("--faiss-budget", type=float, default=60.0, help="seconds FAISS may run")
    args = parser.parse_args()
    rng = np.random.default_rng(18)
    start = time.perf_counter()
    h = realistic_hashes(args.n, rng)
    print(f"{h.size:,} hashes ({time.perf_counter() - start:.0f} s to generate), radius {RADIUS}")
    plan = plan_join(h.size, RADIUS)
    print(f"plan: {plan.k} identical chunks of {plan.m}, {plan.passes} passes, estimated {plan.est_seconds:.0f} "
          f"CPU s for uniform hashes", flush=True)
    join(h[:1000], RADIUS)  # compile (cached on disk after the first run) outside the timing
    wall, cpu = time.perf_counter(), time.process_time()
    pairs = join(h, RADIUS, workers=args.workers, plan=plan)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rss = peak_rss_gb()
    print(f"ours: {pairs.shape[1]:,} pairs in {wall:.1f} s wall ({cpu:.0f} CPU s, {args.workers} threads), "
          f"peak RSS {rss:.2f} GB; load average {Path('/proc/loadavg').read_text().split()[0]} on "
          f"{len(__import__('os').sched_getaffinity(0))} cores")
    sample = rng.choice(h.size, args.sample, replace=False)
    bad = check_sample(h, pairs, sample)
    print(f"exactness: {args.sample - bad}/{args.sample} sampled hashes have exactly the neighbours a numpy scan "
          "over all hashes finds")
    f_s, f_done, f_hits = faiss_extrapolated(h, args.faiss_queries, args.faiss_budget)
    ours_hits = sum(int(((pairs[0] == i) | (pairs[1] == i)).sum()) for i in range(f_done))
    print(f"FAISS IndexBinaryFlat range_search: {f_done} queries against all {h.size:,} hashes, extrapolated to all "
          f"queries: {f_s:.0f} s ({f_s / wall:.1f}x ours); its hits on those queries: {f_hits}, ours: {ours_hits}")
    ok = wall <= 600 and rss <= 4.0 and bad == 0 and f_hits == ours_hits
    print(f"TARGET {h.size:,} hashes all pairs within {RADIUS}, exact: {wall:.0f} s, {rss:.2f} GB, "
          f"{'exact' if bad == 0 and f_hits == ours_hits else 'NOT exact'} (target <= 600 s, <= 4 GB, exact) "
          f"{'met' if ok else 'missed'}")


if __name__ == "__main__":
    main()
