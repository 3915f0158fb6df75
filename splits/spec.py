"""Split specs: a TOML file (or a preset shipped in ``splits/presets``) validated into a frozen dataclass.

A spec names the class set, where images and labels come from, the training distribution as fixed
values of metadata attributes, an IID test set drawn from that distribution, OOD test sets that each
change one attribute, optionally a [test] filter every test set takes instead (DFR: the validation split,
where the IID test is every matching image rather than a sample of the training pool), a seed,
group-disjointness, the near-duplicate leakage check and the export's license allow-list and layout. Every problem is reported as a :class:`CurateError` naming the key.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from curation.errors import CurateError

SOURCES = ("db", "table", "dfr")
LABEL_SOURCES = {
    "reviewed": "the current accept/relabel review of each image (DB)",
    "source": "the class hint recorded at import or scrape time (DB)",
    "column": "a column of the metadata table",
    "items": "the categories of the matching annotated items (multi-label, DFR)",
}
LAYOUTS = ("subset/class", "class", "subset")
DISJOINT_NONE = ("none", "")
PRESETS = Path(__file__).with_name("presets")  # package data (a plain folder: works when installed editable)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

_TOP_KEYS = {"name", "description", "class_set", "seed", "source", "labels", "train", "test", "iid_test", "ood",
             "groups", "leakage", "export"}
_SECTION_KEYS = {
    "source": {"kind", "table", "image_column", "images_root"},
    "labels": {"from", "column"},
    "train": {"where", "size"},
    "test": {"where"},
    "iid_test": {"size", "fraction", "name"},
    "ood": {"name", "change", "size"},
    "groups": {"disjoint_by", "fallback", "tests_apart"},
    "leakage": {"max_distance", "action", "mirrored"},
    "export": {"licenses", "layout", "include_rejected"},
}


@dataclass(frozen=True)
class SubsetSpec:
    """One subset: which attribute values it takes and how many images (None = all that match)."""

    name: str
    where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    size: int | None = None
    fraction: float | None = None


@dataclass(frozen=True)
class SplitSpec:
    name: str
    class_set: str
    seed: int
    source: str
    labels_from: str
    label_column: str | None = None
    table: str | None = None
    image_column: str = "image"
    images_root: str | None = None
    train: SubsetSpec | None = None
    iid_test: SubsetSpec | None = None
    ood: tuple[SubsetSpec, ...] = ()
    test_where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    disjoint_by: str = "image"
    disjoint_fallback: str | None = None  # used when the table lacks the disjoint_by column
    tests_apart: bool = False  # test sets share no group with each other either
    leakage_max_distance: int | None = None
    leakage_action: str = "drop"
    leakage_mirrored: bool = True
    licenses: tuple[str, ...] = ()
    layout: str = "subset/class"
    include_rejected: bool = False  # keep images the filters or reviews rejected (said in the card)
    description: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def multi_label(self) -> bool:
        return self.labels_from == "items"

    @property
    def subsets(self) -> list[str]:
        out = [s.name for s in (self.train, self.iid_test) if s is not None]
        return out + [s.name for s in self.ood]

    @property
    def separate_tests(self) -> bool:
        """True when [test] gives the test sets their own pool (DFR: the validation split): the IID test is
        then every image matching train.where with test.where applied, not a sample of the training pool."""
        return bool(self.test_where)

    @property
    def attributes(self) -> list[str]:
        """Every attribute the spec filters on, in first-mention order."""
        names: list[str] = []
        for subset in (self.train, self.iid_test, *self.ood):
            for key in (subset.where if subset else {}):
                if key not in names:
                    names.append(key)
        return names

    def with_options(self, **raw_changes: Any) -> "SplitSpec":
        """The spec with command-line overrides, written into its raw form (so exports record them).

        ``raw_changes`` maps "section.key" to a value, e.g. ``{"labels.from": "source"}``."""
        raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.raw.items()}
        for dotted, value in raw_changes.items():
            section, key = dotted.split(".")
            raw.setdefault(section, {})[key] = value
        from dataclasses import replace

        return replace(parse_spec(raw, f"spec {self.name}"), table=self.table, images_root=self.images_root)

    def with_sizes(self, sizes: Mapping[str, int | None], **top: Any) -> "SplitSpec":
        """The spec with new subset sizes (None: every matching image), written into its raw form.

        ``sizes`` maps subset names (train, the IID test's name, OOD names) to sizes; OOD tests it does
        not name are left out. ``top`` replaces top-level keys (``name``, ``seed``, ...). This scales a
        preset to a small table without copying its text."""
        unknown = sorted(set(sizes) - set(self.subsets))
        if unknown:
            raise CurateError(f"spec {self.name} has no subset(s) {', '.join(unknown)}; "
                              f"its subsets: {', '.join(self.subsets)}")
        raw = {**copy.deepcopy(dict(self.raw)), **top}
        for section in ("train", "iid_test"):
            subset = getattr(self, section)
            if subset is not None and subset.name in sizes:
                raw[section] = _sized(raw[section], sizes[subset.name])
        if "ood" in raw:
            raw["ood"] = [_sized(ood, sizes[ood["name"]]) for ood in raw["ood"] if ood["name"] in sizes]
        return replace(parse_spec(raw, f"spec {raw['name']}"), table=self.table, images_root=self.images_root)

    def renamed(self, name: str) -> "SplitSpec":
        """The same spec saved under another name (the raw spec, written into exports, follows)."""
        from dataclasses import replace

        return replace(self, name=name, raw={**self.raw, "name": name})

    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True, default=str).encode()).hexdigest()


def _sized(section: Mapping[str, Any], size: int | None) -> dict[str, Any]:
    """A subset's raw table with ``size`` (None: no size, every matching image; TOML has no null)."""
    kept = {k: v for k, v in section.items() if k not in ("size", "fraction")}
    return kept if size is None else {**kept, "size": size}


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS.glob("*.toml"))


