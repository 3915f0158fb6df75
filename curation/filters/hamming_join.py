"""Exact Hamming self-join of many 64-bit hashes (millions), compiled with numba.

The same pigeonhole as :mod:`curation.filters.index`: cut the 64 bits into ``m = radius + k``
contiguous chunks; two hashes within ``radius`` differ in at most ``radius`` chunks, so at least
``k`` chunks are identical, and every ``k``-subset of the chunks is one pass. A pass groups the
hashes by the concatenated values of its chunks (a counting sort into ``2**bits`` buckets, linear
time) and compares every pair inside a bucket with its real Hamming distance, so no pair is missed
and no false pair is returned.

What makes ten million hashes fit in minutes and a few hundred megabytes:

* each pass is one compiled loop (key, counting sort, bucket scan) that releases the GIL, so passes
  run in threads side by side, each with its own buffers (about 17 bytes per hash);
* a pair is emitted only by its *canonical* pass -- the first ``k`` chunks (lowest indices) on which
  the two hashes agree -- so no pair is found twice and nothing is deduplicated afterwards.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

log = logging.getLogger(__name__)

BITS = 64
# Rough per-element costs (seconds) of the compiled pass, used only to choose k.
_PASS_COST = 15e-9  # per hash per pass: key, counting sort, gather
_PAIR_COST = 1e-9  # per candidate pair in a bucket
_MAX_TOP_BITS = 20  # a job's top sort uses at most 2**20 buckets


@dataclass(frozen=True)
class JoinPlan:
    """``k`` identical chunks out of ``m``: the chunk layout and the estimated time."""

    m: int
    k: int
    est_seconds: float

    @property
    def passes(self) -> int:
        return math.comb(self.m, self.k)


def available() -> bool:
    """True when numba can be imported (the join needs it; callers fall back to numpy without it)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def chunk_layout(m: int) -> tuple[np.ndarray, np.ndarray]:
    """(shift, width) arrays of ``m`` contiguous chunks covering 64 bits, widths differing by at most one."""
    widths = np.array([BITS // m + (1 if i < BITS % m else 0) for i in range(m)], dtype=np.int64)
    shifts = BITS - np.cumsum(widths)
    return shifts.astype(np.int64), widths


def estimate(n: int, radius: int, m: int, k: int) -> float:
    """Expected seconds for uniform random hashes: every pass scans ``n`` hashes and its bucket pairs."""
    _, widths = chunk_layout(m)
    pairs = n * (n - 1) / 2
    total = 0.0
    for subset in itertools.combinations(range(m), k):
        bits = int(widths[list(subset)].sum())
        total += n * _PASS_COST + pairs * 2.0 ** -bits * _PAIR_COST
    return total


def plan_join(n: int, radius: int) -> JoinPlan:
    """The cheapest ``k`` (and so ``m = radius + k``) for ``n`` hashes by the cost model."""
    best: JoinPlan | None = None
    for k in range(2, BITS - radius + 1):
        m = radius + k
        if math.comb(m, k) > 20_000:
            break
        if math.ceil(BITS / m) * min(2, k - 1) > _MAX_TOP_BITS:  # the top sort's bucket table
            continue
        cost = estimate(n, radius, m, k)
        if best is None or cost < best.est_seconds:
            best = JoinPlan(m, k, cost)
    if best is None:
        raise ValueError(f"radius {radius} leaves no exact chunk plan with a top sort of {_MAX_TOP_BITS} bits")
    return best


def _kernels():
    """Compile (once, cached on disk) and return the two kernels: the top sort and the bucket passes."""
    import numba

    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def _ctpop(typingctx, x):
        """LLVM's ctpop on a uint64: the CPU's popcount instruction where it has one."""
        sig = types.uint64(types.uint64)

        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])

        return sig, codegen

    @numba.njit(cache=True, nogil=True, inline="always")
    def popcount(x):
        return _ctpop(x)

    @numba.njit(cache=True, nogil=True)
    def top_sort(h, top_shift, top_width, order, sh, bounds):
        """Counting sort of all hashes by the first chunks of a job (about a thousand buckets: streaming
        writes); bounds[b:b+2] is bucket b."""
        one = np.uint64(1)
        bounds[:] = 0
        for i in range(h.size):
            key = np.uint64(0)
            for c in range(top_shift.size):
                key = (key << top_width[c]) | ((h[i] >> top_shift[c]) & ((one << top_width[c]) - one))
            bounds[np.int64(key) + 1] += 1
        for b in range(1, bounds.size):
            bounds[b] += bounds[b - 1]
        nxt = bounds[:-1].copy()
        for i in range(h.size):
            key = np.uint64(0)
            for c in range(top_shift.size):
                key = (key << top_width[c]) | ((h[i] >> top_shift[c]) & ((one << top_width[c]) - one))
            b = np.int64(key)
            order[nxt[b]] = i
            sh[nxt[b]] = h[i]
            nxt[b] += 1

    @numba.njit(cache=True, nogil=True)
    def bucket_passes(sh, order, bounds, rest_shift, rest_width, pass_masks, cmask, k, radius,
                      lk, lh, lo, counts, out):
        """Within every top bucket, one pass per row of ``rest_*``: group by the rest of the pass's chunks
        (a counting sort on the key's low bits, sized to the bucket so it stays in cache) and keep the pairs
        within ``radius`` whose canonical pass is that row's. Returns how many (see :class:`_Worker`)."""
        one = np.uint64(1)
        rad = np.uint64(radius)
        zero = np.uint64(0)
        m = cmask.size
        found = 0
        for b in range(bounds.size - 1):
            s, e = bounds[b], bounds[b + 1]
            size = e - s
            if size < 2:
                continue
            slots = 1
            while 2 * slots < size:  # about two hashes per slot: a small table, in cache
                slots <<= 1
            low = np.uint32(slots - 1)
            for p in range(pass_masks.size):
                counts[:slots + 1] = 0
                for i in range(size):
                    key = np.uint64(0)
                    for c in range(rest_shift.shape[1]):
                        w = rest_width[p, c]
                        key = (key << w) | ((sh[s + i] >> rest_shift[p, c]) & ((one << w) - one))
                    lk[i] = np.uint32(key)
                    counts[np.int64(np.uint32(key) & low) + 1] += 1
                for g in range(1, slots + 1):
                    counts[g] += counts[g - 1]
                for i in range(size):
                    g = np.int64(lk[i] & low)
                    slot = counts[g]
                    lh[slot] = sh[s + i]
                    lo[slot] = order[s + i]
                    counts[g] = slot + 1
                start = 0
                for g in range(slots):
                    end = counts[g]
                    for a in range(start, end - 1):
                        ha = lh[a]
                        for j in range(a + 1, end):
                            x = ha ^ lh[j]
                            if popcount(x) > rad:
                                continue
                            # the chunks on which the two agree: the pair belongs to the pass of its first k (a pair
                            # that shares only the low bits of this pass's key fails here too)
                            ident = 0
                            for c in range(m):
                                if x & cmask[c] == zero:
                                    ident |= 1 << c
                            first = 0
                            for _ in range(k):
                                bit = ident & -ident
                                first |= bit
                                ident ^= bit
                            if first != pass_masks[p]:
                                continue
                            if found < out.shape[1]:
                                u, v = np.int64(lo[a]), np.int64(lo[j])
                                out[0, found] = min(u, v)
                                out[1, found] = max(u, v)
                            found += 1
                    start = end
        return found

    return top_sort, bucket_passes


