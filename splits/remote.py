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


# ---- reading an export in place (training, evaluation, DeepAugment generation) ---------------------

_INDEX: dict[str, dict[str, tuple[int, int] | bytes]] = {}  # container URL -> member -> (offset, size) or bytes


def metadata_cache(url: str) -> Path:
    """A local folder for what belongs to the export at ``url`` (named by the URL; its last part kept)."""
    import hashlib
    import os

    base = Path(os.environ.get("CURATE_CACHE_DIR") or Path.home() / ".cache" / "curate")
    return base / "remote-exports" / hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:24]


def open_remote_export(url: str):
    """Read the export at ``url``: its metadata is fetched (small files), its images stay in the store and are
    streamed on demand (:func:`read_remote_member`); ``location`` on the result is ``url``, ``root`` the local
    copy of its metadata (named like the export, keyed by its SHA256SUMS, so ranks that open it at once agree)."""
    import hashlib
    import os

    from splits.frozen import CLASSES, ExportError, read_export

    url = url.rstrip("/")
    fs, base = filesystem(url)
    try:
        sums = fs.cat_file(f"{base.rstrip('/')}/{SUMS}")
    except FileNotFoundError:
        raise ExportError(f"{url} has no {SUMS}: it is not a frozen export, or its upload did not finish") from None
    local = metadata_cache(url) / hashlib.sha256(sums).hexdigest()[:16] / url.rsplit("/", 1)[-1]
    if not (local / SUMS).exists():
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".fetch-", dir=local.parent))
        download_export(url, tmp, [META, CLASSES, MANIFEST, SUMS])
        try:
            os.rename(tmp, local)
        except OSError:  # another process (a DDP rank) finished the same copy first
            shutil.rmtree(tmp, ignore_errors=True)
    export = read_export(local)
    export.location = url
    return export


def read_export_at(root: Path | str):
    """A folder export, or one at an object-store URL read in place."""
    from splits.frozen import read_export

    return open_remote_export(str(root)) if is_url(root) else read_export(Path(root))


def check_remote(url: str) -> None:
    """Before training or evaluation: every file of ``SHA256SUMS`` present, the manifest consistent (images
    are checked against their manifest sha256 as they stream)."""
    from splits.frozen import ExportError

    result = verify_url(url, rehash=False)
    if not result.ok:
        raise ExportError(f"{url} fails verification (missing {result.missing[:3]}, extra {result.extra[:3]}, "
                          f"inconsistent {result.inconsistent[:3]}); re-export it or run: curate verify {url}")


def read_remote_member(url: str, path: str, sha256: str | None = None) -> bytes:
    """The bytes of ``path`` (a file, or ``<container>#<member>`` of a tar/parquet shard) of the export at
    ``url``, read with ranged GETs; checked against ``sha256`` (the manifest's) when given."""
    import hashlib

    from splits.containers import SEP
    from splits.frozen import ExportError, safe_relpath

    container, sep, member = path.partition(SEP)
    fs, base = filesystem(url)
    key = f"{base.rstrip('/')}/{safe_relpath(container)}"
    if not sep:
        data = fs.cat_file(key)
    else:
        index = _INDEX.get(key)
        if index is None:
            index = _INDEX[key] = _index_container(fs, key)
        where = index.get(member)
        if where is None:
            raise KeyError(member)
        data = where if isinstance(where, bytes) else fs.cat_file(key, start=where[0], end=where[0] + where[1])
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise ExportError(f"{url}/{path} differs from its manifest sha256: the export was altered; re-export it")
    return data


def _index_container(fs, key: str) -> dict[str, tuple[int, int] | bytes]:
    import tarfile

    with fs.open(key, "rb", block_size=1 << 20) as fh:
        if key.endswith(".tar"):
            with tarfile.open(fileobj=fh, mode="r:") as tar:
                return {m.name: (m.offset_data, m.size) for m in tar.getmembers() if m.isfile()}
        import pyarrow.parquet as pq

        column = pq.read_table(fh, columns=["image"]).column("image").to_pylist()
        return {v["path"]: v["bytes"] for v in column}
