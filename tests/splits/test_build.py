import dataclasses

import numpy as np
import pandas as pd
import pytest

from curation.errors import CurateError
from splits.build import stratified_take
from splits.leakage import near_pairs, popcount64
from splits.pipeline import build_spec
from splits.spec import load_spec


def _spec(table_dir, **changes):
    spec = load_spec(table_dir / "spec.toml")
    return dataclasses.replace(spec, **changes)


def _assignment(result):
    return list(zip(result.members["subset"], result.members["key"], result.members["labels"]))


def test_build_is_deterministic_and_seeded(svsf_table_dir):
    table = svsf_table_dir / "table.csv"
    spec = _spec(svsf_table_dir)
    first, _, _, _ = build_spec(spec, None, table)
    again, _, _, _ = build_spec(spec, None, table)
    assert _assignment(first) == _assignment(again)
    shuffled = svsf_table_dir / "shuffled.csv"
    pd.read_csv(table, dtype=str, keep_default_na=False).sample(frac=1, random_state=1).to_csv(shuffled, index=False)
    assert _assignment(build_spec(spec, None, shuffled)[0]) == _assignment(first)  # row order does not matter
    other, _, _, _ = build_spec(dataclasses.replace(spec, seed=4), None, table)
    assert _assignment(other) != _assignment(first)


def test_sizes_attributes_groups_and_stratification(svsf_table_dir):
    spec = _spec(svsf_table_dir)
    result, classes, meta, _ = build_spec(spec, None, svsf_table_dir / "table.csv")
    members, report = result.members, result.report
    assert report["sizes"] == {"train": 300, "iid_test": 60, "year_2017": 40, "country_france": 40}
    by = {s: members[members["subset"] == s] for s in report["sizes"]}
    assert set(by["train"]["country"]) <= {"US", "Mexico", "Canada"} and set(by["train"]["year"]) == {"2019"}
    assert set(by["year_2017"]["year"]) == {"2017"} and set(by["year_2017"]["camera"]) == {"new"}
    assert set(by["country_france"]["country"]) == {"France"} and set(by["country_france"]["year"]) == {"2019"}
    train_groups = set(by["train"]["business_id"])
    for subset in ("iid_test", "year_2017", "country_france"):
        assert not train_groups & set(by[subset]["business_id"]), subset
    assert not set(by["train"]["key"]) & set(by["iid_test"]["key"])
    # the IID test is stratified: each class gets its proportional share of the training pool, within one
    table = pd.read_csv(svsf_table_dir / "table.csv", dtype=str)
    pool = table[table["country"].isin(["US", "Mexico", "Canada"]) & (table["year"] == "2019")
                 & (table["camera"] == "new")]
    expected = pool["class"].value_counts() * 60 / len(pool)
    got = by["iid_test"]["labels"].value_counts()
    assert ((got.reindex(expected.index, fill_value=0) - expected).abs() < 1).all()
    assert report["classes"]["iid_test"] == {k: int(v) for k, v in got.items()} | report["classes"]["iid_test"]
    assert report["attributes"]["country_france"]["country"] == {"France": 40}
    assert "business_id" in meta


def test_shortfall_names_the_subset_and_the_gap(svsf_table_dir):
    spec = _spec(svsf_table_dir)
    big = dataclasses.replace(spec, ood=(dataclasses.replace(spec.ood[0], size=5000),))
    with pytest.raises(CurateError, match=r"subset 'year_2017' needs 5000 images but only \d+ match .*short by"):
        build_spec(big, None, svsf_table_dir / "table.csv")
    too_big = dataclasses.replace(spec, train=dataclasses.replace(spec.train, size=100_000))
    table = pd.read_csv(svsf_table_dir / "table.csv", dtype=str)
    pool = int((table["country"].isin(["US", "Mexico", "Canada"]) & (table["year"] == "2019")
                & (table["camera"] == "new")).sum())
    with pytest.raises(CurateError) as caught:  # names both subsets and the train filter, not '(all)'
        build_spec(too_big, None, svsf_table_dir / "table.csv")
    message = str(caught.value)
    assert message.startswith(f"train (100000) + iid_test (60) need 100060 images but only {pool} match")
    assert "country in ['US', 'Mexico', 'Canada'], year=2019, camera=new" in message and "(all)" not in message
    assert f"short by {100060 - pool}" in message


def test_bad_rows_are_counted_not_raised(svsf_table_dir):
    table = pd.read_csv(svsf_table_dir / "table.csv", dtype=str, keep_default_na=False)
    table.loc[0, "image"] = "../../etc/passwd"
    table.loc[1, "class"] = "spaceport"
    table.to_csv(svsf_table_dir / "table.csv", index=False)
    result, _, _, _ = build_spec(_spec(svsf_table_dir), None, svsf_table_dir / "table.csv")
    assert result.report["dropped"] == {"label names no class of svsf": 1, "unsafe image path (absolute or '..')": 1}
    missing = _spec(svsf_table_dir, label_column="kind")
    with pytest.raises(CurateError, match="lacks column"):
        build_spec(missing, None, svsf_table_dir / "table.csv")


