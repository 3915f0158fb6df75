"""The numba Hamming join against a plain all-pairs loop written here."""

import numpy as np
import pytest

from curation.filters import hamming_join
from curation.filters.index import pairs_within

pytestmark = pytest.mark.skipif(not hamming_join.available(), reason="numba not installed")


def planted(rng, n, copies, max_flips):
    """Random hashes plus near copies of some of them (0..max_flips bits flipped), shuffled."""
    h = rng.integers(0, 2**64, n, dtype=np.uint64)
    out = [h]
    for src in h[rng.integers(0, n, copies)]:
        mask = 0
        for bit in rng.choice(64, int(rng.integers(0, max_flips + 1)), replace=False):
            mask |= 1 << int(bit)
        out.append(np.array([int(src) ^ mask], dtype=np.uint64))
    return rng.permutation(np.concatenate(out))


def brute(h, radius):
    """Every (i, j), i < j, by a plain double loop over Python ints."""
    values = [int(v) for v in h]
    return {(i, j) for i in range(len(values)) for j in range(i + 1, len(values))
            if bin(values[i] ^ values[j]).count("1") <= radius}


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_join_equals_brute_force_for_every_chunk_plan(k):
    rng = np.random.default_rng(k)
    h = planted(rng, 1500, 300, 13)  # copies up to 13 bits away: some inside the radius, some just outside
    h = np.concatenate([h, h[:5]])  # exact duplicates
    expect = brute(h, 10)
    got = hamming_join.join(h, 10, plan=hamming_join.JoinPlan(10 + k, k, 0.0), workers=2)
    pairs = list(zip(got[0].tolist(), got[1].tolist()))
    assert len(pairs) == len(set(pairs)), "a pair was reported twice"
    assert set(pairs) == expect
    assert len(expect) > 200  # the planted pairs within the radius, and the duplicates


@pytest.mark.parametrize("radius", [0, 3, 6])
def test_join_other_radii(radius):
    rng = np.random.default_rng(radius)
    h = planted(rng, 800, 200, radius + 2)
    got = hamming_join.join(h, radius)
    assert set(zip(got[0].tolist(), got[1].tolist())) == brute(h, radius)


def test_pairs_within_uses_the_join_for_large_inputs(monkeypatch):
    import curation.filters.index as index

    monkeypatch.setattr(index, "JOIN_MIN", 100)
    rng = np.random.default_rng(9)
    h = planted(rng, 600, 100, 10)
    got = pairs_within(h.view(np.int64), 10)
    expect = brute(h, 10)
    assert set(zip(got.left.tolist(), got.right.tolist())) == expect
    assert all(bin(int(h[i]) ^ int(h[j])).count("1") == d for i, j, d in zip(got.left, got.right, got.distance))


def test_join_rejects_bad_radius_and_handles_tiny_inputs():
    with pytest.raises(ValueError, match="radius"):
        hamming_join.join(np.zeros(3, dtype=np.uint64), 64)
    assert hamming_join.join(np.zeros(1, dtype=np.uint64), 5).shape == (2, 0)
