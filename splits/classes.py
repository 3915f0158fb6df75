"""Resolving a spec's class set, with or without a database, and matching raw labels to class keys."""

from __future__ import annotations

from typing import Iterable

from curation.errors import CurateError
from splits.frozen import ClassEntry

AUTO = "auto"


def _norm(text: str) -> str:
    return "".join(ch for ch in str(text).lower() if ch.isalnum())


def resolve_classes(class_set: str, session=None, labels: Iterable[str] | None = None) -> list[ClassEntry]:
    """The classes in model-output order: a built-in set, a set in the database, or (``auto``) the
    sorted distinct ``labels`` of a metadata table."""
    from curation.taxonomy import BUILTIN_CLASS_SETS, builtin_class_set

    if class_set == AUTO:
        if labels is None:
            raise CurateError("class_set = 'auto' takes its classes from a metadata table's label column")
        keys = sorted({str(x) for x in labels if str(x)})
        return [ClassEntry(i, k, k, None) for i, k in enumerate(keys)]
    if session is not None:  # read only: a built-in set the database lacks comes from the package's table
        from curation.taxonomy.db import find_class_set

        found = find_class_set(session, class_set)
        if found is not None:
            return [ClassEntry(i, c.key, c.name, c.logit_index) for i, c in enumerate(found.classes)]
    if class_set in BUILTIN_CLASS_SETS:
        return [ClassEntry(i, c.key, c.name, c.logit_index) for i, c in enumerate(builtin_class_set(class_set))]
    raise CurateError(f"unknown class set {class_set!r}: use a built-in one ({', '.join(BUILTIN_CLASS_SETS)}), "
                      "import yours with  curate classes import FILE --name NAME, or write class_set = 'auto' "
                      "to take the classes from the table's label column")


def label_lookup(classes: list[ClassEntry]) -> dict[str, int]:
    """Raw label text -> class index, matching the key, the name, or (for DFR) the category id."""
    lookup: dict[str, int] = {}
    for cls in classes:
        for text in (cls.key, cls.name):
            lookup.setdefault(_norm(text), cls.index)
    return lookup


def match_labels(values, classes: list[ClassEntry]):
    """Vectorised: an int array of class indices, -1 where a value names no class."""
    import numpy as np
    import pandas as pd

    lookup = label_lookup(classes)
    codes, uniques = pd.factorize(pd.Series(values).astype(str))
    mapped = np.array([lookup.get(_norm(u), -1) for u in uniques] + [-1], dtype=np.int64)
    return mapped[codes]
