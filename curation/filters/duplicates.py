"""Duplicate groups: exact bytes, same decoded pixels, near (pHash + dHash) and mirrored copies.

Edges come from the exact index (:mod:`curation.filters.index`); groups are the connected
components of those edges (union-find semantics, computed by scipy's C implementation). In each
group one image is kept: the largest resolution, then the most redistributable license, then the
earliest upload; the others are rejected with ``duplicate-of:<sha256 of the keeper>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from curation.filters.index import as_uint64, cross_pairs, pairs_within
from curation.filters.params import FilterParams

KINDS = ("exact", "pixels", "near", "mirror")  # strongest first; a group takes its weakest edge's kind
# License tiers for choosing a keeper: 2 = free to redistribute and adapt, 1 = other Creative Commons.
_FREE = ("cc0", "publicdomain", "public domain", "pdm", "no known copyright", "government work",
         "cc-by-4", "cc-by-3", "cc-by-2", "cc-by-sa", "cc by", "attribution license", "attribution-sharealike")
_FLICKR_FREE_IDS = {"4", "5", "7", "8", "9", "10"}
_FLICKR_CC_IDS = {"1", "2", "3", "6"}


def license_tier(license: str | None) -> int:
    """2 for licenses that allow redistribution and adaptation, 1 for other CC licenses, else 0."""
    text = (license or "").strip().lower()
    if text in _FLICKR_FREE_IDS:
        return 2
    if text in _FLICKR_CC_IDS:
        return 1
    if "nc" in text.replace("-", " ").split() or "noncommercial" in text or "noderiv" in text or "-nd" in text:
        return 1
    if any(token in text for token in _FREE) or text.startswith("cc-by"):
        return 2
    return 1 if text.startswith("cc") or "creative commons" in text else 0


@dataclass
class HashTable:
    """Hashes and keeper preferences of N images, aligned by position."""

    keys: list  # image ids, or anything identifying the image (file paths in the benchmark)
    sha256: list[str]
    pixel_sha256: list[str | None]
    phash: np.ndarray
    dhash: np.ndarray
    phash_mirror: np.ndarray
    dhash_mirror: np.ndarray
    resolution: np.ndarray  # width * height
    license_tier: np.ndarray
    uploaded: np.ndarray  # seconds since the epoch, earliest upload (smaller is preferred)
    mean: np.ndarray = field(default=None)  # grayscale mean brightness; None: not compared
    rgb: np.ndarray = field(default=None)  # (n, 3) mean red, green, blue; None: not compared
    locked: np.ndarray = field(default=None)  # kept in an earlier run: stays the keeper
    demoted: np.ndarray = field(default=None)  # rejected in an earlier run: keeper only as a last resort

    def __post_init__(self) -> None:
        for name in ("phash", "dhash", "phash_mirror", "dhash_mirror"):
            setattr(self, name, as_uint64(getattr(self, name)))
        if self.mean is None:
            self.mean = np.full(len(self.keys), np.nan)
        self.mean = np.asarray(self.mean, dtype=np.float64)
        if self.rgb is None:
            self.rgb = np.full((len(self.keys), 3), np.nan)
        self.rgb = np.asarray(self.rgb, dtype=np.float64).reshape(-1, 3)
        for name in ("locked", "demoted"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(len(self.keys), dtype=bool))

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class Edges:
    i: np.ndarray
    j: np.ndarray
    kind: np.ndarray  # index into KINDS
    distance: np.ndarray


@dataclass
class Group:
    members: np.ndarray  # positions in the table
    keeper: int  # position of the keeper
    kind: str
    distance: dict[int, int]  # member position -> pHash distance to the keeper (mirror-aware)
    mirrored: dict[int, bool]


def _same_value_edges(values: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Star edges linking every position to the first position holding the same (non-null) value."""
    first: dict[str, int] = {}
    i, j = [], []
    for pos, value in enumerate(values):
        if value is None:
            continue
        head = first.setdefault(value, pos)
        if head != pos:
            i.append(head)
            j.append(pos)
    return np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)


def find_edges(table: HashTable, params: FilterParams, workers: int = 1) -> Edges:
    """Every duplicate relation in ``table`` (exact, pixels, near, mirror), by the exact index."""
    parts = []
    for kind, values in (("exact", table.sha256), ("pixels", table.pixel_sha256)):
        i, j = _same_value_edges(values)
        parts.append((i, j, _kind_of(table, i, j, kind), np.zeros(i.size, dtype=np.int64)))
    n = len(table)
    near = pairs_within(table.phash, params.threshold, workers=workers)
    ok = (np.bitwise_count(table.dhash[near.left] ^ table.dhash[near.right]) <= params.dhash_threshold) \
        & _similar_brightness(table, near.left, near.right, params)
    a, b, dist = near.left[ok], near.right[ok], near.distance[ok].astype(np.int64)
    parts.append((a, b, _kind_of(table, a, b, "near"), dist))
    if params.mirror:
        mir = cross_pairs(table.phash, table.phash_mirror, params.threshold, workers=workers)
        ok = (mir.left != mir.right) & (np.bitwise_count(
            table.dhash[mir.left] ^ table.dhash_mirror[mir.right]) <= params.dhash_threshold) \
            & _similar_brightness(table, mir.left, mir.right, params)
        lo, hi = np.minimum(mir.left[ok], mir.right[ok]), np.maximum(mir.left[ok], mir.right[ok])
        fresh = ~np.isin(lo * n + hi, a * n + b)  # a pair that is also a plain near copy is not "mirrored"
        lo, hi = lo[fresh], hi[fresh]
        parts.append((lo, hi, _kind_of(table, lo, hi, "mirror"), mir.distance[ok][fresh].astype(np.int64)))
    cat = [np.concatenate([p[k] for p in parts]).astype(np.int64) for k in range(4)]
    return Edges(*cat)


