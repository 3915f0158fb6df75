"""Static DeepAugment: a distorted copy of every image of an export, written as a new frozen export.

As released: EDSR takes the image resized to shorter side 128 and writes the x4 output (shorter side
512); the CAE takes shorter side 512. Each image is saved as JPEG (quality 75, PIL's default, as the
released ``.JPEG`` names did) at the same relative path as its source, so the output has the same
``classes.csv`` and every label stays aligned with the clean export (no ImageFolder label shift).

Work is split into shards of consecutive images. A shard is a unit of work for the local pool or Ray
(``curation.parallel.map_unordered``); its result is recorded in a progress folder beside the output
(``.<out>.deepaugment-progress``). A killed run resumes with the shards not yet recorded; a shard
that was half written is redone, deterministically, over the same file names, so nothing is
duplicated. Source and output may be folders or object-store URLs (``s3://...``): workers then read
the source images and write their outputs (one PUT each) in the store themselves, and only manifest rows
come back to the driver; the progress folder then lives in the driver's cache. Each shard follows the released schedule: a perturbed network drawn from its own
generator (seeded by run seed and shard index), replaced before each image with probability 0.05,
activation distortions drawn per image. Images of equal size run through the batched path.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator

from curation.errors import CurateError
from curation.objstore import is_url, join, read_bytes, write_bytes
from splits import frozen
from splits.remote import read_export_at

log = logging.getLogger(__name__)
SIDES = {"edsr": 128, "cae": 512}
JPEG_QUALITY = 75


@dataclass(frozen=True)
class GenerateConfig:
    method: str
    weights: str
    subset: str = "train"
    seed: int = 0
    faithful: bool = True
    resample: float = 0.05
    side: int | None = None
    shard_size: int = 64
    batch: int = 8
    device: str = "cpu"
    precision: str = "fp32"  # what the networks compute in: fp32 (as released), bf16, auto (bf16 on a GPU)

    @property
    def in_side(self) -> int:
        return self.side or SIDES[self.method]


@dataclass
class GenerateResult:
    out: Path | str
    written: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    shards_run: int = 0
    shards_skipped: int = 0


def progress_dir(out: Path | str) -> Path:
    if is_url(out):  # an object-store output: the driver keeps its progress records locally
        from splits.remote import metadata_cache

        cache = metadata_cache(str(out))
        return cache.with_name(f"{cache.name}.deepaugment-progress")
    out = Path(out)
    return out.parent / f".{out.name}.deepaugment-progress"


def _name(export: frozen.FrozenExport) -> str:
    return str(export.info.get("name") or (export.location or str(export.root)).rstrip("/").rsplit("/", 1)[-1])


def _fingerprint(cfg: GenerateConfig, source: frozen.FrozenExport, weights_sha: str) -> dict[str, Any]:
    keep = {k: v for k, v in asdict(cfg).items() if k not in ("batch", "device", "shard_size", "weights")}
    return {**keep, "shard_size": cfg.shard_size, "weights_sha256": weights_sha,
            "source_manifest_sha256": source.manifest_sha256()}


def generate(cfg: GenerateConfig, source_root: Path | str, out: Path | str, *, ray: str | None = None,
             workers: int | None = None, on_shard: Callable[[dict[str, Any]], None] | None = None) -> GenerateResult:
    """Distort every image of ``cfg.subset`` of the export at ``source_root`` into the export ``out``."""
    from curation.parallel import map_unordered

    if cfg.method not in SIDES:
        raise CurateError(f"unknown method {cfg.method!r}; use one of: {', '.join(SIDES)}")
    source = read_export_at(source_root)
    rows = sorted(source.subset(cfg.subset), key=lambda r: r.path)
    if any(frozen.CONTAINER_SEP in r.path for r in rows):
        raise CurateError(f"{source_root} is a webdataset/parquet export; DeepAugment copies images of an "
                          "imagefolder or csv export: export the split again with --format imagefolder")
    out = str(out).rstrip("/") if is_url(out) else Path(out)
    progress = progress_dir(out)
    fingerprint = _fingerprint(cfg, source, _weights_sha256(cfg.weights))
    done = _open_progress(progress, out, fingerprint)
    shards = [rows[i:i + cfg.shard_size] for i in range(0, len(rows), cfg.shard_size)]
    result = GenerateResult(out, shards_skipped=len(done))
    jobs = [dict(index=i, rows=[_row_dict(r) for r in shard], config=asdict(cfg),
                 source=source.location or str(source.root),
                 out=str(out), workers=workers or 1)
            for i, shard in enumerate(shards) if i not in done and -1 not in done]
    options = {"num_gpus": 1} if cfg.device.startswith("cuda") else None
    for shard in map_unordered(run_shard, jobs, workers=workers, ray=ray, ray_options=options):
        if on_shard is not None:
            on_shard(shard)
        frozen.write_text(progress / f"shard-{shard['index']:06d}.json", json.dumps(shard, sort_keys=True))
        done[shard["index"]] = shard
        result.shards_run += 1
    _finish(cfg, source, out, done, fingerprint, result)
    return result


def _weights_sha256(weights: str) -> str:
    if is_url(weights):
        return hashlib.sha256(read_bytes(weights)).hexdigest()
    return frozen.sha256_file(Path(weights))


def _open_progress(progress: Path, out: Path | str, fingerprint: dict[str, Any]) -> dict[int, dict[str, Any]]:
    config_file = progress / "config.json"
    finished, occupied = _out_state(out)
    if config_file.exists():
        if json.loads(config_file.read_text()) != fingerprint:
            raise CurateError(f"{out} holds an unfinished generation with other settings (see {config_file}); "
                              "re-run with those settings, or choose another --out")
    elif finished is not None:
        if finished.get("deepaugment") != fingerprint:
            raise CurateError(f"{out} already holds an export made with other settings; choose another --out")
    elif occupied:
        raise CurateError(f"{out} is not empty and holds no generation of ours; choose another --out")
    frozen.write_text(config_file, json.dumps(fingerprint, sort_keys=True))
    done = {}
    for path in sorted(progress.glob("shard-*.json")):
        shard = json.loads(path.read_text())
        done[int(shard["index"])] = shard
    if not done and finished is not None:
        export = read_export_at(out)
        done[-1] = {"index": -1, "rows": [_row_dict(r) for r in export.rows], "failed": export.info.get("failed", [])}
    return done


def _out_state(out: Path | str) -> tuple[dict[str, Any] | None, bool]:
    """(export.json of a finished export at ``out``, or None; whether ``out`` holds anything at all)."""
    if is_url(out):
        from curation.objstore import filesystem

        fs, base = filesystem(str(out))
        meta = f"{base.rstrip('/')}/{frozen.META}"
        if fs.exists(meta):
            return json.loads(fs.cat_file(meta)), True
        return None, bool(fs.exists(base) and fs.find(base))
    out = Path(out)
    if (out / frozen.META).exists():
        return json.loads((out / frozen.META).read_text()), True
    return None, out.exists() and any(out.iterdir())


def _row_dict(row: frozen.ManifestRow) -> dict[str, Any]:
    return {"path": row.path, "sha256": row.sha256, "subset": row.subset, "labels": list(row.labels),
            "source": row.source, "source_id": row.source_id, "url": row.url, "owner": row.owner,
            "license": row.license, "metadata": dict(row.metadata)}


def _finish(cfg: GenerateConfig, source: frozen.FrozenExport, out: Path | str, done: dict[int, dict[str, Any]],
            fingerprint: dict[str, Any], result: GenerateResult) -> None:
    import shutil

    rows = {}
    for shard in done.values():
        for r in shard["rows"]:
            rows[r["path"]] = frozen.ManifestRow(r["path"], r["sha256"], r["subset"], tuple(r["labels"]), r["source"],
                                                 r["source_id"], r["url"], r["owner"], r["license"], r["metadata"])
        result.failed += [tuple(f) for f in shard["failed"]]
    result.written = len(rows)
    info = {"name": f"{_name(source)}-deepaugment-{cfg.method}", "source": _name(source), "deepaugment": fingerprint,
            "multi_label": source.multi_label, "seed": cfg.seed,
            "failed": sorted([list(f) for f in result.failed])}
    card = (f"# {info['name']}\n\nDeepAugment ({cfg.method.upper()}) copies of the `{cfg.subset}` subset of "
            f"`{info['source']}` (manifest sha256 {fingerprint['source_manifest_sha256']}), made by "
            f"`curate deepaugment generate` with seed {cfg.seed}, faithful={cfg.faithful}, re-sampling rate "
            f"{cfg.resample}, precision {cfg.precision}. Labels and classes.csv are the source's. {len(result.failed)} images failed.\n")
    if is_url(out):
        _finish_remote(str(out), info, source.classes, list(rows.values()), card)
    else:
        frozen.write_metadata(out, info, source.classes, list(rows.values()), card)
    shutil.rmtree(progress_dir(out), ignore_errors=True)


def _finish_remote(out: str, info: dict[str, Any], classes: list, rows: list[frozen.ManifestRow], card: str) -> None:
    """Write the metadata files locally, list the images (already in the store) in SHA256SUMS by their
    manifest digests, and upload the metadata with SHA256SUMS last."""
    import tempfile

    from splits.remote import upload

    with tempfile.TemporaryDirectory(prefix="curate-deepaugment-") as tmp:
        local = Path(tmp)
        frozen.write_metadata(local, info, classes, rows, card)
        sums = {**frozen.read_sums(local), **{r.path: r.sha256 for r in rows}}
        frozen.write_text(local / frozen.SUMS, "".join(f"{sums[k]}  {k}\n" for k in sorted(sums)))
        upload(local, out)


# ---- one shard (runs in a worker process or a Ray task) ------------------------------------------

def run_shard(job: dict[str, Any]) -> dict[str, Any]:
    """Distort one shard's images; returns its manifest rows and per-image failures (never raises per image)."""
    import torch

    from models.deepaugment.augment import _checked
    from models.deepaugment.distortions import ResamplingChain
    from models.deepaugment.weights import read_state_dict

    cfg = GenerateConfig(**job["config"])
    if job["workers"] > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // job["workers"]))
    device = torch.device(cfg.device)
    g = torch.Generator(device).manual_seed(cfg.seed * 1_000_003 + job["index"])
    clean = {k: v.to(device) for k, v in _checked(cfg.method, read_state_dict(cfg.weights)).items()}
    chain = ResamplingChain(cfg.method, clean, g, cfg.faithful, cfg.resample)
    items, failed = _load_all(job, cfg, device)
    _draw(items, chain, cfg, g)
    rows = []
    for batch in _buckets(items, cfg.batch):
        rows += _distort_and_save(batch, cfg, g, job["out"], failed)
    return {"index": job["index"], "rows": rows, "failed": failed}