def load_spec(ref: str | Path) -> SplitSpec:
    """A spec from a TOML file path, or a preset by name."""
    path = Path(ref)
    if path.suffix == ".toml" and path.exists():
        spec = parse_spec(_parse_toml(path.read_text(encoding="utf-8"), str(path)), str(path))
        return _relative_to(spec, path.resolve().parent)
    if str(ref) in preset_names():
        text = (PRESETS / f"{ref}.toml").read_text(encoding="utf-8")
        return parse_spec(_parse_toml(text, f"preset {ref}"), f"preset {ref}")
    raise CurateError(f"{ref!r} is neither a spec file (.toml) nor a preset; presets: {', '.join(preset_names())}")


def _relative_to(spec: SplitSpec, folder: Path) -> SplitSpec:
    """A spec file's relative source.table and source.images_root are relative to the file's folder."""
    from dataclasses import replace

    fix = {k: str(folder / v) for k, v in (("table", spec.table), ("images_root", spec.images_root))
           if v and not Path(v).is_absolute()}
    return replace(spec, **fix) if fix else spec


def _parse_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CurateError(f"{origin} is not valid TOML: {exc}") from exc


def _check_keys(data: Mapping[str, Any], valid: set[str], where: str, origin: str) -> None:
    unknown = set(data) - valid
    if unknown:
        raise CurateError(f"{origin}: unknown key(s) {', '.join(sorted(unknown))} in {where}; "
                          f"valid keys: {', '.join(sorted(valid))}")