_KERNELS = None


def _kernel():
    global _KERNELS
    if _KERNELS is None:
        _KERNELS = _kernels()
    return _KERNELS


class _Worker:
    """One thread's buffers, reused for every job it runs (about 40 bytes per hash)."""

    def __init__(self, h: np.ndarray, shifts: np.ndarray, widths: np.ndarray, k: int, radius: int):
        self.h, self.shifts, self.widths, self.k, self.radius = h, shifts, widths, k, radius
        self.order = np.empty(h.size, dtype=np.int32)
        self.sorted = np.empty_like(h)
        self.lk = np.empty(h.size, dtype=np.uint32)
        self.lh = np.empty_like(h)
        self.lo = np.empty(h.size, dtype=np.int32)
        self.counts = np.empty((1 << max(1, int(h.size - 1).bit_length())) + 1, dtype=np.int64)
        self.out = np.empty((2, 1 << 16), dtype=np.int64)
        self.cmask = np.array([((1 << int(w)) - 1) << int(s) for s, w in zip(shifts, widths)], dtype=np.uint64)

    def run(self, job: tuple[tuple[int, ...], list[tuple[int, ...]]]) -> np.ndarray:
        """All passes whose first chunks are ``job[0]`` and whose other chunks are the rows of ``job[1]``."""
        top_sort, bucket_passes = _kernel()
        top, rests = job
        top_idx = list(top)
        bounds = np.empty((1 << int(self.widths[top_idx].sum())) + 1, dtype=np.int64)
        top_sort(self.h, self.shifts[top_idx].astype(np.uint64), self.widths[top_idx].astype(np.uint64), self.order,
                 self.sorted, bounds)
        rest = np.asarray(rests, dtype=np.int64).reshape(len(rests), self.k - len(top))
        rest_shift, rest_width = self.shifts[rest].astype(np.uint64), self.widths[rest].astype(np.uint64)
        base = sum(1 << c for c in top)
        masks = np.array([base | sum(1 << c for c in row) for row in rests], dtype=np.int64)
        while True:
            found = bucket_passes(self.sorted, self.order, bounds, rest_shift, rest_width, masks, self.cmask, self.k,
                                  self.radius, self.lk, self.lh, self.lo, self.counts, self.out)
            if found <= self.out.shape[1]:
                return self.out[:, :found].copy()
            self.out = np.empty((2, found), dtype=np.int64)


