"""Copying images into an export while hashing them: one read per file, parallel threads.

hashlib and file I/O release the GIL, so a thread pool overlaps reads, hashing and writes. With
``link`` the export hard-links the source (no write at all) where the file system allows and still
hashes the bytes, so every checksum in the export is computed, never assumed.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

CHUNK = 1 << 22


@dataclass(frozen=True)
class CopyJob:
    src: str
    dest: str
    expected: str = ""  # sha256 the source must have ("" = unknown)


@dataclass(frozen=True)
class CopyResult:
    job: CopyJob
    sha256: str = ""
    n_bytes: int = 0
    error: str = ""


def _hash_file(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _copy_hashing(src: str, dest: str) -> tuple[str, int]:
    """One pass: read a block, hash it, write it (raw file descriptors: no buffered-IO objects)."""
    digest = hashlib.sha256()
    size = 0
    fd_in = os.open(src, os.O_RDONLY)
    try:
        fd_out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            while block := os.read(fd_in, CHUNK):
                digest.update(block)
                view = memoryview(block)
                while view:
                    view = view[os.write(fd_out, view):]
                size += len(block)
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)
    return digest.hexdigest(), size


def copy_one(job: CopyJob, link: bool = False) -> CopyResult:
    """Copy (or link) one file, hashing its bytes; a failure comes back as data."""
    try:
        if link:
            try:
                os.link(job.src, job.dest)
            except OSError:
                return copy_one(job, link=False)
            digest, size = _hash_file(job.dest)
        else:
            digest, size = _copy_hashing(job.src, job.dest)
    except FileNotFoundError:
        return CopyResult(job, error="missing: the source file does not exist")
    except OSError as exc:
        return CopyResult(job, error=f"unreadable: {exc.strerror or exc}")
    if job.expected and digest != job.expected:
        os.unlink(job.dest)
        return CopyResult(job, error="altered: the source's sha256 differs from the recorded one")
    return CopyResult(job, digest, size)


def read_one(job: CopyJob) -> tuple[CopyJob, bytes | None, str, str]:
    """(job, bytes, sha256, error) for writers that pack files into containers."""
    try:
        data = Path(job.src).read_bytes()
    except FileNotFoundError:
        return job, None, "", "missing: the source file does not exist"
    except OSError as exc:
        return job, None, "", f"unreadable: {exc.strerror or exc}"
    digest = hashlib.sha256(data).hexdigest()
    if job.expected and digest != job.expected:
        return job, None, "", "altered: the source's sha256 differs from the recorded one"
    return job, data, digest, ""


def default_threads() -> int:
    return min(32, 4 * (os.cpu_count() or 1))


def copy_all(jobs: Sequence[CopyJob], link: bool = False, threads: int | None = None,
             advance: Callable[[int], None] | None = None) -> list[CopyResult]:
    """Copy every job (destination folders are created first); results in job order."""
    for folder in sorted({os.path.dirname(j.dest) for j in jobs}):
        os.makedirs(folder, exist_ok=True)
    chunks = [jobs[start:start + 64] for start in range(0, len(jobs), 64)]  # fewer futures, less overhead
    results: list[CopyResult] = []
    with ThreadPoolExecutor(threads or default_threads()) as pool:
        for chunk in pool.map(lambda c: [copy_one(j, link) for j in c], chunks):
            results.extend(chunk)
            if advance:
                advance(len(chunk))
    return results


def read_all(jobs: Iterable[CopyJob], threads: int | None = None):
    """Read and hash jobs in parallel, yielding in job order (bounded memory via map's ordering)."""
    jobs = list(jobs)
    with ThreadPoolExecutor(threads or default_threads()) as pool:
        for start in range(0, len(jobs), 256):
            yield from pool.map(read_one, jobs[start:start + 256])
