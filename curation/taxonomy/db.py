"""Class sets in the workspace's database: created from a class table on first use, never renumbered."""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from curation.db.models import ClassSet, ImageClass
from curation.errors import CurateError
from curation.taxonomy.classes import BUILTIN_CLASS_SETS, ClassDef, builtin_class_set


def ensure_class_set(session: Session, name: str, classes: Sequence[ClassDef] | None = None,
                     description: str = "") -> ClassSet:
    """The class set ``name``, created (from ``classes`` or the built-in of that name) if missing.

    An existing set gains classes it lacks; existing classes are never renumbered.
    """
    class_set = session.scalar(select(ClassSet).where(ClassSet.name == name))
    builtin = classes is None
    if classes is None:
        if name not in BUILTIN_CLASS_SETS:
            raise CurateError(f"no class set named {name!r}; built-in sets: {', '.join(BUILTIN_CLASS_SETS)}. "
                              "Import your own with:  curate classes import FILE --name NAME")
        description = BUILTIN_CLASS_SETS[name][0]
        classes = builtin_class_set(name)
    if class_set is None:
        class_set = ClassSet(name=name, description=description, builtin=builtin)
        session.add(class_set)
        session.flush()
    existing = {c.key: c for c in session.scalars(select(ImageClass).where(ImageClass.class_set_id == class_set.id))}
    position = max((c.position for c in existing.values()), default=-1) + 1
    for cls in classes:
        if cls.key in existing:
            continue
        session.add(ImageClass(class_set_id=class_set.id, key=cls.key, name=cls.name, position=position,
                               logit_index=cls.logit_index, definition=cls.definition))
        position += 1
    session.flush()
    session.expire(class_set, ["classes"])
    return class_set


def find_class_set(session: Session, name: str) -> ClassSet | None:
    """The class set ``name`` if the database holds it; reads only (``splits`` uses this)."""
    return session.scalar(select(ClassSet).where(ClassSet.name == name))


def get_class_set(session: Session, name: str) -> ClassSet:
    """An existing class set; built-in sets are created on first use."""
    return find_class_set(session, name) or ensure_class_set(session, name)
