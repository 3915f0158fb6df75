"""Class sets: the built-in ones (ImageNet-R, SVSF, DFR) and a user's own from CSV or TOML."""

from __future__ import annotations

import csv
import io
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from curation.db.models import ClassSet, ImageClass
from curation.errors import CurateError


@dataclass(frozen=True)
class ClassDef:
    key: str
    name: str
    logit_index: int | None = None
    definition: str = ""


def _data_text(name: str) -> str:
    return resources.files("curation.taxonomy").joinpath("data", name).read_text(encoding="utf-8")


def _imagenet_r() -> list[ClassDef]:
    rows = csv.DictReader(io.StringIO(_data_text("imagenet_r_classes.csv")))
    out = sorted(rows, key=lambda r: int(r["position"]))
    return [ClassDef(r["wnid"], r["class_name"].replace("_", " "), int(r["imagenet_index"])) for r in out]


def _svsf() -> list[ClassDef]:
    rows = csv.DictReader(io.StringIO(_data_text("svsf_classes.csv")))
    return [ClassDef(r["key"], r["name"], None, r["definition"]) for r in rows]


def _dfr() -> list[ClassDef]:
    rows = csv.DictReader(io.StringIO(_data_text("dfr_classes.csv")))
    return [ClassDef(r["key"], r["name"], int(r["category_id"])) for r in rows]


BUILTIN_CLASS_SETS: dict[str, tuple[str, Callable[[], list[ClassDef]]]] = {
    "imagenet-r": ("The 200 ImageNet-R classes; logit_index is the index into the 1000 ImageNet logits.",
                   _imagenet_r),
    "svsf": ("20 storefront business types for StreetView StoreFronts-style splits.", _svsf),
    "dfr": ("The 13 DeepFashion2 clothing categories (DeepFashion Remixed); logit_index is category_id.", _dfr),
}


def builtin_class_set(name: str) -> list[ClassDef]:
    if name not in BUILTIN_CLASS_SETS:
        raise ValueError(f"unknown built-in class set {name!r}; valid names: {', '.join(BUILTIN_CLASS_SETS)}")
    return BUILTIN_CLASS_SETS[name][1]()


def rendition_keywords(paper_only: bool = False) -> list[str]:
    """Rendition keywords; ``paper_only`` keeps the ones of the ImageNet-R paper."""
    out = []
    for line in _data_text("renditions.txt").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        in_paper = line.startswith("*")
        if in_paper or not paper_only:
            out.append(line.lstrip("*"))
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


def load_class_file(path: Path) -> list[ClassDef]:
    """Read a user's class list: CSV with a ``name`` column (``key``, ``definition``,
    ``logit_index`` optional) or TOML with ``[[class]]`` tables of the same keys."""
    path = Path(path)
    if not path.exists():
        raise CurateError(f"class file {path} does not exist")
    if path.suffix.lower() == ".toml":
        try:
            rows = tomllib.loads(path.read_text(encoding="utf-8")).get("class", [])
        except tomllib.TOMLDecodeError as exc:
            raise CurateError(f"{path} is not valid TOML: {exc}") from exc
    elif path.suffix.lower() in (".csv", ".tsv"):
        text = path.read_text(encoding="utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text), delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
    else:
        raise CurateError(f"{path}: class files must be .csv, .tsv or .toml")
    classes: list[ClassDef] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        name = str(row.get("name") or "").strip()
        if not name:
            raise CurateError(f"{path}: class {number} has no 'name'; every row needs a name column")
        key = str(row.get("key") or "").strip() or _slug(name)
        if key in seen:
            raise CurateError(f"{path}: class key {key!r} appears twice; keys must be unique")
        seen.add(key)
        index = row.get("logit_index")
        try:
            logit_index = int(index) if index not in (None, "") else None
        except ValueError as exc:
            raise CurateError(f"{path}: class {key!r} has a non-integer logit_index {index!r}") from exc
        classes.append(ClassDef(key, name, logit_index, str(row.get("definition") or "")))
    if not classes:
        raise CurateError(f"{path} lists no classes")
    return classes


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


def get_class_set(session: Session, name: str) -> ClassSet:
    """An existing class set; built-in sets are created on first use."""
    class_set = session.scalar(select(ClassSet).where(ClassSet.name == name))
    if class_set is None:
        class_set = ensure_class_set(session, name)
    return class_set
