"""Content-addressed image store: ``store/ab/cd/<sha256>``.

``put`` writes to a temporary file in the same folder, fsyncs it and renames it into place, so a
crash never leaves a half-written image under its final name; writing the same bytes twice is a no-op.
A killed writer leaves its ``.put-*`` file behind: ``verify`` lists them and the next run that takes the
workspace's ``images`` lock (import, download, scrape) removes them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _valid_digest(sha256: str) -> bool:
    return len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)


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


class ImageStore:
    """Files named by the sha256 of their bytes under ``root``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        if not _valid_digest(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def __contains__(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its sha256."""
        digest = sha256_bytes(data)
        target = self.path(digest)
        if not target.exists():
            self._write_atomic(target, lambda fh: fh.write(data))
        return digest

    def put_file(self, source: Path) -> str:
        """Copy a file into the store, hashing while copying; returns its sha256."""
        digest = hashlib.sha256()
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(), dir=self.root)
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            target = self.path(digest.hexdigest())
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                os.unlink(tmp)
            else:
                os.replace(tmp, target)
                _fsync_dir(target.parent)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
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
        replaced.
        """
        import errno
        import shutil

        target = self.path(sha256)
        size = os.stat(source).st_size
        try:
            if target.stat().st_size == size:
                return "present"
            target.unlink()
        except FileNotFoundError:
            pass
        target.parent.mkdir(parents=True, exist_ok=True)
        if link:
            try:
                os.link(source, target)
                return "linked"
            except FileExistsError:
                return "present"
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.EOPNOTSUPP):
                    raise
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(), dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                try:
                    import fcntl

                    fcntl.ioctl(out.fileno(), 0x40049409, src.fileno())  # FICLONE: a copy-on-write reflink
                except (OSError, ImportError):
                    shutil.copyfileobj(src, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return "copied"

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path(sha256), "rb")

    def iter_digests(self) -> Iterator[str]:
        if not self.root.exists():
            return
        for path in self.root.glob("??/??/*"):
            if path.is_file() and _valid_digest(path.name):
                yield path.name

    def iter_temporary(self) -> Iterator[Path]:
        """Temporary ``.put-*`` files: a write in progress, or one a killed run left behind."""
        if not self.root.exists():
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
        for digest in expected:
            wanted.add(digest)
            report.checked += 1
            path = self.path(digest)
            if not path.exists():
                report.missing.append(digest)
            elif rehash and sha256_file(path) != digest:
                report.corrupted.append(digest)
        report.extra = sorted(d for d in self.iter_digests() if d not in wanted)
        report.temporary = sorted(p.relative_to(self.root).as_posix() for p in self.iter_temporary())
        return report

    def _write_atomic(self, target: Path, write) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(), dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


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
