"""Benchmark: SVSF-style split build on a generated 1,000,000-row table; export of 30,000 generated images
beside a plain ``shutil.copy`` loop over the same files, in the same run.

Targets: the build in under 15 s; export throughput (hash while copying, manifest, SHA256SUMS, card)
at least 0.8x the plain copy loop (which computes no checksums).

    python bench/split_build.py            # full size
    python bench/split_build.py --quick    # 100,000 rows, 3,000 images
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))



def bench_build(rows: int, tmp: Path) -> float:
    from curation.taxonomy import builtin_class_set
    from splits.pipeline import build_spec
    from splits.spec import load_spec
    from splits.synthetic import svsf_table

    keys = [c.key for c in builtin_class_set("svsf")]
    start = time.perf_counter()
    table = svsf_table(rows, np.random.default_rng(0), keys)
    path = tmp / "svsf.parquet"
    table.to_parquet(path, index=False)
    print(f"generated a {rows:,}-row metadata table in {time.perf_counter() - start:.1f} s")
    spec = load_spec("svsf")
    if rows < 1_000_000:  # scale the paper sizes with the table
        scale = rows / 1_000_000
        spec = spec.with_sizes({s.name: int(s.size * scale) for s in (spec.train, spec.iid_test, *spec.ood)})
    start = time.perf_counter()
    result, _, _, _ = build_spec(spec, None, path)
    elapsed = time.perf_counter() - start
    print(f"build: {elapsed:.2f} s  sizes {result.report['sizes']}")
    return elapsed


def _prepare_export(images: int, tmp: Path):
    from curation.taxonomy import builtin_class_set
    from splits.pipeline import build_spec
    from splits.spec import load_spec
    from splits.synthetic import svsf_table, write_images

    keys = [c.key for c in builtin_class_set("svsf")]
    root = tmp / "images"
    table = svsf_table(images, np.random.default_rng(1), keys)
    start = time.perf_counter()
    write_images(root, table["image"].tolist(), size=(160, 120))
    root.joinpath("table.csv").write_text(table.to_csv(index=False))
    size = sum(p.stat().st_size for p in (root / "img").iterdir())
    print(f"generated {images:,} JPEGs ({size / images / 1024:.1f} KiB each) in {time.perf_counter() - start:.1f} s")
    preset = load_spec("svsf")  # every image that matches a subset: train and the OOD tests take all they match
    spec = preset.with_sizes({"train": None, "iid_test": images // 10, **{o.name: None for o in preset.ood}},
                             name="svsf-export-bench", seed=0)
    result, classes, meta, _ = build_spec(spec, None, root / "table.csv")
    return spec, result.members, meta, classes


def _plain_copy(members, out: Path) -> float:
    start = time.perf_counter()
    made = set()
    for subset, label, src in zip(members["subset"], members["labels"], members["src"]):
        folder = out / subset / label
        if folder not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(folder)
        shutil.copy(src, folder)
    return time.perf_counter() - start


def bench_export(images: int, tmp: Path, rounds: int = 3) -> tuple[float, float]:
    from splits.export import export_split

    spec, members, meta, classes = _prepare_export(images, tmp)
    n = len(members)  # the images some subset takes (the same files for both loops)
    plain, ours = [], []
    for number in range(rounds):
        plain.append(_plain_copy(members, tmp / f"plain{number}"))
        start = time.perf_counter()
        summary = export_split(spec, spec.name, members, meta, classes, "imagefolder", tmp / f"export{number}")
        ours.append(time.perf_counter() - start)
        assert summary.n_rows == n, summary
        print(f"round {number + 1}: {n:,} images; plain shutil.copy loop {plain[-1]:.2f} s "
              f"({n / plain[-1]:,.0f} img/s); "
              f"curate export {ours[-1]:.2f} s ({n / ours[-1]:,.0f} img/s, checksums + manifest + card)")
    return min(plain), min(ours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced smoke run (100K rows, 3K images)")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--images", type=int, default=None)
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    images = args.images or (3_000 if args.quick else 30_000)
    with tempfile.TemporaryDirectory(prefix="curate-bench-splits-") as name:
        tmp = Path(name)
        build_s = bench_build(rows, tmp)
        plain_s, export_s = bench_export(images, tmp)
    ratio = plain_s / export_s
    print(f"TARGET build ({rows:,} rows): {build_s:.2f} s (target < 15 s) {'met' if build_s < 15 else 'missed'}")
    print(f"TARGET export throughput ({images:,} images): {ratio:.2f}x the plain copy loop "
          f"(target >= 0.8x) {'met' if ratio >= 0.8 else 'missed'}")


if __name__ == "__main__":
    main()