def _similar_brightness(table: HashTable, a: np.ndarray, b: np.ndarray, params: FilterParams) -> np.ndarray:
    """True where mean brightness and every channel's mean colour differ by at most ``max_mean_diff``
    (or are unknown).

    Perceptual hashes ignore brightness and colour, so simple, centred pictures (icons, sketches,
    renders on flat backgrounds) collide at a distance of 10; a copy keeps its brightness and colours,
    an unrelated picture rarely does.
    """
    diff = np.abs(table.mean[a] - table.mean[b])
    colour = np.abs(table.rgb[a] - table.rgb[b]).max(axis=1) if len(a) else np.zeros(0)
    return ~(diff > params.max_mean_diff) & ~(colour > params.max_mean_diff)


def _parse_rgb(value: str | None) -> tuple[float, float, float]:
    if not value:
        return (np.nan, np.nan, np.nan)
    r, g, b = (float(v) for v in value.split(","))
    return (r, g, b)


def _kind_of(table: HashTable, a: np.ndarray, b: np.ndarray, kind: str) -> np.ndarray:
    """Kind index of each hash edge: exact or pixels when the two images share those, else ``kind``."""
    out = np.full(a.size, KINDS.index(kind), dtype=np.int64)
    for pos, (i, j) in enumerate(zip(a.tolist(), b.tolist())):
        if table.sha256[i] == table.sha256[j]:
            out[pos] = KINDS.index("exact")
        elif table.pixel_sha256[i] is not None and table.pixel_sha256[i] == table.pixel_sha256[j]:
            out[pos] = KINDS.index("pixels")
    return out


def _keeper(table: HashTable, members: np.ndarray) -> int:
    """Largest resolution, then best license, then earliest upload, then first position."""
    pool = members[table.locked[members]]
    if not pool.size:
        pool = members[~table.demoted[members]] if not table.demoted[members].all() else members
    order = np.lexsort((pool, table.uploaded[pool], -table.license_tier[pool], -table.resolution[pool]))
    return int(pool[order[0]])


def _relation(table: HashTable, member: int, keeper: int) -> tuple[int, bool]:
    """pHash distance of ``member`` to the keeper, and whether it is closer as a mirror image."""
    direct = int(np.bitwise_count(table.phash[member] ^ table.phash[keeper]))
    mirrored = int(np.bitwise_count(table.phash[member] ^ table.phash_mirror[keeper]))
    return (mirrored, True) if mirrored < direct else (direct, False)


