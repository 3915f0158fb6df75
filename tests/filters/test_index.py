import numpy as np
import pytest

from curation.filters.index import brute_force_pairs, cross_pairs, pairs_within, plan


def _random(rng, n):
    return rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False)


def _planted(rng, n, copies, max_flips=14):
    """Random hashes plus copies with 0..max_flips bits flipped, so many pairs sit at every distance."""
    base = _random(rng, n)
    src = base[rng.integers(0, n, copies)]
    flips = np.zeros(copies, dtype=np.uint64)
    for k in range(copies):
        for bit in rng.choice(64, int(rng.integers(0, max_flips + 1)), replace=False):
            flips[k] |= np.uint64(1) << np.uint64(bit)
    # clusters too: one hash repeated, and a chain of one-bit steps
    chain = np.uint64(base[0]) ^ np.cumsum(np.ones(12, dtype=np.uint64)).astype(np.uint64)
    return rng.permutation(np.concatenate([base, src ^ flips, np.repeat(base[1:2], 5), chain]))


def _as_set(pairs):
    return set(zip(pairs.left.tolist(), pairs.right.tolist()))


@pytest.mark.parametrize("radius", [0, 1, 4, 10, 13])
@pytest.mark.parametrize("kind", ["random", "planted"])
def test_index_finds_exactly_the_brute_force_pairs(radius, kind):
    rng = np.random.default_rng(radius + (100 if kind == "planted" else 0))
    hashes = _random(rng, 3000) if kind == "random" else _planted(rng, 2500, 600)
    truth = brute_force_pairs(hashes, radius)
    found = pairs_within(hashes, radius, method="mih")
    assert _as_set(found) == _as_set(truth)
    assert (found.distance <= radius).all() and (found.left < found.right).all()
    if kind == "planted":
        assert len(truth) > 50  # the planted copies really are there


def test_every_chunk_count_is_exact():
    rng = np.random.default_rng(7)
    hashes = _planted(rng, 800, 300)
    truth = _as_set(brute_force_pairs(hashes, 10))
    import curation.filters.index as index

    for k in (1, 2, 3, 4, 5):
        chosen = index.Plan(10 + k, k, 0.0)
        h = index.as_uint64(hashes)
        chunks = index._Chunks(h, index._chunk_bounds(chosen.m))
        import itertools

        found = []
        for subset in itertools.combinations(range(chosen.m), k):
            found += index._self_pass(h, chunks, subset, 10)
        got = index._finish(found, h, h)
        assert _as_set(got) == truth, k


def test_threads_give_the_same_pairs_and_signed_input_works():
    rng = np.random.default_rng(3)
    hashes = _planted(rng, 4000, 500)
    single = pairs_within(hashes, 10, method="mih")
    threaded = pairs_within(hashes.view(np.int64), 10, method="mih", workers=2)
    assert _as_set(single) == _as_set(threaded)


@pytest.mark.parametrize("radius", [0, 6, 10])
def test_cross_search_is_exact(radius):
    rng = np.random.default_rng(radius)
    database = _planted(rng, 3000, 300)
    queries = np.concatenate([database[rng.integers(0, database.size, 200)] ^ np.uint64(0b1011),
                              _random(rng, 300)])
    found = cross_pairs(queries, database, radius, method="mih")
    brute = cross_pairs(queries, database, radius, method="brute")
    assert _as_set(found) == _as_set(brute)
    if radius >= 3:
        assert len(found) >= 200


def test_plan_is_sub_quadratic_for_large_inputs_and_brute_for_tiny_ones():
    big = plan(1_000_000, None, 10)
    assert big.m and big.passes < 5000
    assert plan(50, None, 10).m == 0
    with pytest.raises(ValueError, match="radius"):
        pairs_within(np.zeros(3, dtype=np.uint64), 64)
    with pytest.raises(ValueError, match="valid methods"):
        pairs_within(np.zeros(3, dtype=np.uint64), 3, method="faiss")


def test_empty_and_single_inputs():
    assert len(pairs_within(np.zeros(0, dtype=np.uint64), 10)) == 0
    assert len(pairs_within(np.ones(1, dtype=np.uint64), 10, method="mih")) == 0
    assert len(cross_pairs(np.zeros(0, dtype=np.uint64), np.ones(4, dtype=np.uint64), 3)) == 0


def test_clustered_hashes_in_forked_processes_give_the_brute_force_pairs_once_each():
    """Near-identical photos: many hashes agree in many chunks, so a pair is met in many passes; each is
    reported once, and passes shared among processes find the same pairs as one plain all-pairs loop."""
    from curation.filters.index import FORK_MIN

    rng = np.random.default_rng(5)
    base = rng.integers(0, 2**63, 300, dtype=np.int64).astype(np.uint64)
    flips = [np.uint64(1) << rng.integers(0, 64, 300).astype(np.uint64) for _ in range(FORK_MIN // 300 + 5)]
    h = np.concatenate([base ^ f for f in flips])
    ours = pairs_within(h, 8, method="mih", workers=2)
    expected = set()
    for i in range(h.size):  # the plain loop, one hash against every later one
        close = np.flatnonzero(np.bitwise_count(h[i] ^ h[i + 1:]) <= 8) + i + 1
        expected.update((i, int(j)) for j in close)
    assert set(zip(ours.left.tolist(), ours.right.tolist())) == expected
    import itertools

    from curation.filters import index

    every_pass = index._pass_group("self", h, None, 10, list(itertools.combinations(range(10), 2)), 8)
    assert every_pass.shape[1] == len(expected), "a pair met in several passes is kept in one"
    q, d = h[:5000], h[5000:]
    cross = cross_pairs(q, d, 8, method="mih", workers=2)
    plain = {(i, int(j)) for i in range(q.size) for j in np.flatnonzero(np.bitwise_count(q[i] ^ d) <= 8)}
    assert set(zip(cross.left.tolist(), cross.right.tolist())) == plain and len(cross) == len(plain)
