"""Images by signed, opaque reference: ``/img/<signed>``.

The file path comes only from the database's sha256 (checked as 64 hex digits by the store), never
from the request, so no URL can reach outside the store. A bad or expired signature is a 404.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, send_file
from sqlalchemy import select

from annotate_ui.db import get_db
from annotate_ui.state import state
from annotate_ui.views.common import current_user
from curation.db.models import GoldItem, HitItem, Image

log = logging.getLogger(__name__)
bp = Blueprint("images", __name__)
MIMETYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
             "WEBP": "image/webp", "BMP": "image/bmp", "TIFF": "image/tiff"}


def image_url(kind: str, ref) -> str:
    """The URL of an image reference (``h``: HIT item token, ``x``: gold id, ``r``: image id)."""
    from flask import url_for

    return url_for("images.image", signed=state().signer.sign(kind, ref))


def _image_for(kind: str, ref) -> Image | None:
    dbs = get_db()
    if kind == "h" and isinstance(ref, str):
        return dbs.scalar(select(Image).join(HitItem, HitItem.image_id == Image.id).where(HitItem.token == ref))
    if kind == "x" and isinstance(ref, int):
        return dbs.scalar(select(Image).join(GoldItem, GoldItem.image_id == Image.id).where(GoldItem.id == ref))
    if kind == "r" and isinstance(ref, int):
        if current_user() is None:
            return None
        return dbs.get(Image, ref)
    return None


@bp.get("/img/<signed>")
def image(signed: str):
    loaded = state().signer.load(signed)
    if loaded is None:
        abort(404)
    found = _image_for(*loaded)
    if found is None:
        abort(404)
    store = state().store
    try:
        path = _RemoteImage(store, found.sha256) if store.remote else store.path(found.sha256)
    except ValueError:
        abort(404)
    if not path.is_file():
        abort(404)
    if loaded[0] == "h":  # HIT images (gold and candidates alike) differ on every serve
        return _varied(path)
    # An open file, not a path: no Last-Modified or ETag from the store, which could tell gold
    # (imported at another time, shared across HITs) from candidates.
    response = send_file(path.open("rb"), mimetype=MIMETYPES.get(found.format or "", "application/octet-stream"),
                         max_age=3600, conditional=False, etag=False, last_modified=None)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def vary_pixels(data: bytes, rng) -> bytes:
    """The image re-encoded as PNG with the lowest bit of about 1 in 16 pixel values flipped at random:
    invisible, but no two serves are byte- or pixel-identical, so a gold image met again (or compared
    between workers) does not give itself away. Every HIT image goes out as PNG, whatever it was stored as."""
    import io

    import numpy as np
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(data)) as img:
        pixels = np.array(img.convert("RGB"))
    flips = (rng.random(pixels.shape) < 1 / 16).astype(np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(pixels ^ flips).save(out, format="PNG", compress_level=1)
    return out.getvalue()


class _RemoteImage:
    """An image of an object-store store, with the few Path methods serving uses (read in one GET)."""

    def __init__(self, store, sha256: str):
        self.store, self.name = store, sha256
        store.location(sha256)  # ValueError for a malformed digest, as store.path gives

    def is_file(self) -> bool:
        return self.name in self.store

    def read_bytes(self) -> bytes:
        return self.store.read(self.name)

    def open(self, mode: str = "rb"):
        import io

        return io.BytesIO(self.read_bytes())


def _varied(path):
    import numpy as np
    from flask import Response

    try:
        body = vary_pixels(path.read_bytes(), np.random.default_rng())
    except (OSError, ValueError) as exc:
        log.warning("could not re-encode %s for serving: %s", path.name, exc)
        abort(404)
    return Response(body, mimetype="image/png", headers={"Cache-Control": "private, max-age=3600"})
