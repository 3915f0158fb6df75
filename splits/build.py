"""The split builder: pure, seeded and vectorised.

Input: the canonical frame (``splits.frames``), already sorted by its stable ``key``, and a
``np.random.Generator`` made from the spec's seed. An image matches a subset when ANY of its rows
(items) matches every attribute filter; its labels are the classes of the matching rows. Without a
[test] table the IID test set is a class-stratified sample of the training distribution and the
training set is the rest; with one (DFR: the validation split) every test set, IID included, is every
image matching its own filter. Size caps take stratified samples; group disjointness holds out test
images whose group has an image in the training set. Each of these rules records how many images it
removed (``held_out`` in the report). Same frame + same seed = same assignment, whatever database the rows came from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curation.errors import CurateError
from splits.frozen import ClassEntry
from splits.spec import DISJOINT_NONE, SplitSpec, SubsetSpec

log = logging.getLogger(__name__)


@dataclass
class BuildResult:
    members: Any  # DataFrame: subset, key, labels ('|'-joined class keys), provenance, metadata columns
    report: dict[str, Any] = field(default_factory=dict)


def stratified_take(strata: np.ndarray, order: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` rows, proportional per stratum (largest remainder), first in ``order`` within each."""
    if n >= len(order):
        return np.sort(order)
    s = strata[order]
    values, counts = np.unique(s, return_counts=True)
    exact = counts * (n / counts.sum())
    quota = np.floor(exact).astype(np.int64)
    rest = n - int(quota.sum())
    if rest:
        frac_rank = np.lexsort((values, -(exact - quota)))  # biggest remainder first, ties by stratum
        quota[frac_rank[:rest]] += 1
    per_value = np.zeros(int(values.max()) + 1, dtype=np.int64)
    per_value[values] = quota
    by_stratum = np.argsort(s, kind="stable")
    sorted_s = s[by_stratum]
    rank_sorted = np.arange(len(s)) - np.searchsorted(sorted_s, sorted_s, side="left")
    rank = np.empty_like(rank_sorted)
    rank[by_stratum] = rank_sorted
    return np.sort(order[rank < per_value[s]])


