"""Class sets and rendition keywords, shipped as package data (see ``data/``)."""

from curation.taxonomy.classes import (BUILTIN_CLASS_SETS, ClassDef, builtin_class_set, ensure_class_set,
                                       get_class_set, load_class_file, rendition_keywords)

__all__ = ["BUILTIN_CLASS_SETS", "ClassDef", "builtin_class_set", "ensure_class_set", "get_class_set",
           "load_class_file", "rendition_keywords"]
