"""Contamination: candidates within the pHash threshold of a reference set's image (also mirrored).

``curate reference add DIR --name imagenet-val`` hashes a reference set once into
``reference_sets`` / ``reference_images``; ``curate filter`` rejects every candidate close to any
reference image with ``contaminated:<set>/<identity>``. The search uses the exact index, so no
reference match within the threshold is missed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from curation.db.models import (DuplicateGroup, DuplicateMember, FilterDecision, Image, ReferenceImage,
                                ReferenceSet)
from curation.errors import CurateError
from curation.filters.decisions import CONTAMINATION, QUALITY, chunked, record, with_verdict
from curation.filters.hashing import HashJob, HashResult
from curation.filters.index import as_uint64, cross_pairs
from curation.filters.params import FilterParams

MAX_IDENTITY = 500


def reference_set(session: Session, name: str, root: Path | None = None) -> ReferenceSet:
    """The reference set ``name``, created when ``root`` is given and it does not exist yet."""
    ref = session.scalar(select(ReferenceSet).where(ReferenceSet.name == name))
    if ref is None:
        if root is None:
            names = ", ".join(session.scalars(select(ReferenceSet.name).order_by(ReferenceSet.name))) or "none"
            raise CurateError(f"no reference set named {name!r} (known: {names}); add one with "
                              f"curate reference add DIR --name {name}")
        ref = ReferenceSet(name=name, root=str(root))
        session.add(ref)
        session.flush()
    return ref


def reference_jobs(session: Session, ref: ReferenceSet, root: Path, files: Iterable[Path],
                   max_pixels: int) -> list[HashJob]:
    """Hash jobs for the files under ``root`` the set does not hold yet; identity = relative path."""
    known = set(session.scalars(select(ReferenceImage.identity).where(ReferenceImage.reference_set_id == ref.id)))
    jobs = []
    for path in files:
        identity = path.relative_to(root).as_posix()[:MAX_IDENTITY]
        if identity not in known:
            known.add(identity)
            jobs.append(HashJob(identity, str(path), max_pixels, want_sha256=True))
    return jobs


def save_reference_hashes(session: Session, ref: ReferenceSet, results: Sequence[HashResult]) -> int:
    """Store hashed reference images (unreadable ones with empty hashes); returns how many were usable."""
    rows = [{"reference_set_id": ref.id, "identity": str(r.key), "sha256": r.sha256,
             "phash": r.phash if r.ok else None, "dhash": r.dhash if r.ok else None} for r in results]
    for part in chunked(rows):
        session.execute(insert(ReferenceImage), list(part))
    return sum(1 for r in results if r.ok)


def reference_signature(session: Session) -> dict[str, int]:
    """name -> number of hashed images, for every reference set (recorded with each decision)."""
    rows = session.execute(select(ReferenceSet.name, func.count(ReferenceImage.id)).outerjoin(
        ReferenceImage, (ReferenceImage.reference_set_id == ReferenceSet.id) & ReferenceImage.phash.is_not(None))
        .group_by(ReferenceSet.name)).all()
    return {name: int(n) for name, n in rows}


def reference_rows(session: Session) -> list[tuple[str, int, str]]:
    """(name, usable hashed images, root folder) per reference set, by name; one query."""
    stmt = (select(ReferenceSet.name, func.count(ReferenceImage.id), ReferenceSet.root)
            .outerjoin(ReferenceImage, (ReferenceImage.reference_set_id == ReferenceSet.id)
                       & ReferenceImage.phash.is_not(None))
            .group_by(ReferenceSet.id, ReferenceSet.name, ReferenceSet.root).order_by(ReferenceSet.name))
    return [(name, int(n), root or "") for name, n, root in session.execute(stmt)]


def contamination_targets(session: Session, rerun: bool, signature: dict[str, int]) -> list[int]:
    """Quality-passed images to check: all with ``rerun``, else unchecked or checked against other sets."""
    stmt = select(Image.id).where(Image.phash.is_not(None), with_verdict(QUALITY, "pass")).order_by(Image.id)
    candidates = list(session.scalars(stmt))
    if rerun:
        return candidates
    checked = dict(session.execute(select(FilterDecision.image_id, FilterDecision.params).where(
        FilterDecision.filter == CONTAMINATION, FilterDecision.current.is_(True))).all())
    return [i for i in candidates
            if i not in checked or (checked[i] or {}).get("references") != signature]


def _load_references(session: Session) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    rows = session.execute(select(ReferenceImage.phash, ReferenceImage.dhash, ReferenceSet.name,
                                  ReferenceImage.identity, ReferenceImage.sha256).join(ReferenceSet)
                           .where(ReferenceImage.phash.is_not(None)).order_by(ReferenceImage.id)).all()
    return (as_uint64([r[0] for r in rows]), as_uint64([r[1] for r in rows]),
            [f"{r[2]}/{r[3]}" for r in rows], [r[4] or "" for r in rows])


def nearest_references(cand: dict[str, np.ndarray], ref_p: np.ndarray, ref_d: np.ndarray,
                       params: FilterParams, workers: int = 1) -> dict[int, tuple[int, int, bool]]:
    """candidate position -> (reference position, pHash distance, mirrored) of its closest reference."""
    best: dict[int, tuple[int, int, bool]] = {}
    searches = [("phash", "dhash", False)] + ([("phash_mirror", "dhash_mirror", True)] if params.mirror else [])
    for p_key, d_key, mirrored in searches:
        hits = cross_pairs(cand[p_key], ref_p, params.threshold, workers=workers)
        ok = np.bitwise_count(cand[d_key][hits.left] ^ ref_d[hits.right]) <= params.dhash_threshold
        for c, r, dist in zip(hits.left[ok].tolist(), hits.right[ok].tolist(), hits.distance[ok].tolist()):
            if c not in best or dist < best[c][1]:
                best[c] = (r, int(dist), mirrored)
    return best


def judge_contamination(session: Session, image_ids: Sequence[int], params: FilterParams, rerun: bool,
                        workers: int = 1) -> Counter:
    """Record a contamination decision for each image; returns rejections per reason kind."""
    signature = reference_signature(session)
    ref_p, ref_d, names, ref_sha = _load_references(session)
    ids, cols = [], {k: [] for k in ("phash", "dhash", "phash_mirror", "dhash_mirror")}
    if not ref_p.size:  # no reference images: every candidate passes, no hash needs loading
        ids = list(image_ids)
    for part in chunked(list(image_ids) if ref_p.size else []):
        for row in session.execute(select(Image.id, Image.phash, Image.dhash, Image.phash_mirror,
                                          Image.dhash_mirror).where(Image.id.in_(part))):
            ids.append(row[0])
            for k, v in zip(cols, row[1:]):
                cols[k].append(v)
    cand = {k: as_uint64(v) for k, v in cols.items()}
    best = nearest_references(cand, ref_p, ref_d, params, workers) if ids and ref_p.size else {}
    rows = []
    for pos, image_id in enumerate(ids):
        if pos in best:
            r, dist, _ = best[pos]
            rows.append({"image_id": image_id, "verdict": "reject", "reason": f"contaminated:{names[r]}",
                         "score": float(dist)})
        else:
            rows.append({"image_id": image_id, "verdict": "pass", "reason": None, "score": None})
    counts = record(session, CONTAMINATION, rows, {**params.search(), "references": signature},
                    replace_all=rerun)
    _write_reference_groups(session, ids, best, names, ref_sha, params, rerun)
    return counts


def _write_reference_groups(session: Session, ids: list[int], best: dict[int, tuple[int, int, bool]],
                            names: list[str], ref_sha: list[str], params: FilterParams, rerun: bool) -> None:
    """One group per matched reference image, listing the candidates that copy it."""
    current = update(DuplicateGroup).where(DuplicateGroup.current.is_(True), DuplicateGroup.kind == "reference")
    if rerun:
        session.execute(current.values(current=False))
    else:
        for part in chunked(ids):
            old = select(DuplicateMember.group_id).where(DuplicateMember.image_id.in_(part))
            session.execute(current.where(DuplicateGroup.id.in_(old)).values(current=False))
    by_ref: dict[int, list[tuple[int, int, bool]]] = {}
    for pos, (r, dist, mirrored) in best.items():
        by_ref.setdefault(r, []).append((ids[pos], dist, mirrored))
    for r, members in by_ref.items():
        group = DuplicateGroup(kind="reference", keeper_image_id=None, current=True,
                               params={**params.search(), "reference": names[r][:MAX_IDENTITY],
                                       "reference_sha256": ref_sha[r]})
        group.members = [DuplicateMember(image_id=i, distance=d, mirrored=m) for i, d, m in members]
        session.add(group)
    session.flush()