def test_leakage_check_drops_or_refuses_near_duplicates(svsf_table_dir):
    table = pd.read_csv(svsf_table_dir / "table.csv", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(0)
    hashes = rng.integers(-(2**62), 2**62, len(table))
    france = np.flatnonzero((table["country"] == "France").to_numpy())
    train_like = np.flatnonzero((table["country"] == "US").to_numpy() & (table["year"] == "2019").to_numpy()
                                & (table["camera"] == "new").to_numpy())
    hashes[france] = hashes[train_like[: len(france)]] ^ 0b101  # every France image: 2 bits from a US one
    table["phash"] = hashes.astype(str)
    table.to_csv(svsf_table_dir / "table.csv", index=False)
    spec = _spec(svsf_table_dir, leakage_max_distance=3, disjoint_by="image")
    result, _, _, _ = build_spec(spec, None, svsf_table_dir / "table.csv")
    train_keys = set(result.members.loc[result.members["subset"] == "train", "key"])
    dropped = result.report["dropped"].get("near-duplicate of a train image (country_france)", 0)
    assert dropped > 0 and result.report["sizes"]["country_france"] == 40 - dropped
    france_left = result.members[result.members["subset"] == "country_france"]
    partner = {table.loc[france[i], "image"]: table.loc[train_like[i], "image"] for i in range(len(france))}
    assert not any(partner[k] in train_keys for k in france_left["key"])
    assert build_spec(dataclasses.replace(spec, leakage_max_distance=1), None, svsf_table_dir / "table.csv")[0] \
        .report["sizes"]["country_france"] == 40
    with pytest.raises(CurateError, match="near-duplicates of train images"):
        build_spec(dataclasses.replace(spec, leakage_action="error"), None, svsf_table_dir / "table.csv")


def test_near_pairs_matches_brute_force():
    rng = np.random.default_rng(1)
    left = rng.integers(-(2**63), 2**63 - 1, 300, dtype=np.int64)
    right = rng.integers(-(2**63), 2**63 - 1, 200, dtype=np.int64)
    flips = rng.integers(0, 64, (50, 3))
    for j in range(50):
        right[j] = left[j] ^ np.int64(sum(1 << int(b) for b in set(flips[j]))).astype(np.int64) \
            if max(flips[j]) < 63 else left[j]
    for distance in (0, 2, 4):
        brute = [j for j in range(len(right))
                 if (popcount64(np.full(len(left), right[j]) ^ left) <= distance).any()]
        assert near_pairs(left, right, distance).tolist() == brute


def test_stratified_take_is_proportional():
    strata = np.array([0] * 60 + [1] * 30 + [2] * 10)
    order = np.random.default_rng(0).permutation(100)
    taken = stratified_take(strata, order, 10)
    assert np.bincount(strata[taken]).tolist() == [6, 3, 1]
    assert stratified_take(strata, order, 100).tolist() == list(range(100))


def test_generic_preset_takes_any_table_and_its_classes(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    table = pd.DataFrame({"image": [f"x/{i}.png" for i in range(n)],
                          "label": rng.choice(["cat", "dog", "owl"], n),
                          "domain": rng.choice(["photo", "sketch", "painting"], n, p=[0.6, 0.3, 0.1])})
    table.to_parquet(tmp_path / "t.parquet", index=False)
    result, classes, meta, _ = build_spec(load_spec("generic"), None, tmp_path / "t.parquet")
    assert [c.key for c in classes] == ["cat", "dog", "owl"]
    sizes = result.report["sizes"]
    photos = int((table["domain"] == "photo").sum())
    assert sizes["iid_test"] == round(0.1 * photos) and sizes["train"] == photos - sizes["iid_test"]
    assert sizes["domain_sketch"] == int((table["domain"] == "sketch").sum())
    assert set(result.members["ext"]) == {"png"}


def test_groups_fall_back_when_the_table_lacks_the_column_and_tests_can_be_kept_apart(svsf_table_dir):
    table = svsf_table_dir / "table.csv"
    spec = _spec(svsf_table_dir, disjoint_by="business", disjoint_fallback="image")
    result = build_spec(spec, None, table)[0]  # the fixture's table names its column business_id
    assert result.report["grouped_by"] == "image"
    renamed = svsf_table_dir / "business.csv"
    pd.read_csv(table, dtype=str, keep_default_na=False).rename(columns={"business_id": "business"}).to_csv(
        renamed, index=False)
    for apart in (False, True):
        result = build_spec(dataclasses.replace(spec, tests_apart=apart), None, renamed)[0]
        assert result.report["grouped_by"] == "business"
        businesses = {s: set(part["business"]) for s, part in result.members.groupby("subset")}
        tests = [s for s in businesses if s != "train"]
        assert all(not businesses["train"] & businesses[t] for t in tests)  # train never shares a business
        shared = [(a, b) for a in tests for b in tests if a < b and businesses[a] & businesses[b]]
        assert (shared == []) if apart else shared  # without tests_apart this table's test sets do share
