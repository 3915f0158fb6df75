"""``croissant.json``: the export described in MLCommons Croissant 1.0 (JSON-LD).

What it says: the distribution (the manifest, class list and card with their sha256, and the image
files or containers as a file set — each image's own sha256 is a column of the manifest), a
``splits`` record set (one record per subset), an ``images`` record set read from ``manifest.csv``
(path, sha256, split, label, per-image license, owner, source, URL and every metadata column), a
``classes`` record set, creators (every credited owner), the citation, and the Responsible-AI fields
the workspace can fill: how the data was collected (sources, the spec's queries), how it was
labelled and screened (the build report), and the known limitations.

A pure function of the export's contents, so re-exports stay byte-identical (no dates that change).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any, Mapping, Sequence

from splits.frozen import CORE_COLUMNS, ClassEntry, ManifestRow, classes_text, manifest_text

CONFORMS_TO = "http://mlcommons.org/croissant/1.0"
CONTEXT: dict[str, Any] = {
    "@language": "en", "@vocab": "https://schema.org/", "citeAs": "cr:citeAs", "column": "cr:column",
    "conformsTo": "dct:conformsTo", "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/", "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"}, "dct": "http://purl.org/dc/terms/",
    "examples": {"@id": "cr:examples", "@type": "@json"}, "extract": "cr:extract", "field": "cr:field",
    "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject", "fileSet": "cr:fileSet",
    "format": "cr:format", "includes": "cr:includes", "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath", "key": "cr:key", "md5": "cr:md5", "parentField": "cr:parentField",
    "path": "cr:path", "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex",
    "repeated": "cr:repeated", "replace": "cr:replace", "samplingRate": "cr:samplingRate",
    "equivalentProperty": "cr:equivalentProperty", "sc": "https://schema.org/",
    "separator": "cr:separator", "source": "cr:source", "subField": "cr:subField", "transform": "cr:transform",
}
IMAGE_GLOBS = {"imagefolder": ["**/*.jpg", "**/*.jpeg", "**/*.png", "**/*.webp"],
               "csv": ["**/*.jpg", "**/*.jpeg", "**/*.png", "**/*.webp"],
               "webdataset": ["**/*.tar"], "parquet": ["*.parquet"]}
LIMITATIONS = (
    "Images come from web searches and user uploads: their content reflects what those sources show, "
    "not the world. Labels are the majority of crowd votes checked against gold questions (or the source "
    "folder where the spec says so) and can be wrong; near-duplicates of the reference sets were screened "
    "by perceptual hashes and embeddings, which miss heavily edited copies. Licenses and owners are as the "
    "source reported them.")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file(name: str, text: str, fmt: str) -> dict[str, Any]:
    return {"@type": "cr:FileObject", "@id": name, "name": name, "contentUrl": name,
            "encodingFormat": fmt, "sha256": _sha(text)}


def _column(record: str, name: str, column: str, source: str = "manifest.csv") -> dict[str, Any]:
    return {"@type": "cr:Field", "@id": f"{record}/{name}", "name": name, "dataType": "sc:Text",
            "source": {"fileObject": {"@id": source}, "extract": {"column": column}}}


def _record_sets(rows: Sequence[ManifestRow]) -> list[dict[str, Any]]:
    subsets = sorted({r.subset for r in rows})
    meta_cols = sorted({k for r in rows for k in r.metadata})
    splits = {"@type": "cr:RecordSet", "@id": "splits", "name": "splits", "dataType": "cr:Split",
              "description": "The subsets of the export (in-distribution and out-of-distribution test sets).",
              "key": {"@id": "splits/name"},
              "field": [{"@type": "cr:Field", "@id": "splits/name", "name": "name", "dataType": "sc:Text"}],
              "data": [{"splits/name": s} for s in subsets]}
    fields = [_column("images", c, c) for c in CORE_COLUMNS if c != "subset"]
    split_field = _column("images", "split", "subset")
    split_field["references"] = {"field": {"@id": "splits/name"}}
    fields.insert(2, split_field)
    fields += [_column("images", f"meta_{c}", c) for c in meta_cols]
    images = {"@type": "cr:RecordSet", "@id": "images", "name": "images",
              "description": "One record per image: its file (path relative to the export, or its container "
                             "member), sha256, split, label(s), per-image license and owner, and metadata.",
              "key": {"@id": "images/sha256"}, "field": fields}
    classes = {"@type": "cr:RecordSet", "@id": "classes", "name": "classes",
               "description": "The class list, in the order of the model's outputs.",
               "field": [_column("classes", c, c, "classes.csv") for c in ("index", "key", "name", "logit_index")]}
    return [splits, images, classes]


def _creators(rows: Sequence[ManifestRow], owner_names: Mapping[tuple[str, str], str]) -> list[dict[str, Any]]:
    owners = sorted({(r.source, r.owner) for r in rows if r.owner})
    people = []
    for source, owner in owners:
        person: dict[str, Any] = {"@type": "sc:Person", "name": owner_names.get((source, owner)) or owner,
                                  "identifier": f"{source}:{owner}"}
        if source == "flickr":
            person["url"] = f"https://www.flickr.com/people/{owner}/"
        people.append(person)
    return people


def _collection(info: Mapping[str, Any], rows: Sequence[ManifestRow], found: Mapping[str, Any] | None) -> str:
    sources = Counter(r.source or "unknown" for r in rows)
    text = "Images by source: " + ", ".join(f"{k} {v}" for k, v in sorted(sources.items())) + "."
    spec = info.get("spec") or {}
    queries = sorted({str(q) for key in ("queries", "query") for q in _as_list(spec.get(key))})
    if queries:
        text += " Spec queries: " + "; ".join(queries) + "."
    if found and found.get("queries"):
        shown = [f"{q['source']} \"{q['query']}\" ({q['images']} images, found {q['first_found']} to "
                 f"{q['last_found']})" for q in found["queries"]]
        more = found["n_queries"] - len(shown)
        tail = f"; and {more} more" if more > 0 else ""
        text += " Search queries that found them: " + "; ".join(shown) + tail + "."
    if found and found.get("uploaded"):
        text += f" Uploaded between {found['uploaded'][0]} and {found['uploaded'][1]}."
    return text


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _annotation(info: Mapping[str, Any], labelling: Mapping[str, Any] | None) -> str:
    build = info.get("build") or {}
    parts = []
    if labelling and labelling.get("votes"):
        parts.append(f"Crowd labelling: {labelling['hits']} HITs (grids of candidates for one class with hidden "
                     f"gold; {labelling['gold_items_in_those_hits']} gold items), {labelling['workers']} workers, "
                     f"{labelling['votes']} votes, mean agreement with the majority "
                     f"{labelling['mean_majority_agreement']}.")
    if labelling and labelling.get("reviews"):
        parts.append(f"Expert review by {labelling['reviewers']} reviewer(s): "
                     + ", ".join(f"{k} {v}" for k, v in labelling["reviews"].items()) + ".")
    for key in ("screening", "dropped", "held_out"):
        if build.get(key):
            shown = json.dumps(build[key], sort_keys=True, default=str)
            parts.append(f"{key.replace('_', ' ').capitalize()}: {shown}")
    if info.get("refused"):
        parts.append("Refused at export: " + json.dumps(info["refused"], sort_keys=True))
    return " ".join(parts) or "Labels as recorded in the workspace (no crowd votes or reviews for these images)."


def croissant_text(info: Mapping[str, Any], classes: Sequence[ClassEntry], rows: Sequence[ManifestRow],
                   card: str, owner_names: Mapping[tuple[str, str], str] | None = None,
                   facts: Mapping[str, Any] | None = None) -> str:
    """The ``croissant.json`` text of an export (deterministic: sorted keys, no timestamps);
    ``facts``: the workspace's collection and labelling facts (``splits.rai.workspace_facts``)."""
    fmt = str(info["format"])
    licenses = sorted({r.license or "unknown" for r in rows})
    name = str(info["name"])
    doc: dict[str, Any] = {
        "@context": CONTEXT, "@type": "sc:Dataset", "conformsTo": CONFORMS_TO, "name": name,
        "description": str(info.get("description") or f"{name}: an image classification benchmark built with curate."),
        "license": licenses, "url": f"https://huggingface.co/datasets/{name}", "version": "1.0.0",
        "citeAs": f"@misc{{{name.replace('-', '_')}, title={{{name}}}, note={{built with curate "
                  f"{info.get('tool_version', '')}, spec sha256 {info.get('spec_sha256', '')}}}}}",
        "creator": _creators(rows, owner_names or {}),
        "keywords": ["image classification", "distribution shift", "robustness"],
        "distribution": [_file("manifest.csv", manifest_text(rows), "text/csv"),
                         _file("classes.csv", classes_text(classes), "text/csv"),
                         _file("README.md", card, "text/markdown"),
                         {"@type": "cr:FileSet", "@id": "image-files", "name": "image-files",
                          "encodingFormat": "application/x-tar" if fmt == "webdataset" else (
                              "application/x-parquet" if fmt == "parquet" else "image/jpeg"),
                          "includes": IMAGE_GLOBS[fmt]}],
        "recordSet": _record_sets(rows),
        "rai:dataCollection": _collection(info, rows, (facts or {}).get("collection")),
        "rai:dataCollectionType": "Web scraping and curator uploads",
        "rai:dataAnnotationProtocol": _annotation(info, (facts or {}).get("labelling")),
        "rai:dataLimitations": LIMITATIONS,
        "rai:personalSensitiveInformation": "Photographs may show people; no identities are labelled.",
        "rai:dataUseCases": "Evaluating image classifiers under distribution shift (test only, not training).",
    }
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
