"""Exact Hamming range search over 64-bit hashes, sub-quadratic, in numpy.

Multi-index hashing by the pigeonhole principle: cut the 64 bits into ``m = radius + k`` chunks.
Two hashes within ``radius`` differ in at most ``radius`` chunks, so at least ``k`` chunks are
identical. For every set of ``k`` chunks (``C(m, k)`` passes) the hashes are grouped by those
chunks (a radix sort of the concatenated key) and only hashes sharing a group are compared. Every
pair within the radius shares at least one group, so no pair is missed; every candidate is checked
with its real Hamming distance, so no false pair is returned. ``k`` is chosen by a cost model (more
chunks: fewer candidates, more passes); tiny inputs fall back to a blocked brute-force scan.
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
# Rough costs in seconds per element, used only to choose a plan.
_PASS_COST = 25e-9  # per hash per pass: key build, radix sort, run detection
_PAIR_COST = 15e-9  # per candidate pair: gather, xor, popcount
_BRUTE_COST = 2.5e-9  # per pair in the blocked all-pairs scan
JOIN_MIN = 500_000  # from this many hashes, a self search runs the numba join (curation.filters.hamming_join)


@dataclass(frozen=True)
class Plan:
    """How a search runs: ``k`` identical chunks out of ``m`` (``m == 0``: brute force)."""

    m: int
    k: int
    est_seconds: float

    @property
    def passes(self) -> int:
        return math.comb(self.m, self.k) if self.m else 0


@dataclass
class Pairs:
    """Result of a search: index pairs and their Hamming distances."""

    left: np.ndarray
    right: np.ndarray
    distance: np.ndarray

    def __len__(self) -> int:
        return int(self.left.size)


def as_uint64(values) -> np.ndarray:
    """Hashes as uint64 (signed stored values keep their bits)."""
    arr = np.asarray(values)
    if arr.dtype == np.uint64:
        return arr
    return arr.astype(np.int64, copy=False).view(np.uint64)


def _chunk_bounds(m: int) -> list[tuple[int, int]]:
    """(shift, width) of ``m`` contiguous chunks covering 64 bits, widths differing by at most one."""
    widths = [BITS // m + (1 if i < BITS % m else 0) for i in range(m)]
    bounds, shift = [], BITS
    for width in widths:
        shift -= width
        bounds.append((shift, width))
    return bounds


def plan(n_left: int, n_right: int | None, radius: int) -> Plan:
    """The cheapest exact plan for a self search (``n_right`` None) or a cross search."""
    pairs = n_left * (n_left - 1) / 2 if n_right is None else n_left * n_right
    n = n_left + (n_right or 0)
    best = Plan(0, 0, pairs * _BRUTE_COST)
    for k in range(1, BITS - radius + 1):
        m = radius + k
        if m > BITS:
            break
        bits = BITS * k / m
        passes = math.comb(m, k)
        cost = passes * (n * _PASS_COST + pairs * 2.0 ** -bits * _PAIR_COST)
        if cost < best.est_seconds:
            best = Plan(m, k, cost)
        if passes * n * _PASS_COST > best.est_seconds:
            break
    return best


def _sort_order(key: np.ndarray, bits: int) -> np.ndarray:
    """Indices that sort ``key`` (LSD radix passes on 16-bit digits when the key is short)."""
    if bits <= 16:
        return np.argsort(key.astype(np.uint16), kind="stable")
    if bits <= 32:
        low = np.argsort((key & 0xFFFF).astype(np.uint16), kind="stable")
        high = (key[low] >> 16).astype(np.uint16)
        return low[np.argsort(high, kind="stable")]
    return np.argsort(key, kind="stable")


class _Chunks:
    """The chunk values of a hash array, and the group key of any set of chunks."""

    def __init__(self, hashes: np.ndarray, bounds: list[tuple[int, int]]):
        dtype = np.uint32 if max(w for _, w in bounds) <= 32 else np.uint64
        self.bounds = bounds
        self.values = [((hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(dtype)
                       for shift, width in bounds]

    def key(self, subset: tuple[int, ...]) -> tuple[np.ndarray, int]:
        bits = sum(self.bounds[c][1] for c in subset)
        dtype = np.uint32 if bits <= 32 else np.uint64
        key = np.zeros(self.values[0].shape, dtype=dtype)
        for c in subset:
            key <<= dtype(self.bounds[c][1])
            key |= self.values[c].astype(dtype, copy=False)
        return key, bits


def _self_pass(h: np.ndarray, chunks: _Chunks, subset: tuple[int, ...], radius: int) -> list[np.ndarray]:
    """Pairs (i < j) within ``radius`` among hashes sharing the chunks of ``subset``."""
    key, bits = chunks.key(subset)
    order = _sort_order(key, bits)
    skey, sh = key[order], h[order]  # sorted once, so the scans below read memory in order
    n = skey.size
    pos = np.flatnonzero(skey[1:] == skey[:-1])
    found: list[np.ndarray] = []
    step = 1
    while pos.size:
        xor = sh[pos] ^ sh[pos + step]
        keep = np.bitwise_count(xor) <= radius
        keep[keep] = _canonical(xor[keep], chunks.bounds, subset)
        if keep.any():
            a, b = order[pos[keep]], order[pos[keep] + step]
            found.append(np.stack([np.minimum(a, b), np.maximum(a, b)]))
        step += 1
        pos = pos[pos + step < n]
        pos = pos[skey[pos] == skey[pos + step]]
    return found


def _canonical(xor: np.ndarray, bounds: list[tuple[int, int]], subset: tuple[int, ...]) -> np.ndarray:
    """True where ``subset`` is the first ``k`` chunks in which a pair agrees (``xor`` of the two hashes; they
    agree in every chunk of ``subset``): a pair agreeing in more chunks is met in several passes and kept in
    exactly one, so close pairs are not collected a dozen times over only to be deduplicated."""
    ok = np.ones(xor.shape, dtype=bool)
    chosen = set(subset)
    for c in range(max(subset)):
        if c not in chosen:
            shift, width = bounds[c]
            ok &= ((xor >> np.uint64(shift)) & np.uint64((1 << width) - 1)) != 0
    return ok


def _cross_pass(q: np.ndarray, d: np.ndarray, qc: _Chunks, dc: _Chunks, subset: tuple[int, ...],
                radius: int) -> list[np.ndarray]:
    """Pairs (query, database) within ``radius`` sharing the chunks of ``subset``."""
    dkey, bits = dc.key(subset)
    qkey, _ = qc.key(subset)
    order = _sort_order(dkey, bits)
    skey = dkey[order]
    lo = np.searchsorted(skey, qkey, "left")
    counts = np.searchsorted(skey, qkey, "right") - lo
    total = int(counts.sum())
    if not total:
        return []
    hit = np.flatnonzero(counts)  # most queries match nothing: work on the others only
    counts = counts[hit]
    qi = np.repeat(hit, counts)
    spos = np.repeat(lo[hit] - (np.cumsum(counts) - counts), counts) + np.arange(total)
    candidates = d[order][spos] if total > d.size // 4 else d[order[spos]]  # sorted copy pays off when many
    keep = np.bitwise_count(q[qi] ^ candidates) <= radius
    return [np.stack([qi[keep], order[spos[keep]]])] if keep.any() else []


def _brute(q: np.ndarray, d: np.ndarray | None, radius: int, block: int = 1024) -> Iterator[np.ndarray]:
    """Blocked all-pairs scan (self when ``d`` is None, with i < j)."""
    target = q if d is None else d
    for start in range(0, q.size, block):
        rows = q[start:start + block]
        first = start if d is None else 0
        cols = target[first:]
        if not cols.size:
            continue
        close = np.bitwise_count(rows[:, None] ^ cols[None, :]) <= radius
        i, j = np.nonzero(close)
        i, j = i + start, j + first
        if d is None:
            keep = j > i
            i, j = i[keep], j[keep]
        if i.size:
            yield np.stack([i, j])


def _finish(found: list[np.ndarray], left: np.ndarray, right: np.ndarray) -> Pairs:
    if not found:
        empty = np.empty(0, dtype=np.int64)
        return Pairs(empty, empty.copy(), np.empty(0, dtype=np.uint8))
    stacked = np.concatenate(found, axis=1).astype(np.int64)
    width = np.int64(max(right.size, 1))
    keys = np.unique(stacked[0] * width + stacked[1])  # one integer per pair: a 1-D sort, not a row-wise unique
    i, j = keys // width, keys % width
    return Pairs(i, j, np.bitwise_count(left[i] ^ right[j]))


def _run(passes, worker, workers: int) -> list[np.ndarray]:
    """Run ``worker`` on every pass, in threads when asked (numpy releases the GIL in the heavy parts)."""
    found: list[np.ndarray] = []
    if workers <= 1:
        for subset in passes:
            found += worker(subset)
        return found
    from curation.parallel import map_unordered

    for part in map_unordered(worker, passes, workers=workers, kind="threads"):
        found += part
    return found


FORK_MIN = 10_000  # from this many hashes a multi-pass search with several workers runs its passes in processes


def _pass_group(kind: str, left: np.ndarray, right: np.ndarray | None, m: int, subsets: list[tuple[int, ...]],
                radius: int) -> np.ndarray:
    """One process's share of the passes of a self (``right`` None) or cross search, as one 2 x n array."""
    bounds = _chunk_bounds(m)
    lc = _Chunks(left, bounds)
    found: list[np.ndarray] = []
    if kind == "self":
        for subset in subsets:
            found += _self_pass(left, lc, subset, radius)
    else:
        rc = _Chunks(right, bounds)
        for subset in subsets:
            found += _cross_pass(left, right, lc, rc, subset, radius)
    return np.concatenate(found, axis=1) if found else np.empty((2, 0), dtype=np.int64)


