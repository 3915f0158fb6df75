"""``curate filter report``: counts per reason and an HTML contact sheet for a person to check.

The page is self-contained: thumbnails are small JPEGs embedded as data URIs (decoded through the
same header guard as everything else), every string from the database is HTML-escaped, and a
Content-Security-Policy forbids scripts and remote loads.
"""

from __future__ import annotations

import base64
import html
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image as PILImage, ImageOps
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from curation.db.models import DuplicateGroup, FilterDecision, Image
from curation.filters.decisions import CONTAMINATION, QUALITY, reason_kind
from curation.images import probe
from curation.store import ImageStore

THUMB = 96
MAX_THUMB_BYTES = 50 * 1024 * 1024
_CSS = ("body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:2px 6px}.row{display:flex;flex-wrap:wrap;gap:6px;margin:6px 0 14px}.card{width:120px;"
        "font-size:11px;word-break:break-all;border:1px solid #ddd;padding:3px}.keep{border:3px solid #2a2}"
        ".noimg{width:96px;height:72px;background:#eee;display:flex;align-items:center;justify-content:center}")


@dataclass
class ReportSummary:
    path: Path
    counts: list[tuple[str, str, int]]
    groups: int
    rejected_shown: int


def reason_counts(session: Session) -> list[tuple[str, str, int]]:
    """(filter, reason kind, images) for current rejections, plus (filter, 'pass', images)."""
    rows = session.execute(select(FilterDecision.filter, FilterDecision.verdict, FilterDecision.reason,
                                  func.count()).where(FilterDecision.current.is_(True))
                           .group_by(FilterDecision.filter, FilterDecision.verdict, FilterDecision.reason)).all()
    merged: dict[tuple[str, str], int] = {}
    for name, verdict, reason, n in rows:
        key = (name, "pass" if verdict == "pass" else reason_kind(reason))
        merged[key] = merged.get(key, 0) + n
    return [(f, k, n) for (f, k), n in sorted(merged.items())]


def thumbnail_uri(data: bytes, size: int = THUMB, max_pixels: int = 178_956_970) -> str | None:
    """A small JPEG data URI of untrusted image bytes, or None when they cannot be shown safely."""
    if len(data) > MAX_THUMB_BYTES or not probe(data, max_pixels=max_pixels, full_decode=False).ok:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = PILImage.open(io.BytesIO(data))
            img.draft("RGB", (size, size))
            img.load()
            img = ImageOps.exif_transpose(img)
            if img.mode not in ("RGB", "L"):
                rgba = img.convert("RGBA")
                img = PILImage.alpha_composite(PILImage.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
            img.thumbnail((size, size))
            buf = io.BytesIO()
            img.convert("RGB").save(buf, "JPEG", quality=70)
    except (OSError, SyntaxError, ValueError, EOFError, PILImage.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _card(store: ImageStore, image: Image, caption: str, css: str = "card") -> str:
    try:
        uri = thumbnail_uri(store.read(image.sha256))
    except OSError:
        uri = None
    pic = (f'<img src="{uri}" alt="">' if uri else '<div class="noimg">no preview</div>')
    title = next((r.title for r in image.records if r.title), "") or ""
    size = f"{image.width}x{image.height}" if image.width else "?"
    return (f'<div class="{css}">{pic}<br>{html.escape(image.sha256[:12])} {size}<br>'
            f'{html.escape(caption)}<br><i>{html.escape(title[:80])}</i></div>')


def _groups_html(session: Session, store: ImageStore, max_groups: int, max_members: int) -> tuple[str, int]:
    groups = session.scalars(select(DuplicateGroup).where(DuplicateGroup.current.is_(True))
                             .options(selectinload(DuplicateGroup.members)).order_by(DuplicateGroup.id)).all()
    groups = sorted(groups, key=lambda g: -len(g.members))[:max_groups]
    parts = [f"<h2>Duplicate groups ({len(groups)} shown)</h2>"]
    for group in groups:
        ids = [m.image_id for m in group.members][:max_members]
        images = {i.id: i for i in session.scalars(select(Image).where(Image.id.in_(ids))
                                                   .options(selectinload(Image.records)))}
        label = group.params.get("reference", "") if group.kind == "reference" else ""
        parts.append(f"<h3>{html.escape(group.kind)} group #{group.id}, {len(group.members)} images"
                     f"{' copying ' + html.escape(str(label)) if label else ''}</h3><div class=\"row\">")
        for member in group.members[:max_members]:
            keep = member.image_id == group.keeper_image_id
            caption = "KEEP" if keep else f"distance {member.distance}{' mirrored' if member.mirrored else ''}"
            parts.append(_card(store, images[member.image_id], caption, "card keep" if keep else "card"))
        parts.append("</div>")
    return "".join(parts), len(groups)


def _rejects_html(session: Session, store: ImageStore, max_rejects: int) -> tuple[str, int]:
    rows = session.execute(select(FilterDecision.image_id, FilterDecision.filter, FilterDecision.reason).where(
        FilterDecision.current.is_(True), FilterDecision.verdict == "reject",
        FilterDecision.filter.in_((QUALITY, CONTAMINATION))).order_by(FilterDecision.reason,
                                                                        FilterDecision.image_id).limit(max_rejects)).all()
    images = {i.id: i for i in session.scalars(select(Image).where(Image.id.in_([r[0] for r in rows]))
                                               .options(selectinload(Image.records)))}
    parts = [f"<h2>Rejected for quality or contamination ({len(rows)} shown)</h2><div class=\"row\">"]
    parts += [_card(store, images[i], f"{name}: {reason}") for i, name, reason in rows]
    parts.append("</div>")
    return "".join(parts), len(rows)


def write_report(session: Session, store: ImageStore, out: Path, *, max_groups: int = 200,
                 max_members: int = 12, max_rejects: int = 300) -> ReportSummary:
    """Write the contact sheet to ``out`` and return the counts it shows."""
    counts = reason_counts(session)
    table = "".join(f"<tr><td>{html.escape(f)}</td><td>{html.escape(k)}</td><td>{n}</td></tr>" for f, k, n in counts)
    groups_html, n_groups = _groups_html(session, store, max_groups, max_members)
    rejects_html, n_rejects = _rejects_html(session, store, max_rejects)
    page = ("<!doctype html><html><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'\"><title>curate filter report</title>"
            f"<style>{_CSS}</style></head><body><h1>curate filter report</h1>"
            f"<table><tr><th>filter</th><th>reason</th><th>images</th></tr>{table}</table>"
            f"{groups_html}{rejects_html}</body></html>")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return ReportSummary(out, counts, n_groups, n_rejects)
