"""Which class a folder name probably means: WordNet synonyms first, then near spellings.

ImageNet calls a lighthouse "beacon"; a folder named ``lighthouse`` matches no class key or name, but
it is a lemma of the beacon synset. The built-in ImageNet-R set ships every class's WordNet lemmas
(``data/imagenet_r_synonyms.csv``); near spellings ("goldfsh") come from :mod:`difflib` over names,
keys and lemmas.
"""

from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass
from typing import Iterable, Sequence

from curation.taxonomy.classes import _data_text

SYNONYM_FILES = {"imagenet-r": "imagenet_r_synonyms.csv"}


@dataclass(frozen=True)
class Suggestion:
    key: str
    name: str
    why: str  # "synonym 'lighthouse'" or "near 'goldfish'"

    def line(self) -> str:
        return f"{self.name} ({self.key}, {self.why})"


def normalise(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def synonyms(class_set: str) -> dict[str, list[str]]:
    """Class key -> its other names, for the built-in sets that ship them (else empty)."""
    name = SYNONYM_FILES.get(class_set)
    if name is None:
        return {}
    text = "\n".join(line for line in _data_text(name).splitlines() if not line.startswith("#"))
    return {row["wnid"]: row["synonyms"].split("|") for row in csv.DictReader(io.StringIO(text))}


def suggest(folder: str, classes: Iterable[tuple[str, str]], other_names: dict[str, list[str]],
            limit: int = 3) -> list[Suggestion]:
    """Up to ``limit`` classes that ``folder`` may mean: ``classes`` are (key, name) pairs."""
    wanted = normalise(folder)
    if not wanted:
        return []
    out: list[Suggestion] = []
    names: dict[str, tuple[str, str, str]] = {}  # normalised text -> (key, name, the text)
    for key, name in classes:
        for text in (name, key, *other_names.get(key, ())):
            names.setdefault(normalise(text), (key, name, text))
            if normalise(text) == wanted and text not in (name, key):
                out.append(Suggestion(key, name, f"synonym {text!r}"))
    for close in difflib.get_close_matches(wanted, list(names), n=limit * 2, cutoff=0.75):
        key, name, text = names[close]
        if all(s.key != key for s in out):
            out.append(Suggestion(key, name, f"near {text!r}"))
    return out[:limit]


def suggestion_lines(folders: Sequence[str], classes: Iterable[tuple[str, str]], other_names: dict[str, list[str]]
                     ) -> list[str]:
    """One line per unknown folder: its suggestions and the option that applies the first one."""
    pairs = list(classes)
    lines = []
    for folder in folders:
        found = suggest(folder, pairs, other_names)
        if found:
            lines.append(f"  {folder}: did you mean {'; '.join(s.line() for s in found)}?  "
                         f"--map '{folder}={found[0].key}'")
        else:
            lines.append(f"  {folder}: no close class name (see: curate classes list SET)")
    return lines
