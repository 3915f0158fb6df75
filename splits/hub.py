"""The YAML header of an export's README.md that Hugging Face ``datasets`` reads.

``datasets.load_dataset(DIR)`` on a plain folder knows only ``train``/``test``-like folder names, so
an export's OOD subsets would silently vanish. The ``configs:`` header lists every subset as its own
split, with the files that hold it. Hugging Face split names are words joined by dots, so a subset
name's other characters (``-``) become ``_``; the card says which split is which subset.
"""

from __future__ import annotations

import re
from typing import Sequence

_NOT_WORD = re.compile(r"[^A-Za-z0-9_.]")


def hf_split_name(subset: str) -> str:
    name = _NOT_WORD.sub("_", subset).strip(".")
    return name if name and not name[0].isdigit() else f"s_{name}"


def data_files(fmt: str, layout: str, subset: str) -> list[str]:
    """The glob(s) of the files of one subset, relative to the export."""
    if fmt == "imagefolder":
        return ["*/*", "metadata.jsonl"] if layout == "class" else [f"{subset}/**"]
    if fmt == "webdataset":
        return [f"{subset}/*.tar"]
    if fmt == "parquet":
        return [f"{subset}.parquet"]
    return [f"{subset}.csv"]


def yaml_header(fmt: str, layout: str, subsets: Sequence[str]) -> str:
    """``---\\nconfigs: ...\\n---`` listing every subset as a split (plain YAML, no library needed)."""
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for subset in sorted(subsets):
        lines.append(f"  - split: {hf_split_name(subset)}")
        files = data_files(fmt, layout, subset)
        if len(files) == 1:
            lines.append(f"    path: \"{files[0]}\"")
        else:
            lines.append("    path:")
            lines.extend(f"    - \"{f}\"" for f in files)
    return "\n".join(lines) + "\n---\n\n"
