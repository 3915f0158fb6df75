"""Search queries: a class set x rendition keywords, a pattern such as ``"{class} blurry"``, or a file.

A query file has one query per line, optionally followed by a tab and the class (key or name) and a
tab and the rendition keyword; ``#`` starts a comment line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from curation.db.models import ImageClass, Query
from curation.errors import CurateError

DEFAULT_PATTERN = "{class} {keyword}"
MAX_QUERY_CHARS = 500


@dataclass(frozen=True)
class QuerySpec:
    text: str
    class_key: str | None = None
    rendition: str | None = None


def _display(cls: ImageClass) -> str:
    return cls.name.replace("_", " ")


def build_queries(classes: Sequence[ImageClass], keywords: Sequence[str], pattern: str = DEFAULT_PATTERN
                  ) -> list[QuerySpec]:
    """One query per (class, keyword); a pattern without ``{keyword}`` gives one query per class."""
    if "{class}" not in pattern:
        raise CurateError(f"query pattern {pattern!r} has no {{class}} placeholder; e.g. \"{{class}} blurry\"")
    out: list[QuerySpec] = []
    for cls in classes:
        if "{keyword}" in pattern:
            for keyword in keywords:
                out.append(QuerySpec(pattern.replace("{class}", _display(cls)).replace("{keyword}", keyword),
                                     cls.key, keyword))
        else:
            out.append(QuerySpec(pattern.replace("{class}", _display(cls)), cls.key, None))
    return _unique(out)


def read_query_file(path: Path, classes: Sequence[ImageClass]) -> list[QuerySpec]:
    """Queries from ``path`` (see the module docstring for the format)."""
    lookup = {c.key.lower(): c for c in classes} | {_display(c).lower(): c for c in classes}
    out = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t")]
        text = " ".join(fields[0].split())
        if len(text) > MAX_QUERY_CHARS:
            raise CurateError(f"{path}:{number}: query longer than {MAX_QUERY_CHARS} characters")
        cls = None
        if len(fields) > 1 and fields[1]:
            cls = lookup.get(fields[1].lower())
            if cls is None:
                raise CurateError(f"{path}:{number}: class {fields[1]!r} is not in the class set; "
                                  "use a class key or name from `curate classes list SET`")
        out.append(QuerySpec(text, cls.key if cls else None, fields[2] if len(fields) > 2 and fields[2] else None))
    if not out:
        raise CurateError(f"{path} holds no queries")
    return _unique(out)


def _unique(specs: list[QuerySpec]) -> list[QuerySpec]:
    seen: dict[str, QuerySpec] = {}
    for spec in specs:
        seen.setdefault(spec.text.lower(), spec)
    return list(seen.values())


def ensure_queries(session: Session, specs: Sequence[QuerySpec], classes: Sequence[ImageClass],
                   source: str = "flickr") -> list[Query]:
    """The ``Query`` rows for ``specs`` (created when missing), in the order of ``specs``."""
    by_key = {c.key: c for c in classes}
    texts = [s.text for s in specs]
    existing = {q.text: q for q in session.scalars(select(Query).where(Query.source == source, Query.text.in_(texts)))}
    out = []
    for spec in specs:
        query = existing.get(spec.text)
        if query is None:
            cls = by_key.get(spec.class_key) if spec.class_key else None
            query = Query(source=source, text=spec.text, class_id=cls.id if cls else None, rendition=spec.rendition)
            session.add(query)
            existing[spec.text] = query
        out.append(query)
    session.flush()
    return out