def _load_all(job: dict[str, Any], cfg: GenerateConfig, device: Any) -> tuple[list[dict[str, Any]], list]:
    from curation.images import probe

    items, failed = [], []
    for row in job["rows"]:
        try:  # a file of a folder export, or an object of one in a store (read by this worker)
            data = read_bytes(join(job["source"], frozen.safe_relpath(row["path"])))
        except OSError as exc:
            failed.append((row["path"], f"unreadable: {exc}"))
            continue
        checked = probe(data)
        if not checked.ok:
            failed.append((row["path"], checked.reason or "not-an-image"))
            continue
        items.append({"row": row, "x": _to_tensor(data, cfg.in_side, cfg.method).to(device)})
    return items, failed


def resized_size(width: int, height: int, side: int) -> tuple[int, int]:
    """torchvision ``Resize(side)``: the shorter side becomes ``side``, the longer ``int(side * long / short)``
    (truncated, so 500x375 at 128 is 170x128)."""
    if width <= height:
        return side, int(side * height / width)
    return int(side * width / height), side


def _to_tensor(data: bytes, side: int, method: str) -> Any:
    """As released: RGB, ``Resize(side)`` (PIL bilinear), ``ToTensor`` (uint8 / 255), (1, 3, H, W). The CAE
    takes any size (its output is 4 * (H // 4) by 4 * (W // 4), as released)."""
    import numpy as np
    import torch
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("RGB")
        size = resized_size(*img.size, side)
        if size != img.size:  # torchvision leaves an image whose shorter side is already ``side`` alone
            img = img.resize(size, Image.BILINEAR)
        arr = np.asarray(img, dtype=np.uint8)
    return (torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div(255)).unsqueeze(0).contiguous()


