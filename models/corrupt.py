"""``curate corrupt``: an ImageNet-C style copy of an export, as a new frozen export.

As ImageNet-C was made: each image is resized (shorter side 256) and centre-cropped (224), then every
corruption is applied at every severity and saved as JPEG quality 85, at
``<corruption>/<severity>/<class>/<sha256>.jpg``; rows carry ``corruption``, ``severity`` and the source
image's hash as metadata. Evaluation then uses the images at this stored size (no extra resize).
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from curation.errors import CurateError
from models.corruptions import CORRUPTION_FUNCTIONS, backend, corrupt, frost_files
from models.data import Item, load_rgb, open_export
from models.transforms import EvalTransform
from splits.frozen import ClassEntry, ManifestRow, safe_relpath, write_metadata

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    index: int
    src: str
    root: str
    row: ManifestRow
    out_root: str
    corruptions: tuple[str, ...]
    severities: tuple[int, ...]
    seed: int
    resize: int
    crop: int
    quality: int
    frost_dir: str | None


def run_job(job: Job) -> list[tuple[ManifestRow, str | None]]:
    """Corrupt one source image every way asked; per-item failures come back as reasons."""
    try:
        img = EvalTransform(job.resize, job.crop)(load_rgb(Item(Path(job.src), (), job.row, "", Path(job.root))))
    except (OSError, KeyError) as exc:
        return [(job.row, f"unreadable: {exc}")]
    out = []
    label = safe_relpath(job.row.labels[0] if job.row.labels else "unlabelled")
    for ci, name in enumerate(job.corruptions):
        for severity in job.severities:
            rng = np.random.default_rng([job.seed, job.index, ci, severity])
            buf = io.BytesIO()
            corrupt(img, name, severity, rng, Path(job.frost_dir) if job.frost_dir else None) \
                .save(buf, "JPEG", quality=job.quality)
            data = buf.getvalue()
            digest = hashlib.sha256(data).hexdigest()
            rel = f"{name}/{severity}/{label}/{digest}.jpg"
            path = Path(job.out_root) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            meta = dict(job.row.metadata, corruption=name, severity=str(severity), source_sha256=job.row.sha256)
            out.append((ManifestRow(rel, digest, job.row.subset, job.row.labels, job.row.source, job.row.source_id,
                                    job.row.url, job.row.owner, job.row.license, meta), None))
    return out


def make_corrupted_export(src: Path, out: Path, subsets: Sequence[str] | None = None,
                          corruptions: Sequence[str] | None = None, severities: Sequence[int] = (1, 2, 3, 4, 5),
                          seed: int = 0, resize: int = 256, crop: int = 224, quality: int = 85,
                          frost_dir: Path | None = None, workers: int | None = None) -> Iterator[int]:
    """Write the corrupted export; yields progress (source images done). Returns through StopIteration."""
    from curation.parallel import map_unordered

    export = open_export(src)
    corruptions = tuple(corruptions or CORRUPTION_FUNCTIONS)
    bad = [c for c in corruptions if c not in CORRUPTION_FUNCTIONS]
    if bad:
        raise ValueError(f"unknown corruption {bad[0]!r}; valid names: {', '.join(CORRUPTION_FUNCTIONS)}")
    if any(s not in range(1, 6) for s in severities):
        raise CurateError(f"severities must be 1-5, got {list(severities)}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise CurateError(f"{out} exists and is not empty; choose a new folder for the corrupted export")
    if export.multi_label:
        raise CurateError("ImageNet-C style corruption is defined for single-label exports")
    chosen = list(subsets) if subsets else [s for s in export.subsets() if s != "train"] or export.subsets()
    rows = [r for s in chosen for r in export.subset(s)]
    jobs = [Job(i, str(export.image_path(r)), str(export.root), r, str(out), corruptions, tuple(severities), seed, resize, crop,
                quality, str(frost_dir) if frost_dir else None) for i, r in enumerate(rows)]
    new_rows: list[ManifestRow] = []
    failures: dict[str, int] = {}
    for result in map_unordered(run_job, jobs, workers=workers):
        for row, reason in result:
            if reason:
                failures[reason.split(":")[0]] = failures.get(reason.split(":")[0], 0) + 1
            else:
                new_rows.append(row)
        yield len(result)
    frost = "imagecorruptions" if frost_files(frost_dir) else "procedural"
    info = {"name": f"{export.info.get('name', export.root.name)}-c", "kind": "imagenet-c",
            "source_export": export.info.get("name", export.root.name), "source_manifest_sha256":
            export.manifest_sha256(), "corruptions": list(corruptions), "severities": list(severities),
            "seed": seed, "resize": resize, "crop": crop, "jpeg_quality": quality, "frost_texture": frost, "implementation": backend(frost_dir),
            "failures": failures, "multi_label": False}
    card = (f"# {info['name']}\n\nImageNet-C style corruptions of `{info['source_export']}` "
            f"({len(corruptions)} corruptions x severities {list(severities)}), made by `curate corrupt` "
            f"(Resize {resize}, CenterCrop {crop}, JPEG q{quality}, seed {seed}, frost texture: {frost}).\n")
    classes = [ClassEntry(c.index, c.key, c.name, c.logit_index) for c in export.classes]
    write_metadata(out, info, classes, new_rows, card)
    return len(new_rows)
