"""Class tables: the built-in ones (ImageNet-R, SVSF, DFR), a user's own from CSV or TOML, rendition keywords.

Pure data, no database: ``models`` reads the ImageNet-R table from here. Storing a class set in the
workspace's database is :mod:`curation.taxonomy.db`.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

from curation.errors import CurateError


@dataclass(frozen=True)
class ClassDef:
    key: str
    name: str
    logit_index: int | None = None
    definition: str = ""


def _data_text(name: str) -> str:
    return resources.files("curation.taxonomy").joinpath("data", name).read_text(encoding="utf-8")


def imagenet_r_rows() -> list[dict[str, str]]:
    """The 200 ImageNet-R classes in evaluation order, as the CSV's rows (position, wnid, imagenet_index,
    class_name); ``imagenet_index`` indexes the 1000 ImageNet logits (sorted wnids)."""
    rows = csv.DictReader(io.StringIO(_data_text("imagenet_r_classes.csv")))
    return sorted(rows, key=lambda r: int(r["position"]))


def _imagenet_r() -> list[ClassDef]:
    return [ClassDef(r["wnid"], r["class_name"].replace("_", " "), int(r["imagenet_index"])) for r in imagenet_r_rows()]


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
