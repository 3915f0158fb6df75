"""Per-workspace, per-stage locks: two ``curate download`` runs on one workspace would race for the same rows.

A lock is an ``flock`` on ``<workspace>/.locks/<name>.lock`` whose text names the holder (command and
pid). The kernel drops an ``flock`` when its process dies, however it dies, so the lock of a killed run
is taken over by the next one without any stale-pid guessing. The lock guards one workspace folder on
one machine; teams sharing a PostgreSQL database from several machines coordinate by other means.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import Iterator

from curation.errors import StageLocked

log = logging.getLogger(__name__)
LOCK_DIR = ".locks"
_held: dict[Path, int] = {}  # locks this process holds -> depth (scrape holds "images" and calls download)


def _holder(path: Path) -> str:
    """'another <command> (pid N)' from a lock file's text ("<command> <pid>")."""
    try:
        command, _, pid = path.read_text(encoding="utf-8", errors="replace").strip().rpartition(" ")
    except OSError:
        command, pid = "", ""
    return f"another {command} (pid {pid})" if command and pid.isdigit() else "another curate command (pid unknown)"


@contextlib.contextmanager
def stage_lock(workspace: Path, name: str, command: str | None = None) -> Iterator[None]:
    """Hold the lock ``name`` of ``workspace`` while the block runs; refuse at once if another process holds it."""
    folder = Path(workspace).resolve() / LOCK_DIR
    folder.mkdir(exist_ok=True)
    with file_lock(folder / f"{name}.lock", command or name, "this workspace"):
        yield


@contextlib.contextmanager
def file_lock(path: Path, command: str, where: str) -> Iterator[None]:
    """Hold an ``flock`` on ``path`` (re-entrant within this process), its text naming ``command`` and the pid."""
    path = Path(path)
    if _held.get(path):
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StageLocked(f"{_holder(path)} is running on {where}; wait for it to finish (or stop "
                              f"it) and run this command again") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{command} {os.getpid()}\n".encode())
        log.debug("holding lock %s", path)
        _held[path] = 1
        try:
            yield
        finally:
            _held.pop(path, None)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing drops the flock