def jobs_for(m: int, k: int, top: int = 2, per_job: int = 256) -> list[tuple[tuple[int, ...], list[tuple[int, ...]]]]:
    """The passes grouped by their first ``top`` chunks (one top sort per job), at most ``per_job`` passes a job."""
    top = max(1, min(top, k - 1))
    jobs = []
    for head in itertools.combinations(range(m), top):
        rests = list(itertools.combinations(range(head[-1] + 1, m), k - top))
        for start in range(0, len(rests), per_job):
            jobs.append((head, rests[start:start + per_job]))
    return jobs


def join(hashes: np.ndarray, radius: int, *, workers: int = 1, plan: JoinPlan | None = None) -> np.ndarray:
    """Every pair ``i < j`` with Hamming distance <= ``radius``, as a 2 x P int64 array sorted by (i, j).

    ``hashes`` is a uint64 array. Each pair is found exactly once (in its canonical pass).
    """
    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    if not 0 <= radius < BITS:
        raise ValueError(f"radius must be between 0 and {BITS - 1}, got {radius}")
    if h.size < 2:
        return np.empty((2, 0), dtype=np.int64)
    chosen = plan or plan_join(h.size, radius)
    shifts, widths = chunk_layout(chosen.m)
    log.debug("hamming join: %d hashes, radius %d, %d of %d chunks, %d passes, est %.0f s", h.size, radius,
              chosen.k, chosen.m, chosen.passes, chosen.est_seconds)
    if chosen.k < 2:
        raise ValueError("the join needs k >= 2 identical chunks")
    jobs = jobs_for(chosen.m, chosen.k)
    found = list(_run(jobs, lambda: _Worker(h, shifts, widths, chosen.k, radius), workers))
    pairs = np.concatenate(found, axis=1) if found else np.empty((2, 0), dtype=np.int64)
    order = np.lexsort((pairs[1], pairs[0]))
    return pairs[:, order]


def _run(jobs: list, make_worker, workers: int) -> Iterator[np.ndarray]:
    """Run the jobs on ``workers`` threads (the kernels release the GIL), each thread with its own buffers
    taking the next job from a shared queue."""
    import queue
    import threading

    workers = max(1, min(workers, len(jobs)))
    _kernel()  # compile once, before the threads race to
    todo: queue.Queue = queue.Queue()
    for job in jobs:
        todo.put(job)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def drain() -> None:
        try:
            worker = make_worker()
            while True:
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                results.append(worker.run(job))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=drain) for _ in range(workers - 1)]
    for t in threads:
        t.start()
    drain()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    yield from results