def _draw(items: list[dict[str, Any]], chain: Any, cfg: GenerateConfig, g: Any) -> None:
    """The released order: per image, maybe a new network (p 0.05), then its activation draws."""
    from models.deepaugment.batched import draw_images

    for item, (state, act) in zip(items, draw_images(cfg.method, chain, [i["x"] for i in items], g, cfg.faithful)):
        item["state"], item["act"] = state, act


def _buckets(items: list[dict[str, Any]], batch: int) -> Iterator[list[dict[str, Any]]]:
    by_size: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for item in items:
        by_size.setdefault(tuple(item["x"].shape[-2:]), []).append(item)
    for group in by_size.values():
        for i in range(0, len(group), max(1, batch)):
            yield group[i:i + batch]


def _distort_and_save(batch: list[dict[str, Any]], cfg: GenerateConfig, g: Any, out: str,
                      failed: list) -> list[dict[str, Any]]:
    import torch

    from models.deepaugment.batched import run_batched

    with torch.no_grad():
        y = run_batched(cfg.method, [i["state"] for i in batch], torch.cat([i["x"] for i in batch]), g,
                        cfg.faithful, acts=[i["act"] for i in batch], precision=cfg.precision)
    rows = []
    for item, img in zip(batch, y):
        if not bool(torch.isfinite(img).all()):
            failed.append((item["row"]["path"], "non-finite output"))
            continue
        rows.append(_save(item["row"], img, cfg, out))
    return rows


def to_uint8(img: Any) -> Any:
    """An image in [0, 1] (3, H, W) as an (H, W, 3) uint8 array the way ``to_pil_image`` makes it:
    times 255, truncated (not rounded)."""
    return (img.clamp(0, 1) * 255).byte().permute(1, 2, 0).cpu().numpy()


def _save(row: dict[str, Any], img: Any, cfg: GenerateConfig, out: str) -> dict[str, Any]:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(to_uint8(img)).save(buf, format="JPEG", quality=JPEG_QUALITY)
    data = buf.getvalue()
    rel = PurePosixPath(frozen.safe_relpath(row["path"])).with_suffix(".jpg").as_posix()
    write_bytes(join(out, rel), data)  # a temporary file renamed into place, or one PUT to an object store
    meta = {**row["metadata"], "augmented_from": row["sha256"]}
    return {**row, "path": rel, "sha256": hashlib.sha256(data).hexdigest(), "source": f"deepaugment-{cfg.method}",
            "source_id": row["path"], "metadata": meta}