def _table(data: Mapping[str, Any], key: str, origin: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise CurateError(f"{origin}: [{key}] must be a table, got {type(value).__name__}")
    _check_keys(value, _SECTION_KEYS[key], f"[{key}]", origin)
    return value


def _size(value: Any, where: str, origin: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CurateError(f"{origin}: {where}.size must be a positive integer, got {value!r}")
    return value


def _values(value: Any, where: str, origin: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise CurateError(f"{origin}: {where} lists no values")
    for item in items:
        if isinstance(item, (dict, list)) or isinstance(item, float):
            raise CurateError(f"{origin}: {where} values must be strings, integers or booleans, got {item!r}")
    return tuple(str(item).lower() if isinstance(item, bool) else str(item) for item in items)


def _where(value: Any, where: str, origin: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise CurateError(f"{origin}: {where} must be a table of attribute = value(s), got {value!r}")
    return {str(k): _values(v, f"{where}.{k}", origin) for k, v in value.items()}


def _name(value: Any, where: str, origin: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise CurateError(f"{origin}: {where} must be a name of letters, digits, '_', '-' or '.', got {value!r}")
    return value


def parse_spec(data: Mapping[str, Any], origin: str = "spec") -> SplitSpec:
    """Validate a parsed TOML document; every error names the offending key and what to write."""
    _check_keys(data, _TOP_KEYS, "the top level", origin)
    name = _name(data.get("name"), "name", origin)
    class_set = data.get("class_set")
    if not isinstance(class_set, str) or not class_set:
        raise CurateError(f"{origin}: class_set is required (a built-in set: imagenet-r, svsf, dfr, or your own)")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise CurateError(f"{origin}: seed must be a non-negative integer, got {seed!r}")
    source = _table(data, "source", origin)
    kind = source.get("kind", "db")
    if kind not in SOURCES:
        raise CurateError(f"{origin}: source.kind {kind!r} is not one of {', '.join(SOURCES)}")
    labels = _table(data, "labels", origin)
    labels_from = labels.get("from", "items" if kind == "dfr" else "reviewed")
    if labels_from not in LABEL_SOURCES:
        valid = "; ".join(f"{k} ({v})" for k, v in LABEL_SOURCES.items())
        raise CurateError(f"{origin}: labels.from {labels_from!r} is not valid; choose one of: {valid}")
    _check_label_source(kind, labels_from, labels.get("column"), origin)
    test_where = _where(_table(data, "test", origin).get("where", {}), "test.where", origin)
    train, iid, ood = _subsets(data, origin, test_where)
    groups, leakage, export = (_table(data, k, origin) for k in ("groups", "leakage", "export"))
    spec = SplitSpec(
        name=name, class_set=class_set, seed=seed, source=kind, labels_from=labels_from,
        label_column=labels.get("column"), table=source.get("table"),
        image_column=str(source.get("image_column", "image")), images_root=source.get("images_root"),
        train=train, iid_test=iid, ood=ood, test_where=test_where, disjoint_by=str(groups.get("disjoint_by", "image")),
        disjoint_fallback=_optional_str(groups.get("fallback"), "groups.fallback", origin),
        tests_apart=_flag(groups.get("tests_apart", False), "groups.tests_apart", origin),
        include_rejected=_flag(export.get("include_rejected", False), "export.include_rejected", origin),
        leakage_max_distance=_distance(leakage.get("max_distance"), origin),
        leakage_action=str(leakage.get("action", "drop")), leakage_mirrored=bool(leakage.get("mirrored", True)),
        licenses=tuple(str(x) for x in export.get("licenses", [])), layout=str(export.get("layout", "subset/class")),
        description=str(data.get("description", "")), raw=dict(data))
    _check_consistency(spec, origin)
    return spec


def _flag(value: Any, where: str, origin: str) -> bool:
    if not isinstance(value, bool):
        raise CurateError(f"{origin}: {where} must be true or false, got {value!r}")
    return value


def _optional_str(value: Any, where: str, origin: str) -> str | None:
    if value is not None and not (isinstance(value, str) and value):
        raise CurateError(f"{origin}: {where} must be a column name (or 'image'), got {value!r}")
    return value


def _check_label_source(kind: str, labels_from: str, column: Any, origin: str) -> None:
    if labels_from == "column" and not (isinstance(column, str) and column):
        raise CurateError(f"{origin}: labels.from = 'column' needs labels.column = the column holding the class")
    if kind == "db" and labels_from not in ("reviewed", "source"):
        raise CurateError(f"{origin}: a DB split takes labels from 'reviewed' or 'source', not {labels_from!r}")
    if kind == "table" and labels_from != "column":
        raise CurateError(f"{origin}: a metadata-table split takes labels from a column: "
                          "set labels.from = 'column' and labels.column")
    if kind == "dfr" and labels_from != "items":
        raise CurateError(f"{origin}: a DFR split takes its multi-label targets from items: labels.from = 'items'")


def _subsets(data: Mapping[str, Any], origin: str, test_where: dict[str, tuple[str, ...]]
             ) -> tuple[SubsetSpec | None, SubsetSpec | None, tuple[SubsetSpec, ...]]:
    train = iid = None
    if "train" in data:
        section = _table(data, "train", origin)
        train = SubsetSpec("train", _where(section.get("where", {}), "train.where", origin),
                           _size(section.get("size"), "train", origin))
    if "iid_test" in data:
        section = _table(data, "iid_test", origin)
        if train is None:
            raise CurateError(f"{origin}: [iid_test] is drawn from the training distribution; add a [train] table")
        size, fraction = _size(section.get("size"), "iid_test", origin), section.get("fraction")
        if size is not None and fraction is not None:
            raise CurateError(f"{origin}: [iid_test] takes size (images) or fraction (0-1), not both")
        if size is None and fraction is None and not test_where:
            raise CurateError(f"{origin}: [iid_test] needs exactly one of size (images) or fraction (0-1), "
                              "or a [test] where = {...} giving the test sets their own images")
        if fraction is not None and (isinstance(fraction, bool) or not isinstance(fraction, (int, float))
                                     or not 0 < fraction < 1):
            raise CurateError(f"{origin}: iid_test.fraction must be a number between 0 and 1, got {fraction!r}")
        iid = SubsetSpec(_name(section.get("name", "iid_test"), "iid_test.name", origin),
                         {**train.where, **test_where} if test_where else {}, size,
                         None if fraction is None else float(fraction))
    raw_ood = data.get("ood", [])
    if not isinstance(raw_ood, list):
        raise CurateError(f"{origin}: ood must be an array of tables ([[ood]] name = ..., change = {{...}})")
    ood = []
    for number, section in enumerate(raw_ood, start=1):
        if not isinstance(section, dict):
            raise CurateError(f"{origin}: [[ood]] number {number} must be a table")
        _check_keys(section, _SECTION_KEYS["ood"], f"[[ood]] number {number}", origin)
        name = _name(section.get("name"), f"ood[{number}].name", origin)
        change = _where(section.get("change", {}), f"ood.{name}.change", origin)
        clash = sorted(set(change) & set(test_where))
        if clash:
            raise CurateError(f"{origin}: ood.{name} changes {', '.join(clash)}, which [test] where already sets "
                              "for every test set; change another attribute")
        ood.append(SubsetSpec(name, {**_ood_where(train, change, name, origin), **test_where},
                              _size(section.get("size"), f"ood.{name}", origin)))
    if train is None and not ood:
        raise CurateError(f"{origin}: the spec defines no subset; add [train] (with [iid_test]) and/or [[ood]] tables")
    return train, iid, tuple(ood)


def _ood_where(train: SubsetSpec | None, change: dict[str, tuple[str, ...]], name: str,
               origin: str) -> dict[str, tuple[str, ...]]:
    """An OOD set keeps the training values of every attribute but the one it changes."""
    if train is None:
        return change
    if len(change) != 1:
        raise CurateError(f"{origin}: ood.{name}.change must change exactly one attribute of train.where "
                          f"({', '.join(train.where) or 'none'}), it changes {len(change)}")
    (attr, values), = change.items()
    if attr not in train.where:
        raise CurateError(f"{origin}: ood.{name} changes {attr!r}, which train.where does not fix; "
                          f"fixed attributes: {', '.join(train.where) or 'none'}")
    overlap = set(values) & set(train.where[attr])
    if overlap:
        raise CurateError(f"{origin}: ood.{name} sets {attr} to {sorted(overlap)}, which train also uses; "
                          "an OOD value must differ from the training values")
    return {**train.where, attr: values}


def _distance(value: Any, origin: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 20:
        raise CurateError(f"{origin}: leakage.max_distance must be an integer 0-20 (Hamming bits), got {value!r}")
    return value


def _check_consistency(spec: SplitSpec, origin: str) -> None:
    names = spec.subsets
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CurateError(f"{origin}: subset name(s) {', '.join(dupes)} used twice; give each subset its own name")
    if spec.leakage_action not in ("drop", "error"):
        raise CurateError(f"{origin}: leakage.action must be 'drop' or 'error', got {spec.leakage_action!r}")
    if spec.layout not in LAYOUTS:
        raise CurateError(f"{origin}: export.layout must be one of {', '.join(LAYOUTS)}, got {spec.layout!r}")
    if spec.layout == "class" and len(names) != 1:
        raise CurateError(f"{origin}: export.layout = 'class' (<class>/<file>) needs exactly one subset; "
                          f"this spec has {len(names)}: use 'subset/class'")
    if spec.multi_label and spec.layout != "subset":
        raise CurateError(f"{origin}: multi-label images have no single class folder: set export.layout = 'subset'")
    if spec.iid_test and spec.iid_test.name in [s.name for s in spec.ood]:
        raise CurateError(f"{origin}: iid_test and an OOD set share the name {spec.iid_test.name!r}")