def connected_components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Component label of each of ``n`` nodes joined by the edges (i, j): 0, 1 ... in the order of each
    component's lowest node (what scipy's ``connected_components`` gives), without importing scipy at start-up.

    Labels are parent pointers that only decrease: each round hooks the larger root of every edge whose ends
    disagree onto the smaller, then jumps pointers until every node points at its root. A component's
    lowest node can only point at itself, so it ends as the one root of its component.
    """
    parent = np.arange(n)
    i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    while True:
        ri, rj = parent[i], parent[j]
        split = ri != rj
        if not split.any():
            break
        ri, rj = ri[split], rj[split]
        low = np.minimum(ri, rj)
        np.minimum.at(parent, ri, low)
        np.minimum.at(parent, rj, low)
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return np.unique(parent, return_inverse=True)[1]


def group_duplicates(table: HashTable, params: FilterParams, workers: int = 1) -> list[Group]:
    """Connected components of the duplicate edges, each with its keeper."""
    n = len(table)
    edges = find_edges(table, params, workers)
    if not n or not edges.i.size:
        return []
    labels = connected_components(n, edges.i, edges.j)
    edge_kind = np.zeros(n, dtype=np.int64)
    np.maximum.at(edge_kind, labels[edges.i], edges.kind)
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    groups = []
    for members in np.split(order, bounds):
        if members.size < 2:
            continue
        keeper = _keeper(table, members)
        rel = {int(m): _relation(table, int(m), keeper) for m in members}
        groups.append(Group(members, keeper, KINDS[edge_kind[labels[keeper]]],
                            {m: r[0] for m, r in rel.items()}, {m: r[1] for m, r in rel.items()}))
    return groups


# --- database ------------------------------------------------------------------------------------

def load_table(session, rerun: bool) -> HashTable:
    """Hashed images that passed quality and are not contaminated, with keeper preferences."""
    from sqlalchemy import select

    from curation.db.models import Image, SourceRecord
    from curation.filters.decisions import CONTAMINATION, DUPLICATE, QUALITY, current_verdicts, with_verdict

    cols = (Image.id, Image.sha256, Image.pixel_sha256, Image.phash, Image.dhash, Image.phash_mirror,
            Image.dhash_mirror, Image.width, Image.height, Image.created_at, Image.pixel_mean, Image.pixel_rgb)
    rows = session.execute(select(*cols).where(
        Image.phash.is_not(None), with_verdict(QUALITY, "pass"), ~with_verdict(CONTAMINATION, "reject"))
        .order_by(Image.id)).all()
    ids = [r[0] for r in rows]
    tier: dict[int, int] = {}
    uploaded: dict[int, float] = {}
    for image_id, license, when in session.execute(select(SourceRecord.image_id, SourceRecord.license,
                                                          SourceRecord.uploaded_at).where(
            SourceRecord.image_id.is_not(None))):
        tier[image_id] = max(tier.get(image_id, 0), license_tier(license))
        if when is not None:
            uploaded[image_id] = min(uploaded.get(image_id, float("inf")), when.timestamp())
    previous = {} if rerun else current_verdicts(session, DUPLICATE)
    return HashTable(
        keys=ids, sha256=[r[1] for r in rows], pixel_sha256=[r[2] for r in rows],
        phash=[r[3] for r in rows], dhash=[r[4] for r in rows], phash_mirror=[r[5] for r in rows],
        dhash_mirror=[r[6] for r in rows],
        resolution=np.asarray([(r[7] or 0) * (r[8] or 0) for r in rows], dtype=np.int64),
        license_tier=np.asarray([tier.get(i, 0) for i in ids], dtype=np.int64),
        uploaded=np.asarray([uploaded.get(i, r[9].timestamp() if r[9] else 0.0) for i, r in zip(ids, rows)],
                            dtype=np.float64),
        mean=np.asarray([np.nan if r[10] is None else r[10] for r in rows], dtype=np.float64),
        rgb=np.asarray([_parse_rgb(r[11]) for r in rows], dtype=np.float64).reshape(-1, 3),
        locked=np.asarray([previous.get(i) == "pass" for i in ids], dtype=bool),
        demoted=np.asarray([previous.get(i) == "reject" for i in ids], dtype=bool))


def judge_duplicates(session, params: FilterParams, rerun: bool, workers: int = 1) -> tuple[dict, int, int]:
    """Group, pick keepers and record decisions for images not yet judged (all with ``rerun``).

    Returns (rejections per reason kind, number of groups written, number of images judged).
    """
    from curation.filters.decisions import DUPLICATE, record

    table = load_table(session, rerun)
    target = ~(table.locked | table.demoted)
    groups = group_duplicates(table, params, workers)
    verdicts: dict[int, tuple[str, str | None, float | None]] = {}
    for group in groups:
        for member in group.members.tolist():
            if member != group.keeper:
                verdicts[member] = ("reject", f"duplicate-of:{table.sha256[group.keeper]}",
                                    float(group.distance[member]))
        verdicts[group.keeper] = ("pass", None, float(group.members.size))
    rows = [{"image_id": table.keys[p], "verdict": v[0], "reason": v[1], "score": v[2]}
            for p in np.flatnonzero(target).tolist() for v in [verdicts.get(p, ("pass", None, None))]]
    counts = record(session, DUPLICATE, rows, params.search(), replace_all=rerun)
    written = _write_groups(session, table, [g for g in groups if target[g.members].any()], params, rerun)
    return counts, written, len(rows)


def _write_groups(session, table: HashTable, groups: list[Group], params: FilterParams, rerun: bool) -> int:
    """Store groups and members; earlier groups sharing a member are marked not current."""
    from sqlalchemy import insert, select, update

    from curation.db.models import DuplicateGroup, DuplicateMember
    from curation.filters.decisions import chunked

    current = update(DuplicateGroup).where(DuplicateGroup.current.is_(True), DuplicateGroup.kind.in_(KINDS))
    if rerun:
        session.execute(current.values(current=False))
    else:
        member_ids = [table.keys[m] for g in groups for m in g.members.tolist()]
        for part in chunked(member_ids):
            old = select(DuplicateMember.group_id).where(DuplicateMember.image_id.in_(part))
            session.execute(current.where(DuplicateGroup.id.in_(old)).values(current=False))
    if not groups:
        return 0
    payload = [{"kind": g.kind, "keeper_image_id": table.keys[g.keeper], "params": params.search(),
                "current": True} for g in groups]
    ids = list(session.scalars(insert(DuplicateGroup).returning(DuplicateGroup.id, sort_by_parameter_order=True),
                               payload))
    members = [{"group_id": gid, "image_id": table.keys[m], "distance": g.distance[m], "mirrored": g.mirrored[m]}
               for gid, g in zip(ids, groups) for m in g.members.tolist()]
    for part in chunked(members):
        session.execute(insert(DuplicateMember), list(part))
    return len(groups)
