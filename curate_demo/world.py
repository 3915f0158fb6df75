"""The simulated reality of the demo: synthetic pictures, and which class each image really shows.

The simulated crowd (:mod:`curate_demo.crowd`) looks an image up in a :class:`Truth` to answer as a
person would; the labeling stage (:mod:`curate_demo.labeling`) builds one from the workspace's
candidates. Tests and the load benchmark build small worlds from these pieces (``tests/fixtures/world.py``).
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from curation.db.models import GoldItem, ImageClass, SourceRecord
from curation.images import probe
from curation.ingest.records import store_image
from curation.store import ImageStore, sha256_bytes


def pixel_key(data: bytes) -> str:
    """What a person sees of an image, as a key: its pixels without their lowest bit (the app varies
    that bit on every serve, so no two serves of one image are byte- or pixel-identical)."""
    import hashlib

    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        pixels = np.asarray(img.convert("RGB"))
    return "px:" + hashlib.sha256(f"{pixels.shape}".encode() + (pixels >> 1).tobytes()).hexdigest()


@dataclass
class Truth:
    """The simulated reality: which class each image (by sha256, and by :func:`pixel_key`) really shows."""

    classes: dict[str, str] = field(default_factory=dict)

    def add(self, data: bytes, class_key: str) -> None:
        self.classes[sha256_bytes(data)] = class_key
        self.classes[pixel_key(data)] = class_key

    def __call__(self, sha256: str, class_key: str) -> bool:
        return self.classes.get(sha256) == class_key

    def label(self, sha256: str) -> str | None:
        return self.classes.get(sha256)


def synthetic_image(rng: np.random.Generator, size: tuple[int, int] = (96, 72)) -> bytes:
    """A small random picture: a coloured background with a shape (different for every draw)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(3):
        x, y = int(rng.integers(0, size[0] - 20)), int(rng.integers(0, size[1] - 20))
        draw.ellipse((x, y, x + int(rng.integers(10, 40)), y + int(rng.integers(10, 40))),
                     fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def add_image(session: Session, store: ImageStore, data: bytes, source_id: str, cls: ImageClass | None,
              title: str = "") -> int:
    """Store ``data`` as a candidate found for ``cls`` (source 'synthetic'); returns the image id."""
    image = store_image(session, store, data, probe(data))
    session.add(SourceRecord(source="synthetic", source_id=source_id, title=title or source_id, status="downloaded",
                             class_id=cls.id if cls else None, image_id=image.id, license="CC0-1.0"))
    session.flush()
    return image.id


def truth_from_database(session: Session, wrong_share: float, rng: np.random.Generator,
                        store: ImageStore | None = None) -> Truth:
    """A simulated reality for an existing workspace: each candidate shows its hinted class, except a
    ``wrong_share`` that shows another class of the same set; gold positives show their class.
    With ``store``, images are also known by what they show (:func:`pixel_key`)."""
    from curation.db.models import Image

    truth = Truth()
    rows = session.execute(select(Image.sha256, ImageClass.key, ImageClass.class_set_id)
                           .join(SourceRecord, SourceRecord.image_id == Image.id)
                           .join(ImageClass, ImageClass.id == SourceRecord.class_id)).all()
    keys = sorted({key for _sha, key, _s in rows})
    for sha, key, _set in rows:
        truth.classes[sha] = key if rng.random() >= wrong_share or len(keys) < 2 else \
            keys[(keys.index(key) + 1) % len(keys)]
    for sha, key in session.execute(select(Image.sha256, ImageClass.key).join(GoldItem, GoldItem.image_id == Image.id)
                                    .join(ImageClass, ImageClass.id == GoldItem.class_id)
                                    .where(GoldItem.answer.is_(True))):
        truth.classes[sha] = key
    if store is not None:
        for sha, key in list(truth.classes.items()):
            try:
                truth.classes[pixel_key(store.read(sha))] = key
            except (OSError, ValueError):
                continue
    return truth


def add_gold_images(session: Session, store: ImageStore, cls: ImageClass, n: int, rng: np.random.Generator,
                    truth: Truth) -> None:
    """``n`` synthetic gold positives of ``cls`` (the first few become the class's example images)."""
    for i in range(n):
        data = synthetic_image(rng)
        image_id = add_image(session, store, data, f"gold-{cls.key}-{secrets.token_hex(4)}-{i}", None)
        session.add(GoldItem(image_id=image_id, class_id=cls.id, answer=True, origin="import"))
        truth.add(data, cls.key)
    session.flush()
