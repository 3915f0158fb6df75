"""One photo of a ``photos.search`` answer as the fields of a ``SourceRecord``.

Field types vary between older and newer responses (``total``, sizes and dates as str or int), keys
are absent when a value does not exist, and titles and tags are untrusted text, so everything here
converts defensively and caps the lengths of short columns (titles are Text and stored whole).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping, Sequence

DEFAULT_SIZES = ("url_c", "url_l", "url_o")
FALLBACK_SIZES = ("url_z", "url_m")
EXTRAS = ("description", "license", "date_upload", "date_taken", "owner_name", "o_dims", "tags",
          "original_format", "media")
MAX_TEXT = 4000


def as_int(value: Any) -> int | None:
    """An int from an int, a numeric string or None; anything else gives None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        try:
            return int(float(str(value).strip()))
        except ValueError:
            return None


def _text(value: Any, cap: int | None = MAX_TEXT) -> str:
    if isinstance(value, Mapping):
        value = value.get("_content", "")
    return str(value or "").replace("\x00", "")[:cap]  # NUL: PostgreSQL text cannot hold it


def pick_url(photo: Mapping[str, Any], sizes: Sequence[str]) -> tuple[str, str] | None:
    """(size name, url) of the first preferred size the photo has, else of a smaller fallback."""
    for name in (*sizes, *FALLBACK_SIZES):
        url = photo.get(name)
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return name, url
    return None


def _taken(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def record_fields(photo: Mapping[str, Any], sizes: Sequence[str], license_short: Mapping[str, str]) -> dict | None:
    """Keyword arguments for a ``SourceRecord``, or None when the photo has no usable image URL."""
    picked = pick_url(photo, sizes)
    if picked is None or not photo.get("id"):
        return None
    size_name, url = picked
    letter = size_name.split("_", 1)[1]
    uploaded = as_int(photo.get("dateupload"))
    license_id = str(photo.get("license", "")).strip()
    return {
        "source": "flickr", "source_id": str(photo["id"])[:500], "url": url,
        "owner": _text(photo.get("owner"), 200), "owner_name": _text(photo.get("ownername"), 500),
        "license": license_short.get(license_id, f"flickr-{license_id or 'unknown'}")[:100],
        "title": _text(photo.get("title"), None), "description": _text(photo.get("description")),
        "tags": _text(photo.get("tags")),
        "taken_at": _taken(photo.get("datetaken")),
        "uploaded_at": dt.datetime.fromtimestamp(uploaded, dt.timezone.utc).replace(tzinfo=None) if uploaded else None,
        "metadata_": {"flickr_license": license_id, "size": size_name, "width": as_int(photo.get(f"width_{letter}")),
                      "height": as_int(photo.get(f"height_{letter}")), "secret": _text(photo.get("secret"), 40),
                      "server": _text(photo.get("server"), 40), "o_width": as_int(photo.get("o_width")),
                      "o_height": as_int(photo.get("o_height"))},
    }
