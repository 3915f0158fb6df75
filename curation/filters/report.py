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
    pages: int = 1


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


def _card(store: ImageStore, image: Image, caption: str, css: str = "card", files: list[str] | None = None) -> str:
    try:
        uri = thumbnail_uri(store.read(image.sha256))
    except OSError:
        uri = None
    pic = (f'<img src="{uri}" alt="">' if uri else '<div class="noimg">no preview</div>')
    if files is None:
        files = [next((r.title for r in image.records if r.title), "") or ""]
    size = f"{image.width}x{image.height}" if image.width else "?"
    names = "<br>".join(f"<i>{html.escape(name[-80:])}</i>" for name in files if name)
    return (f'<div class="{css}">{pic}<br>{html.escape(image.sha256[:12])} {size}<br>'
            f'{html.escape(caption)}<br>{names}</div>')


def _group_pages(session: Session, store: ImageStore, page_size: int) -> list[tuple[str, int]]:
    """The duplicate groups (every one, largest first) as HTML pages of ``page_size`` groups each;
    every card names every file of its image, identical copies included."""
    from curation.filters.groups import group_rows

    by_group: dict[str, list] = {}
    for row in group_rows(session):
        by_group.setdefault(row.group, []).append(row)
    digests = {r.sha256 for rows in by_group.values() for r in rows}
    images = {i.sha256: i for i in session.scalars(select(Image).where(Image.sha256.in_(digests)))} if digests else {}
    names = list(by_group)
    pages = []
    for start in range(0, max(len(names), 1), page_size):
        parts = []
        for group in names[start:start + page_size]:
            rows = by_group[group]
            members = [r for r in rows if r.role != "identical-copy"]
            copies = sum(r.role == "identical-copy" for r in rows)
            parts.append(f"<h3>{html.escape(rows[0].kind)} group {html.escape(group)}: {len(members)} images"
                         f"{f', {copies} identical copies merged at import' if copies else ''}</h3><div class=\"row\">")
            for member in members:
                files = [member.relative_path or member.path_or_url] + [
                    f"copy: {r.relative_path or r.path_or_url}" for r in rows
                    if r.role == "identical-copy" and r.sha256 == member.sha256]
                how = "KEEP" if member.role == "keeper" else \
                    f"distance {member.distance}{' mirrored' if member.mirrored else ''}"
                caption = f"{how}, {member.decision}"
                parts.append(_card(store, images[member.sha256], caption,
                                   "card keep" if member.role == "keeper" else "card", files))
            parts.append("</div>")
        pages.append(("".join(parts), len(names[start:start + page_size])))
    return pages


def _page_name(out: Path, number: int) -> Path:
    return out if number == 1 else out.with_name(f"{out.stem}-{number}{out.suffix}")


def _nav(out: Path, number: int, total: int, n_groups: int) -> str:
    links = " ".join(f"<b>{i}</b>" if i == number else
                     f'<a href="{html.escape(_page_name(out, i).name)}">{i}</a>' for i in range(1, total + 1))
    return f"<h2>Duplicate groups ({n_groups} in all, page {number} of {total})</h2><p>pages: {links}</p>"


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


def write_report(session: Session, store: ImageStore, out: Path, *, page_size: int = 100,
                 max_rejects: int = 300) -> ReportSummary:
    """Write the contact sheet to ``out`` (more pages beside it as ``out-2.html`` ...) and return the
    counts it shows. Every duplicate group is shown."""
    from curation.status import identical_copies

    counts = reason_counts(session)
    copies = identical_copies(session)
    table = "".join(f"<tr><td>{html.escape(f)}</td><td>{html.escape(k)}</td><td>{n}</td></tr>" for f, k, n in counts)
    table += f"<tr><td>import</td><td>identical copies merged</td><td>{copies}</td></tr>"
    pages = _group_pages(session, store, page_size)
    n_groups = sum(n for _, n in pages)
    rejects_html, n_rejects = _rejects_html(session, store, max_rejects)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for number, (groups_html, _) in enumerate(pages, start=1):
        head = (f"<table><tr><th>filter</th><th>reason</th><th>images</th></tr>{table}</table>"
                if number == 1 else "")
        body = head + _nav(out, number, len(pages), n_groups) + groups_html + (rejects_html if number == 1 else "")
        _page_name(out, number).write_text(_PAGE.format(css=_CSS, body=body), encoding="utf-8")
    return ReportSummary(out, counts + [("import", "identical copies merged", copies)], n_groups, n_rejects,
                         len(pages))


_PAGE = ("<!doctype html><html><head><meta charset=\"utf-8\">"
         "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
         "style-src 'unsafe-inline'\"><title>curate filter report</title>"
         "<style>{css}</style></head><body><h1>curate filter report</h1>{body}</body></html>")
