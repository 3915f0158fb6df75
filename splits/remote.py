"""Exports in an object store: write one locally, then upload it; verify one in place.

An export at a URL (``s3://bucket/exports/svsf-v1``) is written exactly as a folder export (in a local
staging folder beside nothing the user sees), verified, and uploaded file by file with single PUTs:
images and containers first, then ``manifest.csv``/``export.json``, and ``SHA256SUMS`` last, so an export
whose ``SHA256SUMS`` is present is complete. A prefix that already holds objects is refused (exports
are frozen). Images of a remote image store are fetched once into the staging area before writing.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from curation.errors import CurateError
from curation.objstore import filesystem, is_url
from splits.frozen import MANIFEST, META, SUMS, VerifyResult, list_files, read_sums, verify

log = logging.getLogger(__name__)
LAST = (MANIFEST, META, SUMS)  # uploaded in this order after everything else


def check_target(url: str) -> None:
    """Refuse an export URL whose prefix already holds objects."""
    fs, path = filesystem(url)
    if fs.exists(path) and fs.find(path):
        raise CurateError(f"{url} already holds objects and exports are frozen: a changed export is a new "
                          f"version. Write it to a new prefix, e.g. --out {url.rstrip('/')}-v2")


@contextmanager
def staging(out: str | Path) -> Iterator[Path]:
    """A local folder to write the export of ``out`` into (``out`` itself when it is a folder)."""
    if not is_url(out):
        yield Path(out)
        return
    check_target(str(out))
    base = Path(tempfile.mkdtemp(prefix="curate-export-"))
    try:
        yield base / "export"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def upload(local: Path, url: str) -> int:
    """Upload a finished local export to ``url`` (``SHA256SUMS`` last); returns the number of files."""
    fs, base = filesystem(url)
    files = list_files(local)
    order = [f for f in files if f not in LAST] + [f for f in LAST if f in files]
    for rel in order:
        fs.put_file(str(local / rel), f"{base.rstrip('/')}/{rel}")  # one PUT (or a completed multipart)
    log.info("uploaded %d files to %s", len(order), url)
    return len(order)


def fetch_objects(store_url: str, digests: Iterable[str], dest: Path) -> Path:
    """Copy the store objects named by ``digests`` into ``dest`` (same ``ab/cd/<sha>`` layout); returns ``dest``."""
    from curation.store import open_store

    store = open_store(store_url)
    wanted = sorted(set(digests))
    sources = [store.location(d) for d in wanted]
    targets = [str(dest / d[:2] / d[2:4] / d) for d in wanted]
    for target in targets:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    if wanted:
        fs, _ = filesystem(store_url)
        fs.get(sources, targets)
    return dest


def download_export(url: str, dest: Path, only: Iterable[str] | None = None) -> Path:
    """Copy an export (or, with ``only``, some of its files) from ``url`` into the folder ``dest``."""
    fs, base = filesystem(url)
    base = base.rstrip("/")
    names = list(only) if only is not None else [k[len(base) + 1:] for k in fs.find(base)]
    for rel in names:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
    if names:
        fs.get([f"{base}/{rel}" for rel in names], [str(dest / rel) for rel in names])
    return dest


def verify_url(url: str, rehash: bool = True) -> VerifyResult:
    """``frozen.verify`` for an export at a URL: presence from one listing; with ``rehash`` every byte is
    read back (into a temporary folder) and checked exactly as a folder export is."""
    fs, base = filesystem(url)
    base = base.rstrip("/")
    if not fs.exists(f"{base}/{SUMS}"):
        from splits.frozen import ExportError

        raise ExportError(f"{url} has no {SUMS}: it is not a frozen export, or its upload did not finish")
    with tempfile.TemporaryDirectory(prefix="curate-verify-") as tmp:
        local = Path(tmp) / "export"
        if rehash:
            download_export(url, local)
            return verify(local, rehash=True)
        present = sorted(k[len(base) + 1:] for k in fs.find(base))
        download_export(url, local, [n for n in present if n in LAST or n.endswith(".csv") and "/" not in n])
        sums = read_sums(local)
        result = verify(local, rehash=False)
        result.missing = sorted(set(sums) - set(present))
        result.extra = sorted(set(present) - set(sums) - {SUMS})
        result.checked = len(sums)
        return result
