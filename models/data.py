"""Datasets over frozen exports: (image, target, metadata) per manifest row, read through ``splits.frozen``.

Models never touch the database. An export is checked against its ``SHA256SUMS`` before a run; a
small cache keyed by file size and mtime makes the second check of an unchanged export cheap.
Several training exports are concatenated with labels aligned by class KEY (``classes.csv``), so
the ImageFolder pitfall (each folder numbering its own sub-folders) cannot happen.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from curation.errors import CurateError
from splits.containers import read_member
from splits.frozen import CONTAINER_SEP, ExportError, FrozenExport, ManifestRow, read_export, read_sums, sha256_file, verify

log = logging.getLogger(__name__)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def cache_dir() -> Path:
    return Path(os.environ.get("CURATE_CACHE_DIR") or Path.home() / ".cache" / "curate")


def open_export(root: Path | str, check: bool = True) -> FrozenExport:
    """Read an export (a folder, or an object-store URL whose images then stream); with ``check``, refuse it
    unless every file matches ``SHA256SUMS`` (remotely: all present, each image checked as it streams)."""
    from splits.remote import check_remote, is_url, open_remote_export

    if is_url(root):
        try:
            export = open_remote_export(str(root))
            if check:
                check_remote(str(root))
        except ExportError as exc:
            raise CurateError(str(exc)) from exc
        return export
    root = Path(root)
    try:
        export = read_export(root)
        if check:
            verify_cached(root)
    except ExportError as exc:
        raise CurateError(str(exc)) from exc
    return export


def verify_cached(root: Path) -> int:
    """Verify ``root`` against SHA256SUMS, rehashing only files whose size or mtime changed since
    the last successful check. Returns the number of files hashed."""
    root = Path(root).resolve()
    structure = verify(root, rehash=False)
    if not structure.ok:
        raise ExportError(f"{root} fails verification (missing {structure.missing[:3]}, extra "
                          f"{structure.extra[:3]}, inconsistent {structure.inconsistent[:3]}); "
                          "re-export it or run: curate verify")
    sums = read_sums(root)
    key = hashlib.sha256(f"{root}\0{sha256_file(root / 'SHA256SUMS')}".encode()).hexdigest()[:32]
    cache_file = cache_dir() / "verified" / f"{key}.json"
    try:
        seen = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        seen = {}
    stamps, hashed, altered = {}, 0, []
    for rel, digest in sums.items():
        st = (root / rel).stat()
        stamp = [st.st_size, st.st_mtime_ns]
        if seen.get(rel) != stamp:
            hashed += 1
            if sha256_file(root / rel) != digest:
                altered.append(rel)
                continue
        stamps[rel] = stamp
    if altered:
        raise ExportError(f"{root}: {len(altered)} file(s) differ from SHA256SUMS (e.g. {altered[0]}); "
                          "the export was altered: re-export it")
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")  # several ranks may verify at once
    tmp.write_text(json.dumps(stamps))
    os.replace(tmp, cache_file)
    log.info("verified %s: %d files, %d hashed", root, len(sums), hashed)
    return hashed


@dataclass(frozen=True)
class ClassInfo:
    key: str
    name: str
    logit_index: int | None = None


def aligned_classes(exports: Sequence[FrozenExport]) -> list[ClassInfo]:
    """The union of the exports' classes by key: the first export's order, then new keys in order."""
    out: dict[str, ClassInfo] = {}
    for export in exports:
        for c in sorted(export.classes, key=lambda c: c.index):
            out.setdefault(c.key, ClassInfo(c.key, c.name, c.logit_index))
    return list(out.values())


@dataclass(frozen=True)
class Item:
    path: Path  # the file, or for webdataset/parquet exports the container holding the image
    labels: tuple[int, ...]
    row: ManifestRow
    export: str
    root: Path | str | None = None  # a str: the URL of an export in an object store (images stream from it)

    def read_bytes(self) -> bytes:
        if isinstance(self.root, str):
            from splits.remote import read_remote_member

            return read_remote_member(self.root, self.row.path, self.row.sha256 or None)
        if CONTAINER_SEP in self.row.path and self.root is not None:
            return read_member(self.root, self.row.path)
        return self.path.read_bytes()

    def open(self):
        from PIL import Image

        if isinstance(self.root, str) or (CONTAINER_SEP in self.row.path and self.root is not None):
            return Image.open(io.BytesIO(self.read_bytes()))
        return Image.open(self.path)


def collect_items(exports: Sequence[FrozenExport], subsets: Sequence[str] | None,
                  classes: Sequence[ClassInfo]) -> list[Item]:
    """Rows of the given subsets (all when None) of every export, with labels as indices into ``classes``."""
    index = {c.key: i for i, c in enumerate(classes)}
    items = []
    for export in exports:
        rows = export.rows if subsets is None else [r for s in subsets for r in export.subset(s)]
        for row in rows:
            unknown = [k for k in row.labels if k not in index]
            if unknown:
                raise CurateError(f"{export.root}: image {row.path} has class {unknown[0]!r}, which the model "
                                  "does not know; evaluate with a model trained on these classes")
            items.append(Item(export.image_path(row), tuple(index[k] for k in row.labels), row,
                              str(export.info.get("name") or export.root.name), export.location or export.root))
    return items


def load_rgb(source: "Path | Item", draft: int | None = None):
    """Decode an image (a path or an Item) as RGB at full resolution; ``draft`` lets the JPEG decoder scale
    down (DCT) to no less than that size on both sides (faster, but not the pixels a full decode gives)."""
    from PIL import Image

    img = source.open() if isinstance(source, Item) else Image.open(source)
    if draft and img.format == "JPEG":
        img.draft("RGB", (draft, draft))
    if img.mode == "RGB" and img.format == "JPEG":  # convert() would copy the decoded pixels for nothing
        img.load()
        return img
    return img.convert("RGB")


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The per-sample generator: a pure function of (seed, epoch, index), so resume is exact."""
    return np.random.default_rng([seed, epoch, index])


