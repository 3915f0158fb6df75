"""DeepFashion2 ingestion for DeepFashion Remixed: annotation folders -> one table row per item.

A DeepFashion2 folder holds ``<split>/annos/NNNNNN.json`` beside ``<split>/image/NNNNNN.jpg`` (split =
train | validation). Each file is one image: ``source`` and ``pair_id`` belong to the image; ``item1`` ..
``itemN`` (in any key order) are its clothing items with category, style, scale, occlusion, zoom_in and
viewpoint. The split builder then puts an image into a subset when ANY of its items matches the subset's
four values, as the released loader (``fashion2_loader.get_annotations``) does.

Handling is per item, as in the release: an attribute value outside 1-3 (or not an integer) is kept as
written, so that item matches no subset while the other items of its image still count; such values are
counted per attribute and value. An item whose category_id is outside 1-13 has no class and is left out
(counted). A file that is not valid JSON, is not an object, or whose item lacks one of the keys the
release reads (category_id, scale, occlusion, zoom_in, viewpoint) is a bad file: recorded with its
reason, and the CLI refuses to write the table unless asked to skip such files.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)
ITEM_KEY = re.compile(r"^item(\d+)$")
MAX_JSON_BYTES = 20 * 1024 * 1024
ATTRIBUTES = ("scale", "occlusion", "zoom_in", "viewpoint")
REQUIRED_ITEM_KEYS = ("category_id", *ATTRIBUTES)  # what the released loader reads from every item
VALID = {"scale": range(1, 4), "occlusion": range(1, 4), "zoom_in": range(1, 4), "viewpoint": range(1, 4),
         "category_id": range(1, 14)}
COLUMNS = ("image", "df2_split", "df2_source", "pair_id", "item", "category_id", "category", "style", "scale",
           "occlusion", "zoom_in", "viewpoint")


class BadAnnotation(ValueError):
    """A file the release could not read either: not JSON, not an object, or an item without a required key."""


@dataclass
class IngestResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    files: int = 0
    bad_files: dict[str, str] = field(default_factory=dict)  # relative file -> reason
    out_of_range: Counter = field(default_factory=Counter)  # (attribute, value as written) -> items
    images: Counter = field(default_factory=Counter)  # DeepFashion2 split -> images read
    without_items: int = 0  # files with no item1..itemN (valid; such an image joins no subset)
    without_pair_id: int = 0


def iter_annotation_files(root: Path) -> Iterator[Path]:
    """Every ``*.json`` under ROOT, in sorted order."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".json") and not name.startswith("."):
                yield Path(folder) / name


def _valid(value: Any, key: str) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in VALID[key]


def _written(value: Any) -> str:
    """A value as the table stores it: an integer as its digits, anything else as its JSON text (so '"2"'
    or '2.0' never equals the filter value 2)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else json.dumps(value)


def parse_annotation(data: Any, category_keys: dict[int, str],
                     out_of_range: Counter) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(image fields, items sorted by item number) of one annotation object. Raises BadAnnotation for a
    file the release could not read; counts out-of-range values into ``out_of_range``."""
    if not isinstance(data, dict):
        raise BadAnnotation(f"not a JSON object but {type(data).__name__}")
    items = sorted((int(m.group(1)), k) for k in data if (m := ITEM_KEY.match(str(k))))
    pair_id = data.get("pair_id")
    image = {"df2_source": str(data.get("source", ""))[:20],
             "pair_id": _written(pair_id) if pair_id is not None else ""}
    out = []
    for number, key in items:
        item = data[key]
        if not isinstance(item, dict):
            raise BadAnnotation(f"{key} is not an object")
        missing = [k for k in REQUIRED_ITEM_KEYS if k not in item]
        if missing:
            raise BadAnnotation(f"{key} lacks {', '.join(missing)}")
        for attr in REQUIRED_ITEM_KEYS:
            if not _valid(item[attr], attr):
                out_of_range[(attr, _written(item[attr]))] += 1
        if not _valid(item["category_id"], "category_id"):
            continue  # no class to label it with
        style = item.get("style", 0)
        row = {"item": number, "category_id": item["category_id"], "category": category_keys[item["category_id"]],
               "style": style if isinstance(style, int) and not isinstance(style, bool) else "",
               **{attr: _written(item[attr]) for attr in ATTRIBUTES}}
        out.append(row)
    return image, out


def _image_path(root: Path, annotation: Path) -> tuple[str, str]:
    """(image path relative to ROOT, DeepFashion2 split name) for one annotation file."""
    parts = list(annotation.relative_to(root).parts)
    if len(parts) >= 2 and parts[-2] == "annos":
        split = parts[-3] if len(parts) >= 3 else ""
        parts[-2] = "image"
    else:
        split = ""
    parts[-1] = annotation.stem + ".jpg"
    return "/".join(parts), split


def _read(path: Path) -> Any:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise BadAnnotation(f"larger than {MAX_JSON_BYTES} bytes")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise BadAnnotation(f"not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise BadAnnotation(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc


def ingest(root: Path) -> IngestResult:
    """Read every annotation file under ``root`` into item rows; bad files are recorded, never raised."""
    from curation.taxonomy import builtin_class_set

    root = Path(root).resolve()
    category_keys = {c.logit_index: c.key for c in builtin_class_set("dfr")}
    result = IngestResult()
    for path in iter_annotation_files(root):
        result.files += 1
        rel = path.relative_to(root).as_posix()
        try:
            image, items = parse_annotation(_read(path), category_keys, result.out_of_range)
        except (BadAnnotation, OSError) as exc:
            result.bad_files[rel] = str(exc)[:200]
            continue
        image_path, split = _image_path(root, path)
        result.images[split] += 1
        result.without_items += not items
        result.without_pair_id += image["pair_id"] == ""
        for item in items:
            result.rows.append({"image": image_path, "df2_split": split, **image, **item})
    log.info("ingested %d items from %d files (%d bad)", len(result.rows), result.files, len(result.bad_files))
    return result


def write_items(result: IngestResult, out: Path) -> Path:
    """Write the item table as CSV or Parquet (by ``out``'s suffix), sorted by image and item."""
    import pandas as pd

    frame = pd.DataFrame(result.rows, columns=list(COLUMNS)).sort_values(["image", "item"], kind="stable")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".parquet", ".pq"):
        frame.astype(str).to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False, lineterminator="\n")
    return out
