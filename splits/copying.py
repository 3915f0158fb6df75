"""Copying images into an export while hashing them: one read per small file, a few parallel threads.

hashlib and file I/O release the GIL, so a thread pool overlaps reads, hashing and writes; with
small images the cost is system calls, so the pool is sized to the cores (more threads only fight
over the GIL). Reads use a 64 KiB buffer: a larger one (say 4 MiB) is mapped and unmapped by the
allocator on every call, which costs more than reading a small image. With ``link`` the export
hard-links the source (no write at all) where the file system allows and still hashes the bytes, so
every checksum in the export is computed, never assumed.
"""

from __future__ import annotations

import errno
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, NamedTuple, Sequence

BLOCK = 1 << 16
BATCH = 128  # jobs per pool task: fewer futures, less scheduling overhead
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})  # the destination, not the image, failed


class CopyJob(NamedTuple):
    src: str
    dest: str
    expected: str = ""  # sha256 the source must have ("" = unknown)


class CopyResult(NamedTuple):
    job: CopyJob
    sha256: str = ""
    n_bytes: int = 0
    error: str = ""


def _write_all(fd: int, data: bytes) -> None:
    written = os.write(fd, data)
    if written < len(data):
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view):]


def _drain(fd: int, block: bytes, sink: Callable[[bytes], object] | None) -> tuple[str, int]:
    """Hash ``block`` and every further block of ``fd`` up to end of file, passing each to ``sink``."""
    digest = hashlib.sha256()
    size = 0
    while block:
        digest.update(block)
        if sink is not None:
            sink(block)
        size += len(block)
        block = os.read(fd, BLOCK)
    return digest.hexdigest(), size


def _first_block(fd: int) -> tuple[bytes, bool]:
    """The first block of ``fd`` and whether it is the whole file (a short read that reached the size)."""
    size = os.fstat(fd).st_size
    block = os.read(fd, BLOCK)
    return block, size <= len(block) < BLOCK


def read_file(path: str) -> tuple[bytes, str]:
    """(bytes, sha256) of a file; a small one in a single read."""
    fd = os.open(path, os.O_RDONLY)
    try:
        block, whole = _first_block(fd)
        if whole:
            return block, hashlib.sha256(block).hexdigest()
        blocks: list[bytes] = []
        digest, _ = _drain(fd, block, blocks.append)
        return b"".join(blocks), digest
    finally:
        os.close(fd)


def _hash_file(path: str) -> tuple[str, int]:
    fd = os.open(path, os.O_RDONLY)
    try:
        return _drain(fd, os.read(fd, BLOCK), None)
    finally:
        os.close(fd)


def _copy_hashing(src: str, dest: str) -> tuple[str, int]:
    """Read, hash and write in one pass on raw file descriptors; a partial destination is removed."""
    fd_in = os.open(src, os.O_RDONLY)
    try:
        block, whole = _first_block(fd_in)
        fd_out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if whole:
                _write_all(fd_out, block)
                result = hashlib.sha256(block).hexdigest(), len(block)
            else:
                result = _drain(fd_in, block, lambda data: _write_all(fd_out, data))
        except BaseException:
            os.close(fd_out)
            os.unlink(dest)
            raise
        os.close(fd_out)
        return result
    finally:
        os.close(fd_in)


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
        if exc.errno in WRITE_ERRNOS:
            raise  # the export's own disk failed: not a fault of this one image
        return CopyResult(job, error=f"unreadable: {exc.strerror or exc}")
    if job.expected and digest != job.expected:
        os.unlink(job.dest)
        return CopyResult(job, error="altered: the source's sha256 differs from the recorded one")
    return CopyResult(job, digest, size)


def read_one(job: CopyJob) -> tuple[CopyJob, bytes | None, str, str]:
    """(job, bytes, sha256, error) for writers that pack files into containers."""
    try:
        data, digest = read_file(job.src)
    except FileNotFoundError:
        return job, None, "", "missing: the source file does not exist"
    except OSError as exc:
        return job, None, "", f"unreadable: {exc.strerror or exc}"
    if job.expected and digest != job.expected:
        return job, None, "", "altered: the source's sha256 differs from the recorded one"
    return job, data, digest, ""


def default_threads() -> int:
    """The usable cores (at least 2, at most 8): small-file copies are system calls, not waiting."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(2, min(8, cores))


def copy_all(jobs: Sequence[CopyJob], link: bool = False, threads: int | None = None,
             advance: Callable[[int], None] | None = None) -> list[CopyResult]:
    """Copy every job (each destination folder is created once, first); results in job order."""
    for folder in {os.path.dirname(j.dest) for j in jobs}:
        os.makedirs(folder, exist_ok=True)
    batches = [jobs[start:start + BATCH] for start in range(0, len(jobs), BATCH)]
    results: list[CopyResult] = []
    with ThreadPoolExecutor(threads or default_threads()) as pool:
        for batch in pool.map(lambda b: [copy_one(j, link) for j in b], batches):
            results.extend(batch)
            if advance:
                advance(len(batch))
    return results


def read_all(jobs: Iterable[CopyJob], threads: int | None = None):
    """Read and hash jobs in parallel, yielding in job order (bounded memory via map's ordering)."""
    jobs = list(jobs)
    with ThreadPoolExecutor(threads or default_threads()) as pool:
        for start in range(0, len(jobs), 256):
            yield from pool.map(read_one, jobs[start:start + 256])
