"""The YAML header of an export's README.md that Hugging Face ``datasets`` reads.

``datasets.load_dataset(DIR)`` on a plain folder knows only ``train``/``test``-like folder names, so
an export's OOD subsets would silently vanish. The ``configs:`` header lists every subset as its own
split, with the files that hold it. Hugging Face split names are words joined by dots, so a subset
name's other characters (``-``) become ``_``; the card says which split is which subset.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

_NOT_WORD = re.compile(r"[^A-Za-z0-9_.]")
_HF_LICENSE = re.compile(r"^(cc-by(-sa|-nc|-nd|-nc-sa|-nc-nd)?-(2\.0|2\.5|3\.0|4\.0)"
                         r"|cc0-1\.0|mit|apache-2\.0|odbl|pddl)$")


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


def hf_license(value: str) -> str:
    """A license as a Hugging Face license id (``CC-BY-2.0`` -> ``cc-by-2.0``); ``other`` if it has none."""
    lid = re.sub(r"[\s_]+", "-", str(value).strip().lower())
    return lid if _HF_LICENSE.match(lid) else "other"


def size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < bound:
            return name
    return "10M<n<100M"


def features(fmt: str, layout: str, meta_cols: Sequence[str]) -> list[tuple[str, str]]:
    """(column, Hugging Face type) as ``datasets.load_dataset`` yields them; none for webdataset,
    whose columns follow the members' extensions."""
    prov = ("source", "source_id", "url", "owner", "license")
    if fmt == "imagefolder":
        cols = [("image", "image"), ("label", "string"), ("labels", "sequence"), ("sha256", "string"),
                ("subset", "string"), *((c, "string") for c in prov)]
    elif fmt == "parquet":
        cols = [("image", "image"), ("sha256", "string"), ("label", "string"), ("labels", "sequence"),
                ("subset", "string"), *((c, "string") for c in prov)]
    elif fmt == "csv":
        cols = [(c, "string") for c in ("path", "sha256", "label", "labels", "subset", *prov)]
    else:
        return []
    return cols + [(c, "string") for c in meta_cols]


def yaml_header(fmt: str, layout: str, subsets: Sequence[str], counts: Mapping[str, int] | None = None,
                licenses: Sequence[str] = (), meta_cols: Sequence[str] = ()) -> str:
    """The README's YAML front matter (plain YAML, no library needed): license, task category, size
    category, ``configs:`` listing every subset as a split and, where ``counts`` is given,
    ``dataset_info`` with the features and the examples per split."""
    lines = ["---"]
    if counts is not None:
        ids = sorted({hf_license(x) for x in licenses}) or ["other"]
        lines += ["license:", *(f"- {x}" for x in ids), "task_categories:", "- image-classification",
                  "size_categories:", f"- {size_category(sum(counts.values()))}"]
    lines += ["configs:", "- config_name: default", "  data_files:"]
    for subset in sorted(subsets):
        lines.append(f"  - split: {hf_split_name(subset)}")
        files = data_files(fmt, layout, subset)
        if len(files) == 1:
            lines.append(f"    path: \"{files[0]}\"")
        else:
            lines.append("    path:")
            lines.extend(f"    - \"{f}\"" for f in files)
    if counts is not None:
        lines += _dataset_info(features(fmt, layout, meta_cols), counts)
    return "\n".join(lines) + "\n---\n\n"


def _dataset_info(cols: Sequence[tuple[str, str]], counts: Mapping[str, int]) -> list[str]:
    lines = ["dataset_info:", "  config_name: default"]
    if cols:
        lines.append("  features:")
        for name, kind in cols:
            lines.append(f"  - name: \"{name}\"")
            lines.append("    sequence: string" if kind == "sequence" else f"    dtype: {kind}")
    lines.append("  splits:")  # num_bytes (of the Arrow cache) is unknown here; datasets checks the counts
    for subset in sorted(counts):
        lines += [f"  - name: {hf_split_name(subset)}", f"    num_bytes: 0", f"    num_examples: {counts[subset]}"]
    return lines
