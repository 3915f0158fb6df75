"""Content-addressed image store: ``<root>/ab/cd/<sha256>``, in a local folder or an object store.

``root`` is a folder (the default, ``store/`` in the workspace) or any ``fsspec`` URL
(``s3://bucket/prefix``; see :mod:`curation.objstore` for endpoint and credentials). Writes are atomic
either way. Locally, ``put`` writes a temporary file in the target's folder, fsyncs it and renames it into
place, so a crash never leaves a half-written image under its final name (``put(durable=False)`` leaves
the fsyncs out and the caller runs one :meth:`ImageStore.sync` before it commits the rows of a batch:
then a crash may lose or cut short an unsynced file, but never one a committed row names, and a later
``put`` of the same bytes replaces a file cut short); a killed writer leaves its
``.put-*`` file behind: ``verify`` lists them and the next run that takes the workspace's ``images`` lock
(import, download, scrape) removes them. In an object store a single PUT (or a completed multipart
upload) makes the object appear whole or not at all, so the bytes go straight to their final key once
their digest is known, and there are no temporary objects. Writing the same bytes twice is a no-op.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Mapping

from curation.objstore import filesystem, is_url, storage_options

CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = CHUNK) -> str:
    """The sha256 of a file, read in chunks (the one implementation; ``splits.frozen`` re-exports it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_stream(fh: BinaryIO, chunk: int = CHUNK) -> str:
    digest = hashlib.sha256()
    while block := fh.read(chunk):
        digest.update(block)
    return digest.hexdigest()


_DIGEST = re.compile(r"[0-9a-f]{64}")


def _valid_digest(sha256: str) -> bool:
    return isinstance(sha256, str) and _DIGEST.fullmatch(sha256) is not None


def _key(sha256: str) -> str:
    if not _valid_digest(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


@dataclass
class VerifyReport:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    corrupted: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    temporary: list[str] = field(default_factory=list)  # leftover .put-* files of interrupted writes

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupted)


def open_store(location: str | Path, config: Mapping[str, Any] | None = None) -> "ImageStore":
    """The store at a folder or URL; ``config`` is curate.toml's ``[store]`` table (endpoint, region)."""
    if is_url(location):
        return ImageStore(str(location), storage_options(str(location), config))
    return ImageStore(Path(location))


class ImageStore:
    """Files named by the sha256 of their bytes under ``root`` (a folder or an object-store URL)."""

    def __init__(self, root: Path | str, options: Mapping[str, Any] | None = None):
        self.remote = is_url(root)
        self.options = dict(options or {})
        if self.remote:
            self.url = str(root).rstrip("/")
            self.fs, self._base = filesystem(self.url, self.options if options is not None else None)
            self._base = self._base.rstrip("/")
            self.root: Any = self.url
        else:
            self.root = Path(root)
            self.url = str(self.root)

    # -- naming --------------------------------------------------------------------------------
    def path(self, sha256: str) -> Path:
        """The local file of a digest (local stores only; use :meth:`location` for either kind)."""
        if self.remote:
            raise TypeError(f"the store {self.url} is remote: use location() or open() instead of path()")
        return self.root / _key(sha256)

    def location(self, sha256: str) -> str:
        """Where a digest lives, as a string a worker on another machine can read (a path or a URL)."""
        return f"{self.url}/{_key(sha256)}" if self.remote else str(self.root / _key(sha256))

    def _object(self, sha256: str) -> str:
        return f"{self._base}/{_key(sha256)}"

    def __contains__(self, sha256: str) -> bool:
        if self.remote:
            return bool(self.fs.exists(self._object(sha256)))
        return self.path(sha256).exists()

    # -- writing -------------------------------------------------------------------------------
    def put(self, data: bytes, durable: bool = True, sha256: str | None = None) -> str:
        """Store ``data``; returns its sha256.

        ``durable=False`` writes the temporary file and renames it into place without the two fsyncs (the
        file's and its folder's): the caller then owes one :meth:`sync` before it commits anything that
        names the digest, which flushes a whole batch at once. A file already under the digest's name is
        kept only if it holds exactly ``data`` (an unsynced write that a crash cut short is replaced).
        An object store's PUT is durable either way. ``sha256`` is the digest of ``data`` where the caller
        has just computed it from these very bytes (it is trusted, not recomputed).
        """
        digest = sha256 or sha256_bytes(data)
        if self.remote:
            if digest not in self:
                self.fs.pipe_file(self._object(digest), data)  # one PUT: whole or absent
            return digest
        target = self.path(digest)
        if _holds(target, data):
            return digest
        if durable:
            with _atomic_temp(target.parent) as (fh, tmp):
                fh.write(data)
            _place(tmp, target, replace=True)
        else:
            _write_unsynced(target, data)
        return digest

    def sync(self) -> None:
        """Flush what :meth:`put` wrote with ``durable=False`` (and links) to disk: the store's filesystem is
        synced once (Linux ``syncfs``, ``sync`` elsewhere). Nothing to do for an object store."""
        if self.remote or not self.root.exists():
            return
        sync_filesystem(self.root)

    def put_file(self, source: Path) -> str:
        """Copy a file into the store, hashing while copying; returns its sha256."""
        if self.remote:  # images are capped (max_image_bytes), so one read then one PUT
            return self.put(Path(source).read_bytes())
        digest = hashlib.sha256()
        with _atomic_temp(self.root) as (out, tmp), open(source, "rb") as src:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        _place(tmp, self.path(digest.hexdigest()))
        return digest.hexdigest()

    def put_local(self, source: Path, sha256: str, link: bool = True) -> str:
        """Put a local file whose bytes hash to ``sha256`` (the caller read them once); returns how:
        ``present``, ``linked`` or ``copied``.

        With ``link`` it is hard-linked (no bytes move) when the store shares the file's filesystem; a
        failed link (another filesystem, no permission, too many links) falls back to a copy: a reflink
        where the filesystem has them, else the kernel's copy, to a temporary file fsynced and renamed into
        place. A hard link shares the file's inode: editing the original in place (not by writing a new
        file) edits the stored image too, which ``verify`` then reports as corrupted; its permissions are
        left alone. A link is not fsynced here: the caller syncs the store's filesystem before it commits
        the rows that point at it. A stored file of another size than ``source`` (a write cut short) is
        replaced. An object store gets one PUT (images are capped in size).
        """
        if self.remote:
            present = sha256 in self
            self.put(Path(source).read_bytes())
            return "present" if present else "copied"
        target = self.path(sha256)
        if link:  # the link itself says whether the digest is present: one system call for most new files
            made = _hard_link(source, target)
            if made == "linked":
                return made
        same = _same_size(target, source)
        if same:
            return "present"
        if same is False:
            target.unlink()  # a write cut short: replace it
            if link and _hard_link(source, target) == "linked":
                return "linked"
        with _atomic_temp(target.parent) as (out, tmp), open(source, "rb") as src:
            _clone_or_copy(src, out)
        _place(tmp, target)
        return "copied"

    # -- reading -------------------------------------------------------------------------------
    def read(self, sha256: str) -> bytes:
        if self.remote:
            return self.fs.cat_file(self._object(sha256))
        return self.path(sha256).read_bytes()

    def open(self, sha256: str) -> BinaryIO:
        if self.remote:
            return self.fs.open(self._object(sha256), "rb")
        return open(self.path(sha256), "rb")

    def iter_digests(self) -> Iterator[str]:
        if self.remote:
            self.fs.invalidate_cache(self._base)  # list what is there now, not what an earlier listing saw
            if not self.fs.exists(self._base):
                return
            for key in self.fs.find(self._base):
                name = key.rsplit("/", 1)[-1]
                if _valid_digest(name) and key.endswith(_key(name)):
                    yield name
            return
        if not self.root.exists():
            return
        for path in self.root.glob("??/??/*"):
            if path.is_file() and _valid_digest(path.name):
                yield path.name

    def iter_temporary(self) -> Iterator[Path]:
        """Temporary ``.put-*`` files: a write in progress, or one a killed run left behind (none remotely)."""
        if self.remote or not self.root.exists():
            return
        yield from self.root.glob(".put-*")
        yield from self.root.glob("??/??/.put-*")

    def clean_temporary(self) -> int:
        """Remove the temporary files of writers that are gone (a live process's write in progress stays)."""
        removed = 0
        for path in list(self.iter_temporary()):
            if not _stale(path):
                continue
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed

    def verify(self, expected: Iterable[str], rehash: bool = True) -> VerifyReport:
        """Check that every expected digest is present (and, with ``rehash``, intact)."""
        report = VerifyReport()
        wanted = set()
        present = set(self.iter_digests())  # one listing, not one request per image
        for digest in expected:
            wanted.add(digest)
            report.checked += 1
            if digest not in present:
                report.missing.append(digest)
            elif rehash and self._digest_of(digest) != digest:
                report.corrupted.append(digest)
        report.extra = sorted(present - wanted)
        report.temporary = sorted(p.relative_to(self.root).as_posix() for p in self.iter_temporary())
        return report

    def _digest_of(self, sha256: str) -> str:
        if self.remote:  # a plain GET of the current object (images are capped in size)
            return sha256_bytes(self.read(sha256))
        with self.open(sha256) as fh:
            return sha256_stream(fh)


@contextmanager
def _atomic_temp(folder: Path) -> Iterator[tuple[BinaryIO, str]]:
    """A temporary ``.put-<pid>-*`` file in ``folder``, flushed and fsynced on exit, removed if the body fails."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(), dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh, tmp
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _place(tmp: str, target: Path, replace: bool = False) -> None:
    """Rename a finished temporary file to its final name (or, unless ``replace``, drop it if a file is
    already there)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not replace and target.exists():
            os.unlink(tmp)
            return
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def _holds(target: Path, data: bytes) -> bool:
    """True when ``target`` exists with exactly ``data`` (read only when the size already matches)."""
    try:
        if target.stat().st_size != len(data):
            return False
        return target.read_bytes() == data
    except FileNotFoundError:
        return False


def _write_unsynced(target: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``target`` and rename it into place, without fsync (the
    caller syncs the filesystem before it records the file). The fan-out folders are made only when the
    first attempt finds them missing, which saves two system calls a file once they exist."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    tmp = f"{target.parent}/{_temp_prefix()}{os.urandom(6).hex()}"
    try:
        fd = os.open(tmp, flags, 0o600)
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def sync_filesystem(folder: Path) -> None:
    """Flush the filesystem that holds ``folder`` to disk (Linux ``syncfs``; ``sync`` elsewhere)."""
    syncfs = _syncfs()
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        os.sync()
        return
    try:
        if syncfs is None or syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


@lru_cache(maxsize=1)
def _syncfs():
    """libc's ``syncfs`` (None where there is none); looked up once, as finding libc runs ``ldconfig``."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    return getattr(libc, "syncfs", None)


def _same_size(target: Path, source: Path) -> bool | None:
    """Whether the stored ``target`` has ``source``'s size (None: nothing is stored there)."""
    try:
        return os.stat(target).st_size == os.stat(source).st_size
    except FileNotFoundError:
        return None


def _hard_link(source: Path, target: Path) -> str:
    """Hard-link ``source`` as ``target``: ``linked``, ``exists`` (something is stored there already), or
    ``refused`` where the filesystem or permissions refuse (then the caller copies). The folders are made
    only when the link says they are missing."""
    import errno

    for attempt in (0, 1):
        try:
            os.link(source, target)
            return "linked"
        except FileExistsError:
            return "exists"
        except FileNotFoundError:
            if attempt or not os.path.exists(source):
                raise
            os.makedirs(os.path.dirname(target), exist_ok=True)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.EOPNOTSUPP):
                raise
            return "refused"
    return "refused"


def _clone_or_copy(src: BinaryIO, out: BinaryIO) -> None:
    """A copy-on-write reflink (FICLONE) where the filesystem has them, else a copy with large buffers."""
    import shutil

    try:
        import fcntl

        fcntl.ioctl(out.fileno(), 0x40049409, src.fileno())
    except (OSError, ImportError):
        shutil.copyfileobj(src, out, CHUNK)


def _temp_prefix() -> str:
    """``.put-<pid>-``: the writer's pid in the name tells a cleaner whether the write may still be going on."""
    return f".put-{os.getpid()}-"


def _stale(path: Path, legacy_age_s: float = 3600.0) -> bool:
    """True when the process that wrote ``path`` is gone (names without a pid: when an hour old)."""
    import time

    pid = path.name.split("-")[1] if path.name.count("-") >= 2 else ""
    if not pid.isdigit():
        try:
            return time.time() - path.stat().st_mtime > legacy_age_s
        except FileNotFoundError:
            return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by someone else
    return False  # a live process may still be writing it


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
