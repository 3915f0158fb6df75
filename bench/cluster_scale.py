"""Benchmark: the same hashing job on a 1-node and on a 2-node local Ray cluster; prints the ratio and checks
that nothing was lost or duplicated.

Each node is its own ``ray start`` process with its own temp dir and one CPU (``tests/ray_nodes.py``); the
job is ``curation.filters.hashing.compute_hashes`` (decode + every perceptual hash) over generated JPEGs,
exactly as ``curate filter --ray ADDRESS`` runs it. On a 2-core machine shared with other work expect
well under 2x: the point is that the job spreads over both nodes, and every image comes back once with the
same hashes as the 1-node run (and as a plain local loop, the baseline).

    python bench/cluster_scale.py            # 768 images of 640x480
    python bench/cluster_scale.py --quick    # 192 images
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_images(store_dir: Path, n: int, size: tuple[int, int]) -> list[str]:
    import numpy as np
    from PIL import Image

    from curation.store import ImageStore

    store, rng, paths = ImageStore(store_dir), np.random.default_rng(0), []
    for _ in range(n):
        small = (rng.random((size[1] // 16, size[0] // 16, 3)) * 255).astype("uint8")
        img = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90)
        paths.append(store.location(store.put(buf.getvalue())))
    return paths


def run(paths: list[str], ray_address: str | None) -> tuple[float, dict[int, tuple]]:
    from curation.filters.hashing import HashJob, compute_hashes

    jobs = [HashJob(i, p, 178_956_970) for i, p in enumerate(paths)]
    start = time.perf_counter()
    results = list(compute_hashes(jobs, workers=1, ray=ray_address, chunk=16))
    elapsed = time.perf_counter() - start
    keys = [r.key for r in results]
    if len(keys) != len(set(keys)):
        raise SystemExit(f"duplicated results: {len(keys) - len(set(keys))}")
    return elapsed, {r.key: (r.ok, r.phash, r.dhash, r.pixel_sha256) for r in results}


def on_cluster(paths: list[str], nodes: int) -> tuple[float, dict[int, tuple]]:
    import os

    import ray

    from tests.ray_nodes import LocalRayCluster

    cluster = LocalRayCluster()
    os.environ.update(cluster.auth)
    try:
        cluster.start(workers=nodes - 1, cpus=1)
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_nodes(nodes)
        run(paths[:32], cluster.address)  # warm-up: workers started and imports done on every node
        return run(paths, cluster.address)
    finally:
        ray.shutdown()
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Fewer images (a smoke run).")
    args = parser.parse_args()
    n = 192 if args.quick else 768
    with tempfile.TemporaryDirectory(prefix="curate-bench-") as tmp:
        paths = make_images(Path(tmp) / "store", n, (640, 480))
        run(paths[:32], None)  # warm-up, as on the clusters
        t_local, local = run(paths, None)
        t1, one = on_cluster(paths, 1)
        t2, two = on_cluster(paths, 2)
    lost = {"1 node": n - len(one), "2 nodes": n - len(two)}
    same = one == local and two == local
    print(f"hashing {n} JPEGs of 640x480: local loop {t_local:.2f}s ({n / t_local:.0f}/s); "
          f"1 Ray node {t1:.2f}s ({n / t1:.0f}/s); 2 Ray nodes {t2:.2f}s ({n / t2:.0f}/s)")
    print(f"2 nodes / 1 node throughput: {t1 / t2:.2f}x; lost: {lost}; duplicated: 0; "
          f"hashes identical to the local loop: {same}")
    if any(lost.values()) or not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
