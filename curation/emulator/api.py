"""Flickr REST methods over a generated corpus: ``flickr.photos.search`` and ``flickr.photos.licenses.getInfo``.

Responses follow the documented shapes (see the project's reference folder): the ``photos`` envelope,
absent keys for sizes that do not exist, ids and licenses as strings, and, in ``legacy`` field-type
mode, ``total`` and the size fields as strings as older responses had them. Searches return at most
``cap`` distinct results: pages past the cap repeat earlier results, as Flickr's do.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import re
import threading
from dataclasses import dataclass
from typing import Any

from curation.emulator.corpus import Corpus, PhotoSpec

LICENSES = [
    (0, "All Rights Reserved", ""),
    (1, "Attribution-NonCommercial-ShareAlike License", "https://creativecommons.org/licenses/by-nc-sa/2.0/"),
    (2, "Attribution-NonCommercial License", "https://creativecommons.org/licenses/by-nc/2.0/"),
    (3, "Attribution-NonCommercial-NoDerivs License", "https://creativecommons.org/licenses/by-nc-nd/2.0/"),
    (4, "Attribution License", "https://creativecommons.org/licenses/by/2.0/"),
    (5, "Attribution-ShareAlike License", "https://creativecommons.org/licenses/by-sa/2.0/"),
    (6, "Attribution-NoDerivs License", "https://creativecommons.org/licenses/by-nd/2.0/"),
    (7, "No known copyright restrictions", "https://www.flickr.com/commons/usage/"),
    (8, "United States Government Work", "http://www.usa.gov/copyright.shtml"),
    (9, "Public Domain Dedication (CC0)", "https://creativecommons.org/publicdomain/zero/1.0/"),
    (10, "Public Domain Mark", "https://creativecommons.org/publicdomain/mark/1.0/"),
]
# extras name -> (file suffix, long side in pixels); url_o is the original
SIZES: dict[str, tuple[str, int | None]] = {
    "url_t": ("t", 100), "url_s": ("m", 240), "url_n": ("n", 320), "url_m": ("", 500), "url_z": ("z", 640),
    "url_c": ("c", 800), "url_l": ("b", 1024), "url_o": ("o", None),
}
SUFFIX_TO_SIZE = {suffix: name for name, (suffix, _) in SIZES.items()}
MAX_PER_PAGE = 500
SORTS = ("date-posted-desc", "date-posted-asc", "date-taken-desc", "date-taken-asc", "interestingness-desc",
         "interestingness-asc", "relevance")
_TOKEN = re.compile(r"[a-z0-9]+")


class ApiError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _tokens(text: str) -> set[str]:
    return set(_TOKEN.findall(text.lower()))


def _timestamp(value: str, name: str) -> int:
    value = value.strip()
    if value.isdigit():
        return int(value)
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return int(dt.datetime.strptime(value, fmt).replace(tzinfo=dt.timezone.utc).timestamp())
        except ValueError:
            pass
    raise ApiError(18, f"Illogical arguments: {name} is neither a unix timestamp nor a MySQL datetime")


def has_original(photo: PhotoSpec) -> bool:
    return int(photo.secret[-1], 16) % 4 != 0  # some owners hide originals


def original_secret(photo: PhotoSpec) -> str:
    return photo.secret[::-1]


def served_size(photo: PhotoSpec, size_name: str, max_side: int) -> tuple[int, int] | None:
    """Pixel size of ``size_name`` for ``photo`` as the image host serves it, or None if it does not exist."""
    long_nominal = SIZES[size_name][1]
    long_orig = max(photo.width, photo.height)
    if size_name == "url_o":
        if not has_original(photo):
            return None
        long_nominal = long_orig
    elif long_nominal is None or long_nominal > long_orig:
        if long_nominal is None or long_nominal > 500:
            return None
        long_nominal = long_orig  # small uploads still list the standard small sizes, at their own size
    long_side = min(long_nominal, max_side)
    scale = long_side / long_orig
    return max(1, round(photo.width * scale)), max(1, round(photo.height * scale))


@dataclass
class SearchIndex:
    """Photos sorted by upload date, with token sets, plus a cache of filtered lists per query."""

    corpus: Corpus

    def __post_init__(self) -> None:
        self.photos = sorted(self.corpus.photos, key=lambda p: (p.dateupload, p.id))
        self.uploads = [p.dateupload for p in self.photos]
        self.words = [_tokens(f"{p.title} {p.description} {p.tags}") for p in self.photos]
        self.tags = [set(p.tags.split()) for p in self.photos]
        self._cache: dict[tuple, list[int]] = {}
        self._lock = threading.Lock()

    def matching(self, key: tuple, predicate) -> list[int]:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = [i for i in range(len(self.photos)) if predicate(i)]
            return self._cache[key]


def _filters(index: SearchIndex, params: dict[str, str]) -> tuple[tuple, Any]:
    text = params.get("text", "")
    include = {w for w in _tokens(" ".join(t for t in text.split() if not t.startswith("-")))}
    exclude = {w for t in text.split() if t.startswith("-") for w in _tokens(t)}
    tags = {t.strip().lower() for t in params.get("tags", "").split(",") if t.strip()}
    tag_all = params.get("tag_mode", "any") == "all"
    if not include and not tags:
        raise ApiError(3, "Parameterless searches have been disabled. Please use flickr.photos.getRecent instead.")
    licenses = {x.strip() for x in params.get("license", "").split(",") if x.strip()}
    safe = params.get("safe_search", "1")
    content = params.get("content_types", params.get("content_type", "")).strip()
    contents = {int(c) for c in content.split(",") if c.strip().isdigit()}
    if content.isdigit() and int(content) >= 4:  # 4 = photos+screenshots, 5 = screenshots+other, ...
        contents = {4: {1, 2}, 5: {2, 3}, 6: {1, 3}, 7: {1, 2, 3}}.get(int(content), {1, 2, 3})
    media = params.get("media", "all")
    taken_min = _timestamp(params["min_taken_date"], "min_taken_date") if params.get("min_taken_date") else None
    taken_max = _timestamp(params["max_taken_date"], "max_taken_date") if params.get("max_taken_date") else None

    def predicate(i: int) -> bool:
        photo = index.photos[i]
        if include and not include <= index.words[i] or exclude & index.words[i]:
            return False
        if tags and not (tags <= index.tags[i] if tag_all else tags & index.tags[i]):
            return False
        if licenses and photo.license not in licenses or media == "videos":
            return False
        if safe == "1" and photo.safety != 1 or contents and photo.content_type not in contents:
            return False
        if taken_min is not None or taken_max is not None:
            taken = _timestamp(photo.datetaken, "datetaken")
            if taken_min is not None and taken < taken_min or taken_max is not None and taken > taken_max:
                return False
        return True

    key = (frozenset(include), frozenset(exclude), frozenset(tags), tag_all, frozenset(licenses), safe,
           frozenset(contents), media, taken_min, taken_max)
    return key, predicate


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    value = params.get(name, "")
    try:
        return int(value) if value != "" else default
    except ValueError:
        raise ApiError(18, f"Illogical arguments: {name} must be an integer, got {value!r}") from None


def search(index: SearchIndex, params: dict[str, str], image_base: str, max_side: int, cap: int,
           legacy: bool) -> dict:
    """``flickr.photos.search``: returns the ``photos`` envelope (without ``stat``)."""
    key, predicate = _filters(index, params)
    per_page = min(max(_int_param(params, "per_page", 100), 1), MAX_PER_PAGE)
    page = max(_int_param(params, "page", 1), 1)
    sort = params.get("sort", "date-posted-desc")
    if sort not in SORTS:
        raise ApiError(18, f"Illogical arguments: unknown sort {sort!r}")
    low = _timestamp(params["min_upload_date"], "min_upload_date") if params.get("min_upload_date") else None
    high = _timestamp(params["max_upload_date"], "max_upload_date") if params.get("max_upload_date") else None
    if low is not None and high is not None and low > high:
        raise ApiError(18, "Illogical arguments: min_upload_date is after max_upload_date")
    start = 0 if low is None else bisect.bisect_left(index.uploads, low)
    stop = len(index.photos) if high is None else bisect.bisect_right(index.uploads, high)
    hits = [i for i in index.matching(key, predicate) if start <= i < stop]
    if sort == "date-posted-desc":
        hits.reverse()
    elif sort.startswith("date-taken"):
        hits.sort(key=lambda i: (index.photos[i].datetaken, index.photos[i].id), reverse=sort.endswith("desc"))
    elif sort != "date-posted-asc":
        hits.sort(key=lambda i: hash(index.photos[i].secret) % 1000003)
    total = len(hits)
    reachable = min(total, cap)
    offset = (page - 1) * per_page
    rows = [index.photos[hits[i % reachable]] for i in range(offset, min(offset + per_page, total))] if reachable else []
    extras = {e.strip() for e in params.get("extras", "").split(",") if e.strip()}
    return {"page": page, "pages": math.ceil(total / per_page) if total else 0, "perpage": per_page,
            "total": str(total) if legacy else total,
            "photo": [photo_record(p, extras, image_base, max_side, legacy) for p in rows]}


def photo_record(photo: PhotoSpec, extras: set[str], image_base: str, max_side: int, legacy: bool) -> dict:
    """One photo as ``photos.search`` lists it, with the requested extras."""
    out: dict[str, Any] = {"id": photo.id, "owner": photo.owner, "secret": photo.secret, "server": photo.server,
                           "farm": 66, "title": photo.title, "ispublic": 1, "isfriend": 0, "isfamily": 0}
    num = str if legacy else int
    if "license" in extras:
        out["license"] = photo.license
    if "description" in extras:
        out["description"] = {"_content": photo.description}
    if "o_dims" in extras and has_original(photo):
        out["o_width"], out["o_height"] = str(photo.width), str(photo.height)
    if "date_upload" in extras:
        out["dateupload"] = str(photo.dateupload)
    if "date_taken" in extras:
        out.update(datetaken=photo.datetaken, datetakengranularity=num(0), datetakenunknown="0")
    if "owner_name" in extras:
        out["ownername"] = photo.ownername
    if "tags" in extras:
        out["tags"] = photo.tags
    if "original_format" in extras and has_original(photo):
        out.update(originalsecret=original_secret(photo), originalformat="jpg")
    if "media" in extras:
        out.update(media="photo", media_status="ready")
    for name in sorted(extras & set(SIZES)):
        size = served_size(photo, name, max_side)
        if size is None:
            continue
        suffix = SIZES[name][0]
        secret = original_secret(photo) if name == "url_o" else photo.secret
        tail = f"_{suffix}" if suffix else ""
        letter = name.split("_")[1]
        out[name] = f"{image_base}/{photo.server}/{photo.id}_{secret}{tail}.jpg"
        out[f"height_{letter}"], out[f"width_{letter}"] = num(size[1]), num(size[0])
    return out


def licenses_info() -> dict:
    return {"licenses": {"license": [{"id": i, "name": n, "url": u} for i, n, u in LICENSES]}}


def to_xml(method: str, payload: dict) -> str:
    """A minimal ``format=rest`` rendering of the two methods' payloads."""
    from xml.sax.saxutils import quoteattr

    def attrs(d: dict) -> str:
        return " ".join(f"{k}={quoteattr(str(v))}" for k, v in d.items() if not isinstance(v, (dict, list)))

    if "photos" in payload:
        photos = payload["photos"]
        inner = "".join(f"<photo {attrs(p)} />" for p in photos["photo"])
        body = f"<photos {attrs(photos)}>{inner}</photos>"
    else:
        body = "<licenses>" + "".join(f"<license {attrs(x)} />" for x in payload["licenses"]["license"]) + "</licenses>"
    return f'<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="ok">\n{body}\n</rsp>\n'
