"""DeepFashion2 ingestion for DeepFashion Remixed: annotation folders -> one table row per item.

A DeepFashion2 folder holds ``<split>/annos/NNNNNN.json`` beside ``<split>/image/NNNNNN.jpg``. Each
file is one image: ``source`` and ``pair_id`` belong to the image; ``item1`` .. ``itemN`` (in any key
order) are its clothing items with category, style, scale, occlusion, zoom_in and viewpoint. A file
that cannot be read is recorded with its reason and counted, never raised.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)
ITEM_KEY = re.compile(r"^item(\d+)$")
MAX_JSON_BYTES = 20 * 1024 * 1024
RANGES = {"scale": (1, 3), "occlusion": (1, 3), "zoom_in": (1, 3), "viewpoint": (1, 3), "category_id": (1, 13)}
COLUMNS = ("image", "df2_split", "df2_source", "pair_id", "item", "category_id", "category", "style", "scale",
           "occlusion", "zoom_in", "viewpoint")


@dataclass
class IngestResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    files: int = 0
    rejected: dict[str, str] = field(default_factory=dict)  # relative file -> reason


def iter_annotation_files(root: Path) -> Iterator[Path]:
    """Every ``*.json`` under a folder named ``annos`` (or under ROOT itself), in sorted order."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".json") and not name.startswith("."):
                yield Path(folder) / name


def _int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} is {value!r}, not an integer")
    low, high = RANGES.get(key, (0, 1 << 31))
    if not low <= value <= high:
        raise ValueError(f"{key} is {value}, outside {low}-{high}")
    return value


def parse_annotation(data: Any, category_keys: dict[int, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(image fields, items sorted by item number) of one annotation object; ValueError names the fault."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    items = sorted(((int(m.group(1)), k) for k in data if (m := ITEM_KEY.match(str(k)))))
    if not items:
        raise ValueError("no item1..itemN keys")
    if "pair_id" not in data:
        raise ValueError("no pair_id")
    image = {"df2_source": str(data.get("source", ""))[:20], "pair_id": _int(data["pair_id"], "pair_id")}
    out = []
    for number, key in items:
        item = data[key]
        if not isinstance(item, dict):
            raise ValueError(f"{key} is not an object")
        row = {"item": number}
        for attr in ("category_id", "scale", "occlusion", "zoom_in", "viewpoint"):
            if attr not in item:
                raise ValueError(f"{key} has no {attr}")
            row[attr] = _int(item[attr], attr)
        row["style"] = _int(item.get("style", 0), "style")
        row["category"] = category_keys[row["category_id"]]
        out.append(row)
    return image, out


def _image_path(root: Path, annotation: Path) -> tuple[str, str]:
    """(image path relative to ROOT, DeepFashion2 split name) for one annotation file."""
    rel = annotation.relative_to(root)
    parts = list(rel.parts)
    if len(parts) >= 2 and parts[-2] == "annos":
        split = parts[-3] if len(parts) >= 3 else ""
        parts[-2] = "image"
    else:
        split = ""
    parts[-1] = annotation.stem + ".jpg"
    return "/".join(parts), split


def ingest(root: Path) -> IngestResult:
    """Read every annotation file under ``root`` into item rows."""
    from curation.taxonomy import builtin_class_set

    root = Path(root).resolve()
    category_keys = {c.logit_index: c.key for c in builtin_class_set("dfr")}
    result = IngestResult()
    for path in iter_annotation_files(root):
        result.files += 1
        rel = path.relative_to(root).as_posix()
        try:
            if path.stat().st_size > MAX_JSON_BYTES:
                raise ValueError(f"larger than {MAX_JSON_BYTES} bytes")
            data = json.loads(path.read_text(encoding="utf-8"))
            image, items = parse_annotation(data, category_keys)
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            result.rejected[rel] = str(exc)[:200]
            continue
        image_path, split = _image_path(root, path)
        for item in items:
            result.rows.append({"image": image_path, "df2_split": split, **image, **item})
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
