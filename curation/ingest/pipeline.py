"""``curate import`` over many batches: worker processes read, check and hash the files of the next
batch while this process stores the files of the current one, writes its rows and commits it.

Each batch is committed on its own (a killed import resumes from the last commit: paths already
recorded are not read again), in order; at most two batches are in flight, so memory stays flat.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

from sqlalchemy import select
from sqlalchemy.engine import Engine

from curation.db.models import SourceRecord
from curation.errors import CurateError
from curation.ingest import folder
from curation.ingest.inspect import Inspected, ReadTask, read_chunk
from curation.store import ImageStore

CHUNK = 64  # files per worker task: one round trip, and the hashes' numpy work done for all at once


def filter_hashing(settings: Any) -> bool:
    """Whether import may store the filters' hashes: the filter decodes with the workspace's pixel cap
    unless curate.toml's ``[filter]`` sets another, and then import leaves the hashing to the filter."""
    from curation.filters.params import load_params

    try:
        return load_params(settings).max_pixels == settings.max_image_pixels
    except CurateError:  # a bad [filter] table: curate filter itself says what is wrong
        return False


class _Inline(Executor):
    """Runs each task at once in this process (one worker: no pool to start)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def _pool(workers: int) -> Executor:
    if workers <= 1:
        return _Inline()
    from curation.parallel import die_with_parent

    return ProcessPoolExecutor(workers, initializer=die_with_parent, initargs=(os.getpid(),))


def import_folder(engine: Engine, store: ImageStore, root: Path, files: Sequence[Path], stats: folder.ImportStats,
                  options: folder.ImportOptions, batch: int, on_batch: Callable[[int], None] | None = None) -> None:
    """Import ``files`` (under ``root``) in committed batches of ``batch``, reading them in worker processes."""
    from curation.parallel import default_workers

    batches = [files[i:i + batch] for i in range(0, len(files), batch)]
    in_flight: deque[tuple[Sequence[Path], list[Future]]] = deque()
    with _pool(options.workers or default_workers()) as pool:
        for paths in batches:
            in_flight.append((paths, _dispatch(pool, engine, store, paths, options)))
            if len(in_flight) > 1:
                _write(engine, store, root, *in_flight.popleft(), stats, options, on_batch)
        while in_flight:
            _write(engine, store, root, *in_flight.popleft(), stats, options, on_batch)


def _dispatch(pool: Executor, engine: Engine, store: ImageStore, paths: Sequence[Path],
              options: folder.ImportOptions) -> list[Future]:
    """Send the batch's files that no earlier run recorded to the workers, in chunks."""
    from curation.db.session import session_scope

    ids = [os.path.abspath(p) for p in paths]
    with session_scope(engine) as session:
        known = set(session.scalars(select(SourceRecord.source_id).where(
            SourceRecord.source == folder.SOURCE, SourceRecord.source_id.in_(ids))))
    fresh = [p for p in ids if p not in known]
    # the workers only read: this process puts the files in the store with the batch's rows, so nothing is
    # stored for a batch whose rows cannot be written
    return [pool.submit(read_chunk, ReadTask(tuple(fresh[i:i + CHUNK]), options.max_bytes, options.max_pixels,
                                             options.hash))
            for i in range(0, len(fresh), CHUNK)]


def _write(engine: Engine, store: ImageStore, root: Path, paths: Sequence[Path], futures: list[Future],
           stats: folder.ImportStats, options: folder.ImportOptions,
           on_batch: Callable[[int], None] | None) -> None:
    from curation.db.session import session_scope

    found: dict[str, Inspected] = {str(f.path): f for future in futures for f in future.result()}  # absolute
    with session_scope(engine) as session:
        folder.import_files(session, store, root, paths, stats, options, found)
    if on_batch:
        on_batch(len(paths))
