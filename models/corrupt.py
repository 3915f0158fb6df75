"""``curate corrupt``: an ImageNet-C style copy of an export, as a new frozen export.

As ImageNet-C was made: each image is resized (shorter side 256) and centre-cropped (224), then every
corruption is applied at every severity and saved as JPEG quality 85, at
``<corruption>/<severity>/<class>/<source sha256>.jpg`` (one file per manifest row, even where two
corruptions give identical bytes); rows carry ``corruption``, ``severity`` and the source
image's hash as metadata. Evaluation then uses the images at this stored size (no extra resize).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from curation.errors import CurateError
from models.corruptions import CORRUPTION_FUNCTIONS, backend, corrupt, frost_files
from models.data import Item, load_rgb, open_export
from models.transforms import EvalTransform
from splits.frozen import SUMS, ClassEntry, ExportError, ManifestRow, list_files, read_export, safe_relpath, write_metadata

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
    stem: str = ""


def run_job(job: Job) -> tuple[int, list[tuple[ManifestRow, str | None]]]:
    """Corrupt one source image every way asked: (job index, rows); per-item failures come back as reasons."""
    try:
        img = EvalTransform(job.resize, job.crop)(load_rgb(Item(Path(job.src), (), job.row, "", Path(job.root))))
    except (OSError, KeyError) as exc:
        return job.index, [(job.row, f"unreadable: {exc}")]
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
            rel = f"{name}/{severity}/{label}/{job.stem or digest}.jpg"  # unique per row, even for equal bytes
            path = Path(job.out_root) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            meta = dict(job.row.metadata, corruption=name, severity=str(severity), source_sha256=job.row.sha256)
            out.append((ManifestRow(rel, digest, job.row.subset, job.row.labels, job.row.source, job.row.source_id,
                                    job.row.url, job.row.owner, job.row.license, meta), None))
    return job.index, out


def make_corrupted_export(src: Path, out: Path, subsets: Sequence[str] | None = None,
                          corruptions: Sequence[str] | None = None, severities: Sequence[int] = (1, 2, 3, 4, 5),
                          seed: int = 0, resize: int = 256, crop: int = 224, quality: int = 85,
                          frost_dir: Path | None = None, workers: int | None = None) -> Iterator[int]:
    """Write the corrupted export; yields progress (source images done). Returns through StopIteration.

    Work goes to a hidden staging folder beside ``out`` and each finished source image is logged, so a
    killed run resumes where it stopped; ``SHA256SUMS`` is written last and the folder renamed into place.
    """
    from curation.locks import file_lock
    from curation.parallel import map_unordered

    export = open_export(src)
    corruptions = tuple(corruptions or CORRUPTION_FUNCTIONS)
    bad = [c for c in corruptions if c not in CORRUPTION_FUNCTIONS]
    if bad:
        raise ValueError(f"unknown corruption {bad[0]!r}; valid names: {', '.join(CORRUPTION_FUNCTIONS)}")
    if any(s not in range(1, 6) for s in severities):
        raise CurateError(f"severities must be 1-5, got {list(severities)}")
    if export.multi_label:
        raise CurateError("ImageNet-C style corruption is defined for single-label exports")
    out = Path(out).resolve()
    chosen = list(subsets) if subsets else [s for s in export.subsets() if s != "train"] or export.subsets()
    rows = [r for s in chosen for r in export.subset(s)]
    params = {"source_manifest_sha256": export.manifest_sha256(), "subsets": chosen, "corruptions": list(corruptions),
              "severities": list(severities), "seed": seed, "resize": resize, "crop": crop, "jpeg_quality": quality,
              "frost_dir": str(frost_dir) if frost_dir else None}
    if out.exists() and any(out.iterdir()):
        if _finished(out, params):
            _progress_path(out).unlink(missing_ok=True)
            return len(read_export(out).rows)
        raise CurateError(f"{out} exists and is not empty; choose a new folder for the corrupted export")
    lock = out.with_name(f".{out.name}.lock")
    with file_lock(lock, "curate corrupt", str(out)):  # two runs into one folder would mix their logs
        staging, done = _open_staging(out, params)
        stems = _stems(rows)
        jobs = [Job(i, str(export.image_path(r)), str(export.root), r, str(staging), corruptions, tuple(severities),
                    seed, resize, crop, quality, str(frost_dir) if frost_dir else None, stems[i])
                for i, r in enumerate(rows) if i not in done]
        yield len(rows) - len(jobs) if done else 0
        with open(_progress_path(out), "a", encoding="utf-8") as log_file:
            for index, result in map_unordered(run_job, jobs, workers=workers):
                done[index] = result
                log_file.write(json.dumps({"i": index, "r": [[asdict(row), reason] for row, reason in result]})
                               + "\n")
                log_file.flush()
                yield 1
        new_rows, failures = _collect(done)
        _finish(export, out, staging, new_rows, failures, params, frost_dir)
    lock.unlink(missing_ok=True)
    return len(new_rows)


def _stems(rows: Sequence[ManifestRow]) -> list[str]:
    """One file stem per source row: its sha256, plus the subset where one image is in several subsets."""
    counts = Counter(r.sha256 for r in rows)
    stems = [r.sha256 if counts[r.sha256] == 1 else f"{r.sha256}-{safe_relpath(r.subset)}" for r in rows]
    seen = Counter(stems)
    return [stem if seen[stem] == 1 and stem else f"{stem}-{i:06d}" for i, stem in enumerate(stems)]


def _progress_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.progress.jsonl")


def _open_staging(out: Path, params: dict) -> tuple[Path, dict[int, list]]:
    """The staging folder and the results already logged there (a fresh start if there is none)."""
    staging, progress = out.with_name(f".{out.name}.partial"), _progress_path(out)
    logged, done = _read_log(progress) if staging.exists() else (None, {})
    if logged is not None:
        if logged != params:
            raise CurateError(f"{staging} holds an interrupted corruption run with other options; rerun it with "
                              f"the same options to finish it, or delete {staging} and {progress}")
        log.info("resuming: %d source images already corrupted in %s", len(done), staging)
        return staging, done
    if staging.exists():  # its log never got its first line: nothing in it was finished
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    progress.write_text(json.dumps({"params": params}) + "\n", encoding="utf-8")
    return staging, {}


def _read_log(progress: Path) -> tuple[dict | None, dict[int, list]]:
    """(options, finished results) of a progress log; (None, {}) where it is missing or its first line torn."""
    try:
        lines = progress.read_text(encoding="utf-8", errors="replace").splitlines()
        params = json.loads(lines[0])["params"] if lines else None
    except (OSError, ValueError, KeyError, TypeError):
        return None, {}
    done: dict[int, list] = {}
    for line in lines[1:]:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the line being written when the run was killed: that image is redone
        done[entry["i"]] = [(_row(row), reason) for row, reason in entry["r"]]
    return params, done


def _row(data: dict) -> ManifestRow:
    return ManifestRow(**{**data, "labels": tuple(data["labels"])})


def _collect(done: dict[int, list]) -> tuple[list[ManifestRow], dict[str, int]]:
    new_rows: list[ManifestRow] = []
    failures: Counter[str] = Counter()
    for index in sorted(done):
        for row, reason in done[index]:
            if reason:
                failures[reason.split(":")[0]] += 1
            else:
                new_rows.append(row)
    return new_rows, dict(failures)


def _finished(out: Path, params: dict) -> bool:
    """True when ``out`` is a complete corrupted export made with ``params`` (a rerun has nothing to do)."""
    try:
        info = read_export(out).info
    except ExportError:
        return False
    return (out / SUMS).exists() and info.get("kind") == "imagenet-c" and info.get("params") == params


def _finish(export, out: Path, staging: Path, new_rows: list[ManifestRow], failures: dict[str, int], params: dict,
            frost_dir: Path | None) -> None:
    """Drop files no logged row names (a killed job's), write the metadata and SHA256SUMS, rename into place."""
    keep = {r.path for r in new_rows}
    for rel in list_files(staging, skip_tmp=False):
        if rel not in keep:
            (staging / rel).unlink()
    frost = "imagecorruptions" if frost_files(frost_dir) else "procedural"
    corruptions, severities = params["corruptions"], params["severities"]
    info = {"name": f"{export.info.get('name', export.root.name)}-c", "kind": "imagenet-c",
            "source_export": export.info.get("name", export.root.name),
            "source_manifest_sha256": params["source_manifest_sha256"], "corruptions": corruptions,
            "severities": severities, "seed": params["seed"], "resize": params["resize"], "crop": params["crop"],
            "jpeg_quality": params["jpeg_quality"], "frost_texture": frost, "implementation": backend(frost_dir),
            "failures": failures, "multi_label": False, "params": params}
    card = (f"# {info['name']}\n\nImageNet-C style corruptions of `{info['source_export']}` "
            f"({len(corruptions)} corruptions x severities {severities}), made by `curate corrupt` "
            f"(Resize {params['resize']}, CenterCrop {params['crop']}, JPEG q{params['jpeg_quality']}, "
            f"seed {params['seed']}, frost texture: {frost}).\n")
    classes = [ClassEntry(c.index, c.key, c.name, c.logit_index) for c in export.classes]
    write_metadata(staging, info, classes, new_rows, card)
    if out.exists():
        out.rmdir()  # an empty folder the user made beforehand
    os.replace(staging, out)
    _progress_path(out).unlink(missing_ok=True)
