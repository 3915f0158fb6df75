"""Near-duplicate leakage between the training set and the test sets, from 64-bit perceptual hashes.

Pairs within ``max_distance`` Hamming bits are found without an all-pairs scan: split the 64 bits
into ``max_distance + 1`` blocks; by the pigeonhole principle two hashes that close agree exactly on at
least one block, so candidate pairs come from joins on block values and only those are compared.
Mirrored copies count too when the hashes of mirrored images (``phash_mirror``) are known.
"""

from __future__ import annotations

import logging

import numpy as np

from curation.errors import CurateError
from splits.spec import SplitSpec

log = logging.getLogger(__name__)


def popcount64(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.uint64)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values).astype(np.int64)
    return np.unpackbits(values.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1).astype(np.int64)


def _blocks(max_distance: int) -> list[tuple[int, int]]:
    n = max_distance + 1
    edges = np.linspace(0, 64, n + 1).astype(int)
    return [(int(a), int(b - a)) for a, b in zip(edges[:-1], edges[1:])]


def near_pairs(left: np.ndarray, right: np.ndarray, max_distance: int) -> np.ndarray:
    """Indices into ``right`` of the hashes within ``max_distance`` bits of some hash in ``left``."""
    import pandas as pd

    if not len(left) or not len(right):
        return np.zeros(0, dtype=np.int64)
    lu, ru = left.astype(np.int64).view(np.uint64), right.astype(np.int64).view(np.uint64)
    found = np.zeros(len(right), dtype=bool)
    for shift, width in _blocks(max_distance):
        mask = np.uint64((1 << width) - 1)
        lb = pd.DataFrame({"b": (lu >> np.uint64(shift)) & mask, "li": np.arange(len(lu))})
        rb = pd.DataFrame({"b": (ru >> np.uint64(shift)) & mask, "ri": np.arange(len(ru))})
        pairs = rb[~found[rb["ri"].to_numpy()]].merge(lb, on="b")
        if pairs.empty:
            continue
        li, ri = pairs["li"].to_numpy(), pairs["ri"].to_numpy()
        close = popcount64(lu[li] ^ ru[ri]) <= max_distance
        found[ri[close]] = True
    return np.flatnonzero(found)


def check_leakage(members, spec: SplitSpec):
    """Drop (or refuse, with ``action = 'error'``) test images that nearly duplicate a train image."""
    if spec.leakage_max_distance is None or "phash" not in members.columns or spec.train is None:
        return members, {}
    train = members[(members["subset"] == "train") & members["phash"].notna()]
    left = train["phash"].to_numpy(dtype=np.int64)
    if spec.leakage_mirrored and "phash_mirror" in members.columns:
        mirrored = train["phash_mirror"].dropna().to_numpy(dtype=np.int64)
        left = np.concatenate([left, mirrored])
    leaks: dict[str, int] = {}
    drop = np.zeros(len(members), dtype=bool)
    for subset in spec.subsets:
        if subset == "train":
            continue
        test = members[(members["subset"] == subset) & members["phash"].notna()]
        hits = near_pairs(left, test["phash"].to_numpy(dtype=np.int64), spec.leakage_max_distance)
        # an image on both sides is the same image, not a leak through a near-duplicate
        index = test.index[hits]
        index = index[~members.loc[index, "key"].isin(train["key"]).to_numpy()]
        if len(index):
            leaks[subset] = int(len(index))
            drop[members.index.get_indexer(index)] = True
    if leaks and spec.leakage_action == "error":
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(leaks.items()))
        raise CurateError(f"near-duplicates of train images (phash within {spec.leakage_max_distance} bits) in "
                          f"test sets: {detail}. Remove them, or set leakage.action = 'drop'")
    if leaks:
        log.info("dropped near-duplicates of train images from test sets: %s", leaks)
    return members[~drop].reset_index(drop=True), leaks
