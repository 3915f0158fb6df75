"""Benchmark: hashing speed per core against its ceiling, and on all cores against imagehash in a process pool.

Corpus: ImageNet-sized photo-like JPEGs (375-500 px sides, generated under /tmp). In one run:

* ceiling, one process: Pillow's draft-mode decode alone (``Image.open``, ``draft`` to the 64 px working
  size, ``load``) -- the decode our hashing needs, with no hashing at all;
* ours, one process: :func:`curation.filters.hashing.hash_batch` (decode, EXIF orientation, pHash, dHash,
  both mirrors, pixel sha256, pixel statistics), reported as a percentage of the ceiling;
* all cores: ours (:func:`compute_hashes`, a process pool) against ``imagehash.phash(Image.open(p))`` in a
  ``ProcessPoolExecutor`` with the same number of processes, and the same loop in one process.

    python bench/hashing.py             # 1,000 images
    python bench/hashing.py --n 200     # smoke run
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.filters.hashing import WORK_SIZE, HashJob, compute_hashes, hash_batch  # noqa: E402


def build_corpus(n: int) -> list[Path]:
    """``n`` photo-like JPEGs, cached under /tmp by count."""
    folder = Path(tempfile.gettempdir()) / f"curate-hash-corpus-{n}"
    if not (folder / ".complete").exists():
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(18)
        y, x = np.mgrid[0:600, 0:600].astype(np.float32)
        bases = []
        for _ in range(32):
            base = rng.random(3) * 255 * (1 - y[..., None] / 600) + rng.random(3) * 255 * (x[..., None] / 600)
            texture = np.kron(rng.random((20, 20, 3)).astype(np.float32), np.ones((32, 32, 1), np.float32))[:600, :600]
            bases.append(np.clip(base * 0.7 + texture * 80 + rng.normal(0, 6, (600, 600, 3)), 0, 255).astype(np.uint8))
        for i in range(n):
            w, h = (500, 375) if i % 2 else (375, 500)
            x0, y0 = int(rng.integers(0, 601 - w)), int(rng.integers(0, 601 - h))
            window = bases[i % 32][y0:y0 + h, x0:x0 + w] // 2 + rng.integers(0, 128, 3, dtype=np.uint8)
            out = io.BytesIO()
            Image.fromarray(window).save(out, "JPEG", quality=90)
            (folder / f"{i:05d}.jpg").write_bytes(out.getvalue())
        (folder / ".complete").write_text("ok")
    return sorted(folder.glob("*.jpg"))


def draft_decode(path: Path) -> None:
    img = Image.open(path)
    img.draft("RGB", (WORK_SIZE, WORK_SIZE))
    img.load()


def with_exif(files: list[Path], orientation: int) -> tuple[float, float]:
    """(ceiling, ours) in images/s on ``files`` with an EXIF APP1 segment (``orientation``) after the SOI marker."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    block = exif.tobytes()  # the "Exif" identifier and the TIFF structure
    app1 = b"\xff\xe1" + (len(block) + 2).to_bytes(2, "big") + block
    blobs = [p.read_bytes() for p in files]
    blobs = [b[:2] + app1 + b[2:] for b in blobs]
    jobs = [HashJob(i, "", 1 << 30, data=b) for i, b in enumerate(blobs)]

    def pillow(items: list[bytes]) -> None:
        for blob in items:
            img = Image.open(io.BytesIO(blob))
            img.draft("RGB", (WORK_SIZE, WORK_SIZE))
            img.load()

    ceiling = ours = 0.0
    for _ in range(3):
        ceiling = max(ceiling, rate(pillow, blobs))
        ours = max(ours, rate(lambda js: [hash_batch(js[i:i + 64]) for i in range(0, len(js), 64)], jobs))
    return ceiling, ours


def imagehash_one(path: str) -> str:
    import imagehash

    return str(imagehash.phash(Image.open(path)))


def rate(fn, items, repeats: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn(items)
    return repeats * len(items) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    files = build_corpus(args.n)
    jobs = [HashJob(i, str(p), 1 << 30) for i, p in enumerate(files)]
    for p in files[:50]:  # warm the page cache and imports for every contender alike
        draft_decode(p)
        imagehash_one(str(p))
    hash_batch(jobs[:50])
    # one process each, in seven rounds of the ceiling then ours over every file, so drifting load hits both
    # alike; the share is the median of the rounds' paired ratios (a slow spell moves both halves of a round),
    # the rates shown are the best rounds (as timeit does: slower rounds measure the machine's other work)
    shares, ceilings, ours_rates = [], [], []
    for _ in range(7):
        ceilings.append(rate(lambda ps: [draft_decode(p) for p in ps], files))
        ours_rates.append(rate(lambda js: [hash_batch(js[i:i + 64]) for i in range(0, len(js), 64)], jobs))
        shares.append(ours_rates[-1] / ceilings[-1])
    ceiling, ours_1, share_1 = max(ceilings), max(ours_rates), float(np.median(shares))
    base_1 = rate(lambda ps: [imagehash_one(str(p)) for p in ps], files)
    print(f"one process: draft decode alone {ceiling:.0f} images/s (ceiling), ours {ours_1:.0f} images/s "
          f"({100 * share_1:.0f} % of the ceiling, the median of the rounds' "
          f"{', '.join(f'{100 * v:.0f}' for v in shares)} %), imagehash loop {base_1:.0f} images/s", flush=True)
    for orientation, how in ((1, "upright"), (6, "turned a quarter")):
        exif_ceiling, exif_ours = with_exif(files[:300], orientation)
        print(f"one process, the first 300 with an EXIF block added (orientation {orientation}, {how}): ours "
              f"{100 * exif_ours / exif_ceiling:.0f} % of the same files' ceiling (reported, not a target)",
              flush=True)
    ours_n = rate(lambda js: list(compute_hashes(js, workers=args.workers)), jobs)
    with ProcessPoolExecutor(args.workers) as pool:
        list(pool.map(imagehash_one, [str(p) for p in files[:args.workers * 4]]))  # start the workers
        base_n = rate(lambda ps: list(pool.map(imagehash_one, [str(p) for p in ps], chunksize=16)), files)
    print(f"{args.workers} processes: ours {ours_n:.0f} images/s, imagehash in a ProcessPoolExecutor {base_n:.0f} "
          f"images/s; load average {Path('/proc/loadavg').read_text().split()[0]}")
    share, ratio = share_1, ours_n / base_n
    if share < 0.85:
        print("note: beyond the decode, each image gets a header check before decoding, a pixel sha256, a 32x32 "
              "LANCZOS thumbnail and a histogram (the dHash, mirrors and statistics the filters store); JPEGs with "
              "XMP or a multi-picture index also go through Pillow's header parse; a turned one is transposed")
    print(f"TARGET hashing per core vs draft-decode ceiling: {100 * share:.0f} % (target >= 85 %) "
          f"{'met' if share >= 0.85 else 'missed'}")
    print(f"TARGET hashing vs imagehash process pool ({args.workers} processes): {ratio:.1f}x (target >= 2x) "
          f"{'met' if ratio >= 2 else 'missed'}")


if __name__ == "__main__":
    main()