class _Images:
    """Row-level arrays folded to images: the image code of each row, and per-image groups."""

    def __init__(self, frame, spec: SplitSpec):
        import pandas as pd

        self.frame = frame
        self.row_image, self.keys = pd.factorize(frame["key"], sort=True)
        self.n = len(self.keys)
        first = np.full(self.n, -1, dtype=np.int64)
        first[self.row_image[::-1]] = np.arange(len(frame))[::-1]
        self.first_row = first
        group_codes, _ = pd.factorize(frame["group"].to_numpy()[first])
        self.group = group_codes if spec.disjoint_by not in DISJOINT_NONE else None
        self.cls = frame["cls"].to_numpy()

    def match(self, where: dict[str, tuple[str, ...]]) -> np.ndarray:
        """Row mask: every attribute takes one of its values."""
        mask = np.ones(len(self.frame), dtype=bool)
        for attr, values in where.items():
            mask &= self.frame[attr].isin(values).to_numpy()
        return mask

    def images(self, row_mask: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        out[self.row_image[row_mask]] = True
        return out

    def strata(self, row_mask: np.ndarray) -> np.ndarray:
        """Per image, the first matching class (the stratum of a multi-label image)."""
        out = np.full(self.n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(out, self.row_image[row_mask], self.cls[row_mask])
        return out

    def same_group(self, chosen: np.ndarray) -> np.ndarray:
        """Image mask of every image sharing a group with a chosen image."""
        if self.group is None:
            return np.zeros(self.n, dtype=bool)
        hit = np.zeros(self.group.max() + 1 if self.n else 0, dtype=bool)
        hit[self.group[chosen]] = True
        return hit[self.group]


def _describe(subset: SubsetSpec) -> str:
    return ", ".join(f"{k} in {list(v)}" if len(v) > 1 else f"{k}={v[0]}" for k, v in subset.where.items()) or "all"


def _need(subset: SubsetSpec, wanted: int, have: int, note: str = "") -> None:
    if wanted > have:
        raise CurateError(f"subset {subset.name!r} needs {wanted} images but only {have} match ({_describe(subset)})"
                          f"{note}: short by {wanted - have}. Lower its size or add data")


def _need_pool(spec: SplitSpec, n_iid: int, have: int) -> None:
    """Train and the IID test draw from one pool: a shortfall names both and the train filter."""
    wanted = n_iid + (spec.train.size or 0)
    if wanted > have:
        what = f"train ({spec.train.size}) + {spec.iid_test.name} ({n_iid})" if spec.train.size else \
            f"{spec.iid_test.name} ({n_iid}, leaving no image for train)"
        raise CurateError(f"{what} need {wanted} images but only {have} match the training filter "
                          f"({_describe(spec.train)}): short by {wanted - have}. Lower train.size or "
                          f"{spec.iid_test.name}'s size, or add data")


def assign(frame, spec: SplitSpec, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray],
                                                                     dict[str, int]]:
    """Subset name -> chosen image codes and row masks; plus counts of images held out for disjointness."""
    imgs = _Images(frame, spec)
    chosen: dict[str, np.ndarray] = {}
    rows: dict[str, np.ndarray] = {}
    held: dict[str, int] = {}
    train_side = np.zeros(imgs.n, dtype=bool)
    if spec.train is not None and spec.separate_tests:
        train_side = _train_alone(imgs, spec, rng, chosen, rows, held)
    elif spec.train is not None:
        train_side = _train_and_iid(imgs, spec, rng, chosen, rows, held)
    tests = ([spec.iid_test] if spec.separate_tests and spec.iid_test is not None else []) + list(spec.ood)
    taken = np.zeros(imgs.n, dtype=bool)
    if spec.tests_apart and spec.iid_test is not None and spec.iid_test.name in chosen:
        taken[chosen[spec.iid_test.name]] = True
    for subset in tests:
        blocked = train_side.copy()
        if spec.tests_apart:  # nor a group of the IID test or of an earlier OOD set
            blocked |= taken | imgs.same_group(np.flatnonzero(taken))
        _ood(imgs, spec, subset, rng, blocked, chosen, rows, held)
        taken[chosen[subset.name]] = True
    return chosen, rows, {k: v for k, v in held.items() if v}


def _train_and_iid(imgs: _Images, spec: SplitSpec, rng: np.random.Generator, chosen: dict, rows: dict,
                   held: dict) -> np.ndarray:
    """Draw the stratified IID test from the training pool, then train from the rest (minus IID groups).
    Returns the image mask of the train side (train images and, with groups, their group mates)."""
    train_rows = imgs.match(spec.train.where)
    pool = np.flatnonzero(imgs.images(train_rows))
    strata = imgs.strata(train_rows)
    order = pool[rng.permutation(len(pool))]
    blocked = np.zeros(imgs.n, dtype=bool)
    if spec.iid_test is not None:
        iid = spec.iid_test
        n_iid = iid.size if iid.size is not None else int(round(iid.fraction * len(pool)))
        _need_pool(spec, n_iid, len(pool))
        chosen[iid.name] = stratified_take(strata, order, n_iid)
        rows[iid.name] = train_rows
        blocked = imgs.same_group(chosen[iid.name])
        blocked[chosen[iid.name]] = True
        held["train (shares a group with the IID test)"] = int(blocked[pool].sum() - n_iid)
    rest = order[~blocked[order]]
    if spec.train.size is not None:
        _need(spec.train, spec.train.size, len(rest), " after the IID test and its groups")
        chosen["train"] = stratified_take(strata, rest, spec.train.size)
        held[f"train (size cap {spec.train.size})"] = len(rest) - spec.train.size
    else:
        chosen["train"] = np.sort(rest)
    rows["train"] = train_rows
    train_side = np.zeros(imgs.n, dtype=bool)
    train_side[chosen["train"]] = True
    return train_side | imgs.same_group(chosen["train"])


def _train_alone(imgs: _Images, spec: SplitSpec, rng: np.random.Generator, chosen: dict, rows: dict,
                 held: dict) -> np.ndarray:
    """Train = every image matching train.where (or a stratified sample of train.size); the test sets
    have their own pool. Returns the image mask of the train side (train images and their group mates)."""
    train_rows = imgs.match(spec.train.where)
    pool = np.flatnonzero(imgs.images(train_rows))
    if spec.train.size is not None:
        _need(spec.train, spec.train.size, len(pool))
        order = pool[rng.permutation(len(pool))]
        chosen["train"] = stratified_take(imgs.strata(train_rows), order, spec.train.size)
        held[f"train (size cap {spec.train.size})"] = len(pool) - spec.train.size
    else:
        chosen["train"] = pool
    rows["train"] = train_rows
    train_side = np.zeros(imgs.n, dtype=bool)
    train_side[chosen["train"]] = True
    return train_side | imgs.same_group(chosen["train"])


def _ood(imgs: _Images, spec: SplitSpec, subset: SubsetSpec, rng: np.random.Generator, train_side: np.ndarray,
         chosen: dict, rows: dict, held: dict) -> None:
    """A test set of its own filter (an OOD set; the IID test with [test]): the matching images whose group
    is not on the train side (unless disjoint_by = none), all of them or a stratified sample of its size
    (or fraction)."""
    subset_rows = imgs.match(subset.where)
    matches = imgs.images(subset_rows)
    disjoint = spec.disjoint_by not in DISJOINT_NONE
    candidates = np.flatnonzero(matches & ~train_side if disjoint else matches)
    n_held = int(matches.sum() - len(candidates))
    held[f"{subset.name} (shares a group with train{' or an earlier test set' if spec.tests_apart else ''})"] = n_held
    size = subset.size
    if size is None and subset.fraction is not None:
        size = int(round(subset.fraction * len(candidates)))
    if size is not None:
        _need(subset, size, len(candidates),
              f" once {n_held} that share a group with train are held out" if disjoint else "")
        order = candidates[rng.permutation(len(candidates))]
        chosen[subset.name] = stratified_take(imgs.strata(subset_rows), order, size)
        cap = f"size cap {size}" if subset.size is not None else f"fraction {subset.fraction}"
        held[f"{subset.name} ({cap})"] = len(candidates) - size
    else:
        chosen[subset.name] = candidates
    rows[subset.name] = subset_rows


def members_frame(frame, classes: list[ClassEntry], chosen: dict[str, np.ndarray], rows: dict[str, np.ndarray],
                  item_columns: list[str]):
    """One row per (subset, image): labels of the matching rows; item attributes joined with '|'."""
    import pandas as pd

    imgs_codes, _ = pd.factorize(frame["key"], sort=True)
    keys = np.array([c.key for c in classes], dtype=object)
    single = not frame["key"].duplicated().any()
    parts = []
    for subset, image_codes in chosen.items():
        if single:
            first = np.full(imgs_codes.max() + 1 if len(imgs_codes) else 0, -1, dtype=np.int64)
            first[imgs_codes] = np.arange(len(frame))
            part = frame.iloc[first[image_codes]].copy()
            part["labels"] = keys[part["cls"].to_numpy()]
        else:
            part = _multi_members(frame, imgs_codes, image_codes, rows[subset], keys, item_columns)
        part.insert(0, "subset", subset)
        parts.append(part)
    members = pd.concat(parts, ignore_index=True) if parts else frame.iloc[:0].assign(subset="", labels="")
    return members.drop(columns=["cls"], errors="ignore")


def _multi_members(frame, imgs_codes, image_codes, row_mask, keys, item_columns):
    """One row per chosen image from its matching rows: labels and item columns hold the distinct values
    joined with '|' (labels in class order, item columns in text order)."""
    wanted = np.zeros(imgs_codes.max() + 1, dtype=bool)
    wanted[image_codes] = True
    pick = row_mask & wanted[imgs_codes]
    sel, codes = frame[pick], imgs_codes[pick]
    first = ~sel["key"].duplicated().to_numpy()
    rest = [c for c in sel.columns if c not in ("key", "cls", *item_columns)]
    out = sel.loc[first, ["key", *rest]].assign(_code=codes[first]).sort_values("_code", kind="stable")
    cls = sel["cls"].to_numpy()
    out["labels"] = _join_distinct(codes, keys[cls], cls)
    for col in item_columns:
        text = sel[col].astype(str).to_numpy(dtype=object)
        out[col] = _join_distinct(codes, text, text)
    return out.drop(columns="_code").reset_index(drop=True)


def _join_distinct(codes: np.ndarray, values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Per image code, ascending: its distinct values sorted by ``order`` and joined with '|'."""
    import pandas as pd

    table = pd.DataFrame({"c": codes, "v": values, "o": order}).drop_duplicates(["c", "v"])
    table = table.sort_values(["c", "o"], kind="stable")
    if table.empty:
        return np.zeros(0, dtype=object)
    c = table["c"].to_numpy()
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    joined = np.add.reduceat((table["v"].astype(str) + "|").to_numpy(dtype=object), starts)
    return np.array([text[:-1] for text in joined], dtype=object)


def report(members, spec: SplitSpec, classes: list[ClassEntry], attributes: list[str],
           dropped: dict[str, int], held: dict[str, int]) -> dict[str, Any]:
    """Sizes per subset, per subset x class, and per subset x attribute value."""
    out: dict[str, Any] = {"sizes": {}, "classes": {}, "attributes": {}, "dropped": dict(sorted(dropped.items())),
                           "held_out": dict(sorted(held.items()))}
    labels = members["labels"].str.split("|").explode()
    by_class = labels.groupby([members["subset"].loc[labels.index], labels]).size()
    order = {c.key: c.index for c in classes}
    for subset in spec.subsets:
        part = members[members["subset"] == subset]
        out["sizes"][subset] = int(len(part))
        counts = by_class[subset] if subset in by_class.index.get_level_values(0) else {}
        out["classes"][subset] = {k: int(v) for k, v in sorted(dict(counts).items(), key=lambda kv: order.get(kv[0], 0))}
        out["attributes"][subset] = {a: {str(k): int(v) for k, v in sorted(part[a].value_counts().items())}
                                     for a in attributes if a in part.columns}
    return out


def _check_values(frame, spec: SplitSpec, empty: list[str], shown: int = 12) -> None:
    """Refuse an empty subset whose filter names a value no row has (a typo, not a lack of data); a value
    no row has in a subset that other values fill is logged as a warning."""
    for subset in [s for s in (spec.train, *spec.ood) if s is not None]:
        for attr, values in subset.where.items():
            if attr not in frame.columns:
                raise CurateError(f"subset {subset.name!r} filters on {attr!r}, which the data lacks")
            present = set(frame[attr].astype(str).unique()) - {"", "nan", "None"}
            unknown = [v for v in values if v not in present]
            if not unknown or not present:  # no data at all is reported below, not as a typo
                continue
            known = sorted(present)
            more = f" (and {len(known) - shown} more)" if len(known) > shown else ""
            message = (f"subset {subset.name!r}: {attr} = {', '.join(map(repr, unknown))} matches no image; "
                       f"values present: {', '.join(known[:shown])}{more}")
            if subset.name in empty:
                raise CurateError(message)
            log.warning("%s", message)


def build(frame, spec: SplitSpec, classes: list[ClassEntry], rng: np.random.Generator,
          dropped: dict[str, int] | None = None) -> BuildResult:
    """Assign images to the spec's subsets; then check near-duplicate leakage between train and tests."""
    from splits.leakage import check_leakage

    chosen, rows, held = assign(frame, spec, rng)
    _check_values(frame, spec, [name for name in spec.subsets if len(chosen.get(name, ())) == 0])
    empty = [name for name, codes in chosen.items() if not len(codes)]
    if "train" in empty or len(empty) == len(chosen):
        subset = spec.train if "train" in empty else None
        what = f"the training filter ({_describe(subset)})" if subset else "any subset's filter"
        raise CurateError(f"no image matches {what}: check that the table holds the images and attribute "
                          f"values the spec names (columns {', '.join(spec.attributes)})")
    item_columns = [a for a in spec.attributes] + (["item"] if "item" in frame.columns else [])
    members = members_frame(frame, classes, chosen, rows, item_columns)
    members, leaks = check_leakage(members, spec)
    dropped = dict(dropped or {})
    for subset, count in leaks.items():
        dropped[f"near-duplicate of a train image ({subset})"] = count
    members = members.sort_values(["subset", "key"], kind="stable").reset_index(drop=True)
    result = report(members, spec, classes, spec.attributes, dropped, held)
    return BuildResult(members, result)
