"""Class sets and rendition keywords, shipped as package data (see ``data/``).

:mod:`curation.taxonomy.classes` is the pure class tables (no database; ``models`` may import it);
:mod:`curation.taxonomy.db` stores a class set in the workspace's database. ``ensure_class_set`` and
``get_class_set`` are re-exported here lazily, so importing the pure tables never loads SQLAlchemy.
"""

from typing import Any

from curation.taxonomy.classes import (BUILTIN_CLASS_SETS, ClassDef, builtin_class_set, imagenet_r_rows,
                                       load_class_file, rendition_keywords)

_DATABASE_NAMES = ("ensure_class_set", "get_class_set")

__all__ = ["BUILTIN_CLASS_SETS", "ClassDef", "builtin_class_set", "ensure_class_set", "get_class_set",
           "imagenet_r_rows", "load_class_file", "rendition_keywords"]


def __getattr__(name: str) -> Any:
    """The database half on first use (PEP 562): ``from curation.taxonomy import ensure_class_set`` works
    without making ``import curation.taxonomy.classes`` pay for SQLAlchemy."""
    if name in _DATABASE_NAMES:
        from curation.taxonomy import db

        return getattr(db, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
