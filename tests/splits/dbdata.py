"""Populate a database with labeled, reviewed images for DB-based split tests."""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from curation.db.models import FilterDecision, Image, Review, SourceRecord, User
from curation.store import ImageStore
from curation.taxonomy import get_class_set
from tests.conftest import make_image_bytes

CLASSES = ("n01443537", "n01484850", "n01494475")


def populate(session: Session, store: ImageStore, per_class: int = 10, reverse: bool = False) -> dict[str, list[Image]]:
    """``per_class`` images per class, half 'art' and half 'sketch' renditions, each accepted by a review.

    Each sketch image's phash is 2 bits away from the art image of the same class and number.
    """
    class_set = get_class_set(session, "imagenet-r")
    classes = {c.key: c for c in class_set.classes if c.key in CLASSES}
    user = User(username="reviewer", password_hash="x")
    session.add(user)
    session.flush()
    rng = np.random.default_rng(0)
    out: dict[str, list[Image]] = {}
    bases = {key: rng.integers(-(2**62), 2**62, per_class) for key in CLASSES}
    order = list(enumerate(CLASSES))
    for k, key in (order[::-1] if reverse else order):  # reversed: other row ids, same content
        base = bases[key]
        for i in (range(per_class)[::-1] if reverse else range(per_class)):
            data = make_image_bytes(1000 * k + i)
            rendition = "art" if i % 2 == 0 else "sketch"
            phash = int(base[i - i % 2]) ^ (0b11 if rendition == "sketch" else 0)
            image = Image(sha256=store.put(data), width=64, height=48, format="JPEG", mode="RGB",
                          n_bytes=len(data), phash=phash)
            session.add(image)
            session.flush()
            session.add(SourceRecord(source="flickr", source_id=f"{key}-{i}", url=f"https://flickr.example/{key}/{i}",
                                     owner=f"{i % 3}@N0{k}", owner_name=f"Owner <b>{i % 3}</b>",
                                     license="CC-BY-2.0", class_id=classes[key].id, status="downloaded",
                                     image_id=image.id, metadata_={"rendition": rendition}))
            session.add(Review(image_id=image.id, user_id=user.id, decision="accept", class_id=classes[key].id))
            out.setdefault(key, []).append(image)
    session.flush()
    return out


def reject(session: Session, images: dict[str, list[Image]]) -> None:
    """Three refusals: a filter rejection, a review rejection, and a license outside a CC-BY allow-list."""
    first = images[CLASSES[0]]
    session.add(FilterDecision(image_id=first[0].id, filter="quality", verdict="reject", reason="too small"))
    user_id = session.query(User.id).scalar()
    session.query(Review).filter(Review.image_id == first[1].id).update({"current": False})
    session.add(Review(image_id=first[1].id, user_id=user_id, decision="reject"))
    record = session.query(SourceRecord).filter(SourceRecord.image_id == first[2].id).one()
    record.license = "All rights reserved"
    session.flush()