def _run_forked(kind: str, left: np.ndarray, right: np.ndarray | None, chosen: Plan, radius: int,
                workers: int) -> list[np.ndarray] | None:
    """The passes shared among ``workers`` forked processes (the passes' small numpy steps hold the GIL, so
    threads do not overlap them); None where processes cannot be forked, and the caller uses threads."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    try:
        context = multiprocessing.get_context("fork")
    except ValueError:
        return None
    subsets = list(itertools.combinations(range(chosen.m), chosen.k))
    shares = [subsets[w::workers] for w in range(workers)]
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(_pass_group, kind, left, right, chosen.m, share, radius) for share in shares]
        return [f.result() for f in futures]


def pairs_within(hashes, radius: int, *, method: str = "auto", workers: int = 1) -> Pairs:
    """Every pair ``i < j`` with Hamming distance <= ``radius`` (exact), by multi-index hashing.

    ``method`` is ``auto`` (cheapest by the cost model), ``mih`` or ``brute``.
    """
    h = as_uint64(hashes)
    if method == "auto" and h.size >= JOIN_MIN and 0 <= radius < BITS:
        from curation.filters import hamming_join

        if hamming_join.available():  # compiled canonical passes: millions of hashes in minutes, no dedup
            pairs = hamming_join.join(h, radius, workers=workers)
            return Pairs(pairs[0], pairs[1], np.bitwise_count(h[pairs[0]] ^ h[pairs[1]]))
    chosen = _choose(method, h.size, None, radius)
    if chosen.m == 0:
        return _finish(list(_brute(h, None, radius)), h, h)
    chunks = _Chunks(h, _chunk_bounds(chosen.m))
    log.debug("self search: %d hashes, radius %d, %d of %d chunks, %d passes", h.size, radius, chosen.k,
              chosen.m, chosen.passes)
    if workers > 1 and h.size >= FORK_MIN:
        found = _run_forked("self", h, None, chosen, radius, workers)
        if found is not None:
            return _finish(found, h, h)
    passes = itertools.combinations(range(chosen.m), chosen.k)
    return _finish(_run(passes, lambda s: _self_pass(h, chunks, s, radius), workers), h, h)


def cross_pairs(queries, database, radius: int, *, method: str = "auto", workers: int = 1) -> Pairs:
    """Every (query index, database index) within ``radius`` (exact)."""
    q, d = as_uint64(queries), as_uint64(database)
    if not q.size or not d.size:
        return _finish([], q, d)
    chosen = _choose(method, q.size, d.size, radius)
    if chosen.m == 0:
        return _finish(list(_brute(q, d, radius)), q, d)
    if workers > 1 and q.size + d.size >= FORK_MIN:
        found = _run_forked("cross", q, d, chosen, radius, workers)
        if found is not None:
            return _finish(found, q, d)
    bounds = _chunk_bounds(chosen.m)
    qc, dc = _Chunks(q, bounds), _Chunks(d, bounds)
    passes = itertools.combinations(range(chosen.m), chosen.k)
    return _finish(_run(passes, lambda s: _cross_pass(q, d, qc, dc, s, radius), workers), q, d)


def _choose(method: str, n_left: int, n_right: int | None, radius: int) -> Plan:
    if not 0 <= radius < BITS:
        raise ValueError(f"radius must be between 0 and {BITS - 1}, got {radius}")
    if method == "brute":
        return Plan(0, 0, 0.0)
    if method == "auto":
        return plan(n_left, n_right, radius)
    if method == "mih":
        best = plan(max(n_left, 2), n_right, radius)
        if best.m:
            return best
        k = max(1, min(BITS - radius, 3))
        return Plan(radius + k, k, 0.0)
    raise ValueError(f"unknown search method {method!r}; valid methods: auto, brute, mih")


def brute_force_pairs(hashes, radius: int) -> Pairs:
    """The all-pairs scan, for tests and benchmarks."""
    h = as_uint64(hashes)
    return _finish(list(_brute(h, None, radius)), h, h)
