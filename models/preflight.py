"""Everything an evaluation can refuse, checked before a model is built: the sets are exports with those
subsets, the model can score their classes, and the results folder holds no evaluation this one would
silently replace. Reads export descriptions and, at most, a weights file; never builds a model.

Sets are keyed ``PREFIX:SUBSET`` where PREFIX is the export's folder name (``@`` and its manifest hash
added when another export of that folder name is already in the results), so several exports of one
split (its ImageNet-R layout, webdataset and Parquet copies) are never merged into one set."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from curation.errors import CurateError
from models.summary import parse_set
from splits.frozen import ExportError, FrozenExport

log = logging.getLogger(__name__)
RESULTS = "results.json"
COMPARED = ("resize", "crop", "squash", "decode", "precision")


class ResultsClash(CurateError):
    """The results folder holds an evaluation that this one would replace."""


@dataclass
class PlannedExport:
    root: Path
    subsets: list[str] | None
    export: FrozenExport
    prefix: str
    keys: list[str]


@dataclass
class Plan:
    exports: list[PlannedExport]
    previous: dict = field(default_factory=dict)
    kept: dict[str, dict] = field(default_factory=dict)  # earlier sets this evaluation adds to


def read_set(spec: str) -> tuple[Path, list[str] | None, FrozenExport]:
    """One EXPORT[:SUBSET,...] argument as an export description (no checksums); a clear error otherwise."""
    from splits.remote import read_export_at

    root, subsets = parse_set(spec)
    if isinstance(root, Path) and not root.exists():
        raise CurateError(f"{root} does not exist; give the folder of a frozen export (made by curate export)")
    try:
        export = read_export_at(root)
    except ExportError as exc:
        raise CurateError(str(exc)) from exc
    missing = [s for s in subsets or [] if s not in export.subsets()]
    if missing:
        raise CurateError(f"{root} has no subset {missing[0]!r}; its subsets are {', '.join(export.subsets())}")
    return root, subsets, export


def export_prefix(export: FrozenExport, sets: dict[str, dict], taken: dict[str, str]) -> str:
    """The folder name, unless a different export (another path) already uses it in ``sets`` or ``taken``
    (prefix -> path); then folder@manifest-hash."""
    path, name = export.location or str(Path(export.root).resolve()), Path(export.root).name
    used = {**{k.rsplit(":", 1)[0]: r.get("path") for k, r in sets.items()}, **taken}
    if used.get(name, path) == path:
        return name
    return f"{name}@{export.manifest_sha256()[:8]}"


def plan_evaluation(specs: Sequence[str], out: Path, weights: str, settings: dict, overwrite: bool = False,
                    check: bool = True) -> Plan:
    """Read every set, decide its keys and check them against ``out/results.json``; with ``check``, verify
    each export against its SHA256SUMS. Raises ``CurateError`` (``ResultsClash``) before any model work."""
    from models.evalsets import set_groups

    previous, kept = earlier_results(Path(out), weights, settings, overwrite)
    planned, taken = [], {}
    for spec in specs:
        root, subsets, export = read_set(spec)
        prefix = export_prefix(export, kept, taken)
        taken[prefix] = export.location or str(Path(export.root).resolve())
        keys = [f"{prefix}:{suffix}" for suffix, _, _ in set_groups(export, subsets)]
        planned.append(PlannedExport(root, subsets, export, prefix, keys))
    keys = [k for p in planned for k in p.keys]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise CurateError(f"set {twice[0]} is named twice in --sets; give each export and subset once")
    clash = [k for k in keys if k in kept]
    if clash and not overwrite:
        raise ResultsClash(f"{out} already holds results for {', '.join(clash[:3])}"
                           f"{' ...' if len(clash) > 3 else ''}; give another --out, or --overwrite to replace them")
    for key in clash:
        kept.pop(key)
    plan = Plan(planned, previous, kept)
    if check:
        verify_plan(plan)
    return plan


def verify_plan(plan: Plan) -> None:
    """Refuse an export whose files differ from its SHA256SUMS (hashing only what changed since the last check)."""
    from models.data import verify_cached
    from splits.remote import check_remote

    for p in plan.exports:
        try:
            check_remote(p.root) if isinstance(p.root, str) else verify_cached(p.root)
        except ExportError as exc:
            raise CurateError(str(exc)) from exc


def earlier_results(out: Path, weights: str, settings: dict, overwrite: bool) -> tuple[dict, dict[str, dict]]:
    """(earlier results.json, its sets) when this evaluation may add to them: the same weights and the same
    settings. A different evaluation there is refused unless ``overwrite``, which discards it and its files."""
    from models.runs import read_json

    path = out / RESULTS
    if not path.exists():
        return {}, {}
    previous = read_json(path)
    before = {**previous.get("preprocessing", {}), "precision": previous.get("precision", "fp32")}
    differ = [k for k in COMPARED if k in before and k in settings and before[k] != settings[k]]
    if previous.get("weights") == weights and not differ:
        return previous, dict(previous.get("sets", {}))
    why = (f"weights {previous.get('weights')!r}, not {weights!r}" if previous.get("weights") != weights else
           ", ".join(f"{k} {before[k]!r}, not {settings[k]!r}" for k in differ))
    if not overwrite:
        raise ResultsClash(f"{out} already holds an evaluation with {why}; give another --out, or --overwrite "
                           "to replace it")
    for res in previous.get("sets", {}).values():
        for rel in (res.get("predictions"), res.get("confusion")):
            if rel and (out / rel).is_file():
                (out / rel).unlink()
    log.info("replacing the evaluation in %s (%s)", out, why)
    return {}, {}


def check_heads(plan: Plan, n_outputs: int | None, model_classes: Sequence[dict] | None) -> None:
    """Can a model with ``n_outputs`` outputs (and, for a curate checkpoint, these classes) score every set?"""
    from models.evalsets import head_for

    if not n_outputs:
        return
    for p in plan.exports:
        head = head_for(p.export.classes, n_outputs, model_classes)
        rows = p.export.rows if p.subsets is None else [r for r in p.export.rows if r.subset in p.subsets]
        unknown = sorted({k for r in rows for k in r.labels} - set(head.position))
        if unknown:
            raise CurateError(f"{p.root}: the model has no output for class(es) {unknown[:5]}; evaluate a model "
                              "trained on these classes")


def weights_outputs(arch: str | None, source: Any) -> tuple[int | None, list[dict] | None]:
    """(classifier outputs, curate checkpoint classes) read from the weights without building a model:
    a file's last 2-D weight, torchvision weights' category list; (None, None) when unknown (timm names)."""
    from models.registry import classifier_outputs, clean_state_dict, is_named_weights, read_weights

    if is_named_weights(source):
        kind, _, tag = str(source).partition(":")
        if kind != "torchvision" or not arch:
            return None, None
        from models.registry import _torchvision_weights

        categories = _torchvision_weights(arch, tag).meta.get("categories")
        return (len(categories) if categories else None), None
    raw = read_weights(source)
    ours = isinstance(raw, dict) and raw.get("format") == "curate-checkpoint"
    return classifier_outputs(clean_state_dict(raw)), (raw.get("classes") if ours else None)
