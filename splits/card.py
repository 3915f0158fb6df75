"""The dataset card (README.md of an export): counts per subset, class and attribute, the license
breakdown, refusals, and an attribution list crediting every owner. Owner names, titles and URLs
are untrusted: they are escaped for Markdown, stripped of control characters and capped."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any, Mapping, Sequence

from splits.frozen import ClassEntry, ManifestRow

# escaped where they could start formatting, a link, HTML or a table cell; '.', '-', '(' ... stay readable
MD_SPECIAL = re.compile(r"([\\`*\[\]|<>~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
LINE_START = re.compile(r"^([#+\-=])")
ORDERED = re.compile(r"^(\d+)([.)])")
CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
MAX_TEXT = 200


def md(text: Any, limit: int = MAX_TEXT, block: bool = False) -> str:
    """Untrusted text as inert Markdown: one line, capped, every special character escaped; ``block``:
    the text starts a line of its own, so a leading '#', '-' or '1.' is escaped too."""
    value = CONTROL.sub(" ", str(text)).strip()
    if len(value) > limit:
        value = value[:limit - 1] + "…"
    value = MD_SPECIAL.sub(r"\\\1", value)
    return ORDERED.sub(r"\1\\\2", LINE_START.sub(r"\\\1", value)) if block else value


def safe_url(url: str) -> str:
    """An http(s) URL usable in a Markdown link, or '' (javascript:, data: and the like are dropped)."""
    url = CONTROL.sub("", str(url)).strip()
    if not re.match(r"^https?://[^\s<>\"']+$", url) or len(url) > 500:
        return ""
    return url.replace("(", "%28").replace(")", "%29").replace("[", "%5B").replace("]", "%5D")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _owner_line(owner: str, name: str, source: str, count: int, licenses: set[str]) -> str:
    shown = md(name or owner)
    link = safe_url(f"https://www.flickr.com/people/{owner}/") if source == "flickr" and owner else ""
    who = f"[{shown}]({link})" if link else shown
    return f"- {who} ({md(source)}): {count} image(s), license {', '.join(md(x) for x in sorted(licenses))}"


def render_card(info: Mapping[str, Any], classes: Sequence[ClassEntry], rows: Sequence[ManifestRow],
                owner_names: Mapping[tuple[str, str], str], attributes: Sequence[str],
                refused: Mapping[str, int], header: str = "", labels_section: str = "") -> str:
    """The README.md text; a pure function of its inputs, so re-exports are byte-identical.

    ``header``: the YAML front matter (Hugging Face ``configs:``); ``labels_section``: how to map each
    loader's targets to a model's outputs."""
    subsets = sorted({r.subset for r in rows})
    description = f"{md(info.get('description', ''), 2000, block=True)}\n" if info.get("description") else ""
    out = [header, f"# {md(info['name'])}\n\n", description,
           "\n## About this export\n\n",
           _table(["field", "value"], [("split", md(info["split"])), ("format", info["format"]),
                                       ("class set", md(info["class_set"])), ("seed", info["seed"]),
                                       ("spec sha256", f"`{info['spec_sha256']}`"),
                                       ("tool", f"curate {md(info['tool_version'])}"),
                                       ("multi-label", "yes" if info.get("multi_label") else "no")]),
           "\nThe export is frozen: `curate verify DIR` recomputes every checksum in `SHA256SUMS` and checks "
           "`manifest.csv`. A changed export is a new version in a new folder.\n",
           "\n## Images per subset\n\n", _table(["subset", "images"],
                                            [(md(s), sum(r.subset == s for r in rows)) for s in subsets])]
    out += ["\n## Images per class and subset\n\n", _class_table(classes, rows, subsets), labels_section]
    for attr in attributes:
        out += [f"\n## Images per {md(attr)} and subset\n\n", _attr_table(attr, rows, subsets)]
    licenses = Counter(r.license or "unknown" for r in rows)
    out += ["\n## Licenses\n\n", _table(["license", "images"], [(md(k), v) for k, v in sorted(licenses.items())])]
    if refused:
        out += ["\n## Refused images\n\n", "Images of the split that this export leaves out, by reason:\n\n",
                _table(["reason", "images"], [(md(k), v) for k, v in sorted(refused.items())])]
    out += _included_rejected(info)
    out += ["\n## Attribution\n\n", _attribution(rows, owner_names)]
    return "".join(out)


def _included_rejected(info: Mapping[str, Any]) -> list[str]:
    """The override that kept images the filters or reviews rejected, said where no reader can miss it."""
    kept = dict(info.get("included_rejected") or {})
    screening = (info.get("build") or {}).get("screening") or {}
    if not kept and not screening.get("include_rejected"):
        return []
    total = sum(kept.values())
    return ["\n## Rejected images included by override\n\n",
            f"**This export contains {total} image(s) that curate's filters or reviews rejected** (duplicates, "
            "reference-set copies, bad quality or rejected labels): the split was built with "
            "`include_rejected = true` (`--include-rejected`). By reason:\n\n",
            _table(["reason", "images"], [(md(k), v) for k, v in sorted(kept.items())]) if kept else "(none found)\n"]


def _class_table(classes: Sequence[ClassEntry], rows: Sequence[ManifestRow], subsets: Sequence[str]) -> str:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        for label in row.labels:
            counts[label][row.subset] += 1
    body = [(c.index, f"`{md(c.key)}`", md(c.name), *(counts[c.key][s] for s in subsets)) for c in classes
            if counts[c.key]]
    return _table(["index", "key", "name", *(md(s) for s in subsets)], body)


def _attr_table(attr: str, rows: Sequence[ManifestRow], subsets: Sequence[str]) -> str:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        counts[row.metadata.get(attr, "")][row.subset] += 1
    return _table([md(attr), *(md(s) for s in subsets)],
                  [(md(v) or "(none)", *(c[s] for s in subsets)) for v, c in sorted(counts.items())])


def _attribution(rows: Sequence[ManifestRow], owner_names: Mapping[tuple[str, str], str]) -> str:
    per_owner: dict[tuple[str, str], set[str]] = defaultdict(set)
    images: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in rows:
        if row.owner:
            per_owner[(row.source, row.owner)].add(row.license or "unknown")
            images[(row.source, row.owner)].add(row.sha256)
    if not per_owner:
        return "No image in this export names an owner.\n"
    lines = ["Photographs by the following owners, under the licenses shown:\n"]
    for key in sorted(per_owner):
        lines.append(_owner_line(key[1], owner_names.get(key, ""), key[0], len(images[key]), per_owner[key]))
    return "\n".join(lines) + "\n"
