"""Flickr's license table, from ``flickr.photos.licenses.getInfo``, cached in the workspace.

The id set is not closed (Flickr added CC 4.0 licenses under new ids in 2025), so licenses are judged
by their URL and name, not by a fixed id list. The cache is refreshed after ``max_age_days``.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from curation.errors import CurateError

CACHE_NAME = "flickr_licenses.json"
_CC = re.compile(r"creativecommons\.org/licenses/([a-z-]+)/(\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class License:
    id: str
    name: str
    url: str
    short: str  # e.g. CC-BY-2.0, CC0-1.0, PDM-1.0, all-rights-reserved
    redistributable: bool


def short_name(name: str, url: str) -> str:
    url_l = url.lower()
    match = _CC.search(url_l)
    if match:
        return f"CC-{match.group(1).upper()}-{match.group(2)}"
    if "publicdomain/zero" in url_l:
        return "CC0-" + (re.findall(r"(\d+\.\d+)", url_l) or ["1.0"])[0]
    if "publicdomain/mark" in url_l:
        return "PDM-" + (re.findall(r"(\d+\.\d+)", url_l) or ["1.0"])[0]
    if "flickr.com/commons" in url_l:
        return "no-known-copyright"
    if "usa.gov" in url_l:
        return "US-Government-Work"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "unknown"


def parse_licenses(rows: Sequence[dict]) -> list[License]:
    """Rows of ``licenses.getInfo`` (``id`` int or str) as :class:`License`."""
    out = []
    for row in rows:
        name, url = str(row.get("name", "")), str(row.get("url", "") or "")
        reserved = "all rights reserved" in name.lower() or not url
        out.append(License(str(row["id"]), name, url, short_name(name, url), not reserved))
    return out


def load_licenses(client, cache_dir: Path, max_age_days: float = 30, refresh: bool = False) -> list[License]:
    """The license table, from the workspace cache when fresh, else fetched (and cached) with ``client``."""
    path = Path(cache_dir) / CACHE_NAME
    if path.exists() and not refresh and time.time() - path.stat().st_mtime < max_age_days * 86400:
        try:
            return [License(**row) for row in json.loads(path.read_text())["licenses"]]
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache is simply refetched
    licenses = parse_licenses(client.licenses())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"fetched_at": time.time(), "licenses": [asdict(x) for x in licenses]}, indent=1))
    tmp.replace(path)
    return licenses


def resolve_licenses(licenses: Sequence[License], wanted: Sequence[str]) -> list[License]:
    """The licenses named by ``wanted``: ids, short names (``CC-BY-2.0``), ``redistributable`` or ``all``."""
    wanted = list(wanted) or ["redistributable"]
    chosen: dict[str, License] = {}
    for item in wanted:
        key = item.strip().lower()
        if key == "all":
            matches = list(licenses)
        elif key == "redistributable":
            matches = [x for x in licenses if x.redistributable]
        else:
            matches = [x for x in licenses if key in (x.id.lower(), x.short.lower(), x.name.lower())]
        if not matches:
            valid = ", ".join(f"{x.id}={x.short}" for x in licenses)
            raise CurateError(f"unknown license {item!r}; use an id or short name ({valid}), "
                              "'redistributable' or 'all'")
        chosen.update((x.id, x) for x in matches)
    return sorted(chosen.values(), key=lambda x: (len(x.id), x.id))
