"""Screening a metadata table's images against the workspace's filters and reviews.

A table-based split (generic, SVSF) names its images by path, not by the store digest the filters
judged. To keep a rejected image (an exact, mirrored or near duplicate, a reference-set copy, a
bad-quality image, a rejected review) out of a split and its exports, every table row gets the
sha256 of its file, and rows whose image the database knows as refused are dropped and counted by
reason. ``include_rejected`` (spec ``[export] include_rejected = true`` or ``--include-rejected``)
keeps them instead; the build report and the dataset card then say how many were kept and why.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
CHUNK = 5000


def _hash_pair(path: str) -> tuple[str, str]:
    """(path, sha256 of its bytes or '' when it cannot be read)."""
    from curation.store import sha256_file

    try:
        return path, sha256_file(Path(path))
    except OSError:
        return path, ""


def fill_digests(frame) -> Any:
    """The frame with ``sha256`` filled from the files where the table gave none (missing files stay '')."""
    from curation.parallel import map_unordered

    digests = frame["sha256"].astype(str).where(frame["sha256"].astype(str).str.len() == 64, "")
    todo = sorted(set(frame.loc[digests == "", "src"]))
    if todo:
        found = dict(map_unordered(_hash_pair, todo, kind="threads", workers=4))
        digests = digests.where(digests != "", frame["src"].map(lambda p: found.get(p, "")))
    return frame.assign(sha256=digests)


def known_images(session, digests) -> dict[str, int]:
    """sha256 -> image id of the digests the database holds."""
    from sqlalchemy import select

    from curation.db.models import Image

    wanted = sorted({d for d in digests if isinstance(d, str) and len(d) == 64})
    ids: dict[str, int] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        ids.update(session.execute(select(Image.sha256, Image.id).where(Image.sha256.in_(chunk))).all())
    return ids


def refusals_by_digest(session, digests, multi_label: bool) -> tuple[dict[str, str], int]:
    """(sha256 -> filter/review refusal reason, how many of ``digests`` the database does not know)."""
    from splits.refusals import refusal_reasons

    ids = known_images(session, digests)
    reasons = refusal_reasons(session, ids.values(), {}, (), multi_label) if ids else {}
    by_digest = {d: reasons[i] for d, i in ids.items() if i in reasons}
    unknown = sum(1 for d in set(digests) if d not in ids)
    return by_digest, unknown


def _workspace_has_images(session) -> bool:
    from sqlalchemy import select

    from curation.db.models import Image

    return session.scalar(select(Image.id).limit(1)) is not None


def screen_table(frame, session, multi_label: bool,
                 include_rejected: bool) -> tuple[Any, dict[str, int], dict[str, Any]]:
    """(kept frame, dropped counts by reason, screening summary for the build report)."""
    attrs = dict(frame.attrs)
    if not _workspace_has_images(session):  # nothing was filtered here: no file needs reading to know that
        summary = {"images": int(frame["key"].nunique()), "not_in_workspace": int(frame["key"].nunique()),
                   "rejected": 0, "include_rejected": bool(include_rejected)}
        return frame, {}, summary
    frame = fill_digests(frame)
    reasons, unknown = refusals_by_digest(session, frame["sha256"], multi_label)
    why = frame["sha256"].map(lambda d: reasons.get(d, ""))
    if "item" not in frame.columns:  # one row per image: a second row with the same bytes is a copy
        copy = frame["sha256"].duplicated() & (frame["sha256"] != "")
        why = why.where(~copy | (why != ""), "filter: identical copy (the same bytes as another row)")
    refused = why != ""
    counts = Counter(f"refused ({r.split(' (')[0]})" for r in why[refused])
    summary: dict[str, Any] = {"images": int(frame["key"].nunique()), "not_in_workspace": int(unknown),
                               "rejected": int(frame.loc[refused, "key"].nunique()),
                               "include_rejected": bool(include_rejected)}
    if include_rejected:
        summary["kept_rejected"] = dict(sorted(Counter(r.split(" (")[0] for r in why[refused]).items()))
        if refused.any():
            log.warning("keeping %d image(s) the filters or reviews rejected (include_rejected)", int(refused.sum()))
        kept = frame
    else:
        kept = frame[~refused].reset_index(drop=True)
    kept.attrs.update(attrs)
    return kept, ({} if include_rejected else dict(counts)), summary
