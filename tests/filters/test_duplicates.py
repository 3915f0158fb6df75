import numpy as np

from curation.filters.duplicates import HashTable, group_duplicates, license_tier
from curation.filters.hashing import hash_bytes
from curation.filters.params import FilterParams
from tests.filters.conftest import encode, photo
from PIL import Image


def _table(datas, resolution=None, tiers=None, uploaded=None):
    rs = [hash_bytes(d, want_sha256=True) for d in datas]
    assert all(r.ok for r in rs)
    n = len(rs)
    return HashTable(keys=list(range(n)), sha256=[r.sha256 for r in rs], pixel_sha256=[r.pixel_sha256 for r in rs],
                     phash=[r.phash for r in rs], dhash=[r.dhash for r in rs],
                     phash_mirror=[r.phash_mirror for r in rs], dhash_mirror=[r.dhash_mirror for r in rs],
                     resolution=np.asarray(resolution or [r.width * r.height for r in rs]),
                     license_tier=np.asarray(tiers or [0] * n), uploaded=np.asarray(uploaded or list(range(n)), float))


def _groups(table, **kw):
    return {frozenset(g.members.tolist()): g for g in group_duplicates(table, FilterParams(**kw))}


def test_exact_pixels_near_and_mirrored_copies_are_grouped():
    a, b, c, d = photo(1), photo(2), photo(3), photo(4)
    datas = [encode(a, quality=92), encode(a, quality=92),  # 0,1: the same bytes
             encode(b, "PNG"), encode(b, "PNG", compress_level=1),  # 2,3: same pixels, other bytes
             encode(c, quality=92), encode(c.resize((480, 360)), quality=70),  # 4,5: near (bigger re-encode)
             encode(d, quality=92), encode(d.transpose(Image.Transpose.FLIP_LEFT_RIGHT), quality=85),  # 6,7 mirror
             encode(photo(5), quality=92)]  # 8: unrelated
    groups = _groups(_table(datas))
    assert set(groups) == {frozenset({0, 1}), frozenset({2, 3}), frozenset({4, 5}), frozenset({6, 7})}
    assert [groups[frozenset(s)].kind for s in ({0, 1}, {2, 3}, {4, 5}, {6, 7})] == ["exact", "pixels", "near", "mirror"]
    assert groups[frozenset({4, 5})].keeper == 5  # the larger resolution
    mirror = groups[frozenset({6, 7})]
    other = 7 if mirror.keeper == 6 else 6
    assert mirror.mirrored[other] and mirror.distance[other] <= 4
    assert not _groups(_table(datas), mirror=False).get(frozenset({6, 7}))


def test_keeper_is_resolution_then_license_then_earliest_upload():
    datas = [encode(photo(1), quality=q) for q in (90, 80, 70)]
    by_license = _groups(_table(datas, resolution=[100, 100, 100], tiers=[0, 2, 2], uploaded=[1, 9, 5]))
    assert next(iter(by_license.values())).keeper == 2  # best license, then the earlier upload
    by_size = _groups(_table(datas, resolution=[100, 200, 100], tiers=[2, 0, 2], uploaded=[1, 9, 5]))
    assert next(iter(by_size.values())).keeper == 1


def test_threshold_and_dhash_second_opinion():
    a = photo(7, (400, 300))
    datas = [encode(a, quality=95), encode(a.crop((10, 8, 390, 292)), quality=70)]
    t = _table(datas)
    p = bin(int(t.phash[0]) ^ int(t.phash[1])).count("1")
    d = bin(int(t.dhash[0]) ^ int(t.dhash[1])).count("1")
    assert 0 < p <= 10 and d > 0
    assert _groups(t, threshold=p, dhash_threshold=d)
    assert not _groups(t, threshold=p - 1, dhash_threshold=64)
    assert not _groups(t, threshold=p, dhash_threshold=d - 1)


def test_license_tiers():
    assert license_tier("CC0-1.0") == 2 and license_tier("9") == 2 and license_tier("CC-BY-SA-4.0") == 2
    assert license_tier("CC-BY-NC-4.0") == 1 and license_tier("2") == 1
    assert license_tier("All Rights Reserved") == 0 and license_tier(None) == 0 and license_tier("unknown") == 0


def test_brightness_third_opinion():
    a = photo(9)
    brighter = Image.eval(a, lambda v: min(255, v + 60))
    rs = [hash_bytes(encode(img, quality=92)) for img in (a, brighter)]
    t = _table([encode(a, quality=92), encode(brighter, quality=92)])
    t.mean = np.asarray([r.mean for r in rs])
    assert abs(rs[0].mean - rs[1].mean) > 30
    assert not _groups(t)  # same structure, another brightness: not a copy by default
    assert _groups(t, max_mean_diff=255.0)
