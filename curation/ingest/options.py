"""Parsing what ``curate import`` is told about the files: folder levels, an attribute CSV, fixed
attributes and folder-name aliases. Every problem is one :class:`CurateError` saying what to write."""

from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath
from typing import Sequence

from curation.errors import CurateError
from curation.ingest.folder import CLASS_FIELD, SKIP_FIELD, _normalise, check_attribute_names


def parse_fields(label_from_folder: bool, path_fields: str | None) -> tuple[str, ...]:
    """``--path-fields`` as a tuple of level names; ``--label-from-folder`` alone means ``class``."""
    if path_fields is None:
        return (CLASS_FIELD,) if label_from_folder else ()
    fields = tuple(f.strip() for f in path_fields.split("/"))
    if any(not f for f in fields):
        raise CurateError(f"--path-fields {path_fields!r}: name every level ('class', an attribute or '-'), "
                          "separated by '/', e.g. rendition/class")
    named = [f for f in fields if f != SKIP_FIELD]
    if len(set(named)) != len(named):
        raise CurateError(f"--path-fields {path_fields!r} names a level twice")
    if label_from_folder and CLASS_FIELD not in fields:
        raise CurateError("--label-from-folder takes the class from the top folder, but --path-fields has no "
                          "'class' level; add 'class' where the class folders are")
    check_attribute_names([f for f in named if f != CLASS_FIELD], "--path-fields")
    return fields


def parse_pairs(values: Sequence[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip() or not text.strip():
            raise CurateError(f"{option} {value!r}: write KEY=VALUE, e.g. {option} rendition=sketch")
        out[key.strip()] = text.strip()
    return out


def read_attribute_table(path: Path) -> dict[str, dict[str, str]]:
    """relative path -> attributes, from a CSV with a ``path`` column; ``class`` sets the label."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = [c for c in reader.fieldnames or []]
        if "path" not in columns:
            raise CurateError(f"{path}: an attribute table needs a 'path' column (relative to the imported folder); "
                              f"its columns: {', '.join(columns) or 'none'}")
        check_attribute_names([c for c in columns if c not in ("path", CLASS_FIELD)], str(path))
        table: dict[str, dict[str, str]] = {}
        for number, row in enumerate(reader, start=2):
            rel = PurePosixPath((row.get("path") or "").replace("\\", "/"))
            if not rel.parts or rel.is_absolute() or ".." in rel.parts:
                raise CurateError(f"{path}:{number}: path {row.get('path')!r} must be relative to the imported folder")
            table[rel.as_posix()] = {k: v for k, v in row.items() if k != "path" and v not in (None, "")}
    return table


def parse_options(label_from_folder: bool, path_fields: str | None, attributes_csv: Path | None,
                  fixed: Sequence[str], aliases: Sequence[str]):
    """(path fields, attribute table, fixed attributes, alias map) for :class:`ImportOptions`."""
    fields = parse_fields(label_from_folder, path_fields)
    table = read_attribute_table(attributes_csv) if attributes_csv else {}
    fixed_attrs = parse_pairs(fixed, "--set")
    check_attribute_names(list(fixed_attrs), "--set")
    alias_map = {_normalise(k): v for k, v in parse_pairs(aliases, "--map").items()}
    if alias_map and CLASS_FIELD not in fields and not table:
        raise CurateError("--map renames class folders: add --label-from-folder (or a 'class' level in --path-fields)")
    return fields, table, fixed_attrs, alias_map