class ExportDataset:
    """A map-style dataset: ``ds[i]`` is (views, target, i); views is a tuple of tensors (uint8 or float)."""

    def __init__(self, items: Sequence[Item], n_classes: int, transform: Callable[[Any, np.random.Generator], Any],
                 multi_label: bool = False, seed: int = 0, draft: int | None = None, with_targets: bool = True,
                 lazy: bool = False):
        """``lazy``: hand the transform the opened, undecoded image (it decodes, e.g. with a crop-aware draft)."""
        self.items, self.n_classes, self.transform = list(items), n_classes, transform
        self.with_targets, self.lazy = with_targets, lazy
        self.multi_label, self.seed, self.draft = multi_label, seed, draft

    def __len__(self) -> int:
        return len(self.items)

    def target(self, i: int):
        import torch

        labels = self.items[i].labels
        if not self.with_targets:
            return 0
        if self.multi_label:
            t = torch.zeros(self.n_classes)
            t[list(labels)] = 1.0
            return t
        return labels[0] if len(labels) == 1 else -1

    def __getitem__(self, key: int):
        epoch, i = divmod(key, len(self.items))  # EpochSampler encodes the epoch (persistent workers)
        img = self.items[i].open() if self.lazy else load_rgb(self.items[i], self.draft)
        views = self.transform(img, sample_rng(self.seed, epoch, i))
        return tuple(to_tensor(v) for v in (views if isinstance(views, tuple) else (views,))), self.target(i), i


def to_tensor(img: Any):
    """PIL -> uint8 CHW tensor (normalisation happens on the device); tensors pass through."""
    import torch

    if isinstance(img, torch.Tensor):
        return img
    arr = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


class EpochSampler:
    """Deterministic order per (seed, epoch), sharded across DDP ranks, able to start mid-epoch."""

    def __init__(self, n: int, shuffle: bool, seed: int = 0, rank: int = 0, world: int = 1, drop_last: bool = False):
        self.n, self.shuffle, self.seed, self.rank, self.world = n, shuffle, seed, rank, world
        self.drop_last, self.epoch, self.start = drop_last, 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """``start``: how many of this rank's samples were already consumed (resume mid-epoch)."""
        self.epoch, self.start = epoch, start

    def order(self) -> list[int]:
        idx = np.random.default_rng([self.seed, self.epoch, 7]).permutation(self.n) if self.shuffle \
            else np.arange(self.n)
        per_rank = self.n // self.world if self.drop_last else -(-self.n // self.world)
        total = per_rank * self.world
        idx = np.resize(idx, total) if total > self.n else idx[:total]
        return idx[self.rank:total:self.world].tolist()

    def __iter__(self):
        """Keys ``epoch * n + index``: datasets recover the epoch from the key, so DataLoader workers
        that persist across epochs still draw each sample's augmentation from (seed, epoch, index)."""
        offset = self.epoch * self.n
        return iter([offset + i for i in self.order()[self.start:]])

    def __len__(self) -> int:
        return len(self.order()) - self.start


def collate(batch: list):
    """Stack each view; keep the dataset indices (for metadata lookup)."""
    import torch

    n_views = len(batch[0][0])
    views = [torch.stack([b[0][v] for b in batch]) for v in range(n_views)]
    targets = batch[0][1]
    targets = torch.stack([b[1] for b in batch]) if isinstance(targets, torch.Tensor) \
        else torch.tensor([b[1] for b in batch])
    return views, targets, torch.tensor([b[2] for b in batch])


def make_loader(dataset: ExportDataset, batch_size: int, sampler: EpochSampler, workers: int, pin: bool,
                drop_last: bool = False):
    """A DataLoader with workers and pinned memory where asked."""
    import torch

    kwargs: dict[str, Any] = {}
    if workers > 0:
        kwargs.update(persistent_workers=True, prefetch_factor=4)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                                       pin_memory=pin, collate_fn=collate, drop_last=drop_last, **kwargs)


def to_device_batch(x, device, mean=IMAGENET_MEAN, std=IMAGENET_STD, channels_last: bool = False,
                    batch_transforms: Sequence[Callable] = (), generator=None):
    """uint8 or [0,1] float batch -> normalised float on ``device``; batch transforms act on [0,1] before
    normalisation."""
    import torch

    x = x.to(device, non_blocking=True)
    x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
    for fn in batch_transforms:
        x = fn(x, generator)
    m = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=device).view(1, 3, 1, 1)
    x = (x - m) / s
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x
