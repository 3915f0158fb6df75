"""From a loader's integer targets to a model's outputs, for every way an export can be loaded.

One image has up to three integers: torchvision's ``ImageFolder`` numbers the class folders it finds
in one subset folder (sorted, from 0), the export numbers the classes of its class set
(``classes.csv`` ``index``, the webdataset ``.cls``), and a model trained on a larger label space
(ImageNet-1k) has a ``logit_index`` per class. :func:`target_map` turns any of the first two into
either of the last two; :func:`label_map_text` writes the same table into the export as
``label_map.csv`` so that a user without curate installed can do it with ``csv`` alone.

    ds = torchvision.datasets.ImageFolder("export/train")
    ds.target_transform = target_map("export", ds.classes, to="logit")
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable, Sequence

from splits.frozen import CLASSES, ClassEntry, _csv_text

TARGETS = ("index", "logit")
LOGIT_NOTE = " and one logit index (`logit_index`, the model output of a larger label space)"


class TargetMap:
    """Callable: a loader's target (an int in the loader's numbering, or a class key) -> the wanted integer."""

    def __init__(self, table: dict[str, int], order: Sequence[str]):
        self.table = table
        self.by_position = [table[k] for k in order]

    def __call__(self, target: int | str) -> int:
        if isinstance(target, str):
            return self.table[target]
        return self.by_position[int(target)]


def read_classes(export: Path) -> list[ClassEntry]:
    """The classes of an export (``classes.csv``) without reading its manifest."""
    with open(Path(export) / CLASSES, newline="", encoding="utf-8") as fh:
        return [ClassEntry(int(r["index"]), r["key"], r["name"], int(r["logit_index"]) if r["logit_index"] else None)
                for r in csv.DictReader(fh)]


def target_map(export: Path | str, loader_classes: Sequence[str] | None = None, to: str = "index") -> TargetMap:
    """A ``target_transform`` for ``export``'s images.

    ``loader_classes``: the class keys in the loader's numbering (``ImageFolder(...).classes``); leave it
    out when the targets already are export indices (webdataset ``.cls``, parquet/CSV labels mapped
    through ``classes.csv``) or class keys. ``to``: ``index`` (the export's class index, for a model with
    one output per class of the export) or ``logit`` (the class set's ``logit_index``, e.g. ImageNet-1k).
    """
    if to not in TARGETS:
        raise ValueError(f"unknown target {to!r}; valid targets: {', '.join(TARGETS)}")
    classes = read_classes(Path(export))
    if to == "logit" and any(c.logit_index is None for c in classes):
        raise ValueError(f"{export}: its class set has no logit_index; use to='index'")
    table = {c.key: (c.index if to == "index" else int(c.logit_index)) for c in classes}
    by_index = [c.key for c in sorted(classes, key=lambda c: c.index)]
    order = list(loader_classes) if loader_classes is not None else by_index
    unknown = [k for k in order if k not in table]
    if unknown:
        raise ValueError(f"{export}: loader class(es) {unknown[:5]} are not classes of this export; "
                         "pass ImageFolder(...).classes of a folder of this export")
    return TargetMap(table, order)


def label_map_text(classes: Sequence[ClassEntry], folder_order: dict[str, list[str]]) -> str:
    """``label_map.csv``: key, name, export index, logit index, then per subset folder the ImageFolder index."""
    subsets = sorted(folder_order)
    position = {s: {k: i for i, k in enumerate(folder_order[s])} for s in subsets}
    return _csv_text(["key", "name", "index", "logit_index", *(f"imagefolder_{s}" for s in subsets)], (
        [c.key, c.name, c.index, c.logit_index, *(position[s].get(c.key, "") for s in subsets)]
        for c in sorted(classes, key=lambda c: c.index)))


def label_map_section(classes: Sequence[ClassEntry], folder_order: dict[str, list[str]], fmt: str,
                      folder_of: Callable[[str], str], subsets: Sequence[str] = ()) -> str:
    """The card's "Labels" section: which integer each loader yields and how to reach the model's outputs."""
    has_logits = bool(classes) and all(c.logit_index is not None for c in classes)
    present = {k for keys in folder_order.values() for k in keys}
    first = [c for c in sorted(classes, key=lambda c: c.index) if not present or c.key in present][:3]
    example = ", ".join(f"`{c.key}` = index {c.index}" + (f" = logit {c.logit_index}" if has_logits else "")
                        for c in first)
    lines = ["\n## Labels: from a loader's targets to a model's outputs\n\n",
             "Each class has one key (the folder name and the `label` column) and one export index "
             f"(`classes.csv`){LOGIT_NOTE if has_logits else ''}"
             f": {example}. `label_map.csv` lists them all, with the ImageFolder index per subset folder.\n\n",
             "| loader | target it yields | to the export index | to the model logit |\n| --- | --- | --- | --- |\n"]
    to_logit = "`target_map(DIR, to=\"logit\")`" if has_logits else "(no logit index in this class set)"
    if fmt == "imagefolder":
        logit = "`target_map(DIR, ds.classes, to=\"logit\")`" if has_logits else "(no logit index)"
        lines.append("| torchvision `ImageFolder(DIR/<subset>)` | position of the class folder among that folder's "
                     f"sorted class folders | `target_map(DIR, ds.classes)` | {logit} |\n")
        lines.append("| `datasets.load_dataset(DIR)` | `label` = the class key | `target_map(DIR)(key)` | "
                     f"{to_logit} applied to the key |\n")
    if fmt == "webdataset":
        lines.append(f"| `webdataset` `.cls` | the export index | itself | {to_logit} |\n")
    if fmt in ("parquet", "csv"):
        lines.append("| pandas / `datasets` (`label` column) | the class key | `target_map(DIR)(key)` | "
                     f"{to_logit} applied to the key |\n")
    example = "train" if "train" in subsets else (sorted(subsets)[0] if subsets else "train")
    folder = folder_of(example) if fmt == "imagefolder" else example
    lines.append(_recipe(fmt, has_logits, folder))
    return "".join(lines)


def _recipe(fmt: str, has_logits: bool, folder: str) -> str:
    """A csv-only snippet (DIR = the export folder) that maps the loader's targets to the model's."""
    column = "logit_index" if has_logits else "index"
    rows = "csv.DictReader(open('DIR/classes.csv'))"
    if fmt == "imagefolder":
        body = ("import torchvision\n"
                f"key_to_target = {{r['key']: int(r['{column}']) for r in {rows}}}\n"
                f"ds = torchvision.datasets.ImageFolder('DIR/{folder}')\n"
                "ds.target_transform = [key_to_target[k] for k in ds.classes].__getitem__\n")
    elif fmt == "webdataset":
        body = ("import glob, webdataset\n"
                f"index_to_target = {{int(r['index']): int(r['{column}']) for r in {rows}}}\n"
                f"shards = sorted(glob.glob('DIR/{folder}/*.tar'))\n"
                "ds = webdataset.WebDataset(shards, empty_check=False, shardshuffle=False).decode('pil')\n"
                "ds = ds.to_tuple('jpg;png;jpeg;webp', 'cls').map_tuple(None, index_to_target.__getitem__)\n")
    else:
        body = ("import pandas\n"
                f"key_to_target = {{r['key']: int(r['{column}']) for r in {rows}}}\n"
                + (f"frame = pandas.read_parquet('DIR/{folder}.parquet')\n" if fmt == "parquet"
                   else f"frame = pandas.read_csv('DIR/{folder}.csv')\n")
                + "targets = frame['label'].map(key_to_target)\n")
    return ("\nWithout curate installed (`csv` only; DIR is this folder):\n\n```python\nimport csv\n" + body
            + "```\n\nWith curate: `from splits.loading import target_map`.\n")
