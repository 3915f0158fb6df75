"""One way to run a stage's per-item function: a local pool by default, Ray tasks with ``--ray``.

Download, hashing and DeepAugment generation all call :func:`map_unordered`; the function and its
items must be picklable (module-level functions, plain data). Results come back as they finish.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, ThreadPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

KINDS = ("threads", "processes")


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def map_unordered(fn: Callable[[T], R], items: Iterable[T], *, workers: int | None = None,
                  kind: str = "processes", ray: str | None = None, max_pending: int | None = None,
                  ray_options: dict[str, Any] | None = None) -> Iterator[R]:
    """Apply ``fn`` to every item and yield results in completion order.

    ``ray`` is ``None`` for a local pool, ``"auto"`` to join a running Ray cluster (or start a local
    one), or a cluster address. At most ``max_pending`` items are in flight, so memory stays flat.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown pool kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    workers = workers or default_workers()
    max_pending = max_pending or workers * 4
    if ray:
        yield from _ray_map(fn, items, ray, max_pending, ray_options or {})
        return
    if workers == 1 and kind == "processes":
        for item in items:
            yield fn(item)
        return
    pool: Executor = (ThreadPoolExecutor(workers) if kind == "threads"
                      else ProcessPoolExecutor(workers, initializer=die_with_parent, initargs=(os.getpid(),)))
    with pool:
        yield from _bounded(pool, fn, items, max_pending)


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: end this worker when its parent dies (even by SIGKILL), instead of living on under init.

    Linux's ``PR_SET_PDEATHSIG`` asks the kernel for a SIGKILL when the parent goes; where it is missing
    a daemon thread polls the parent pid. Either way no orphaned worker keeps writing after a kill.
    """
    import signal
    import threading

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # 1 = PR_SET_PDEATHSIG
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _watch_parent(parent_pid: int, every_s: float = 1.0) -> None:
    import time

    while os.getppid() == parent_pid:
        time.sleep(every_s)
    os._exit(1)


def _bounded(pool: Executor, fn, items, max_pending) -> Iterator:
    pending = set()
    for item in items:
        pending.add(pool.submit(fn, item))
        if len(pending) >= max_pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            yield future.result()


RAY_RETRIES = 5  # per task, on system failures (a lost worker process or node)
# non-secret settings that Ray tasks on other machines need (credentials stay each machine's own)
RAY_ENV = ("CURATE_STORE_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")


def init_ray(address: str) -> None:
    import ray

    if not ray.is_initialized():
        env = {k: os.environ[k] for k in RAY_ENV if os.environ.get(k)}
        common: dict[str, Any] = dict(ignore_reinit_error=True, log_to_driver=False)
        if env:
            common["runtime_env"] = {"env_vars": env}
        if address == "auto":
            try:
                ray.init(address="auto", **common)
            except ConnectionError:
                log.info("no running Ray cluster found; starting a local one")
                ray.init(include_dashboard=False, **common)
        else:
            ray.init(address=address, **common)


def _ray_map(fn, items, address: str, max_pending: int, options: dict[str, Any]) -> Iterator:
    import ray

    init_ray(address)
    # a task whose worker or node dies is run again elsewhere; our per-item functions are idempotent
    # (content-addressed PUTs, shard outputs rewritten with the same bytes), so a retry duplicates nothing
    remote = ray.remote(**{"max_retries": RAY_RETRIES, **options})(fn)
    pending: list = []
    for item in items:
        pending.append(remote.remote(item))
        if len(pending) >= max_pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield from ray.get(done)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield from ray.get(done)
