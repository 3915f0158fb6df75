"""Benchmark: ``curate import`` of a local folder, and import + filter end to end, against the naive loop.

A planted corpus of small photo-like JPEGs (default 20,000, ImageNet-sized 375-500 px sides, --sides; 1 % exact copies,
1 % truncated: half JPEGs without their end marker, refused at import, half PNGs whose tail check
passes, which only the decode can refuse; generated once under /tmp and reused) is imported into a fresh
workspace on the same filesystem (so files are hard-linked into the store) with every check kept. Import
reads each file once, in worker processes: its sha256, a header probe, the tail check and the filters'
draft decode and hashes of the same bytes (``curation.filters.hashing.hash_batch``, the function
``curate filter`` runs), so every image is decoded once in all; the main process links the files into the
store and inserts the rows, hashes included, in bulk. ``curate filter`` then finds every image hashed, decodes
nothing, and judges quality (a truncated PNG that import let through carries its decoder's reason and is
rejected as corrupt), contamination and duplicates. In the same run, the baseline is the loop a user writes
first: ``imagehash.phash(Image.open(p))`` over the same files, in one process. Both ``curate`` commands run as
subprocesses, start-up included (with the bytecode compiled, as an installed curate has it). Ours and the
baseline alternate for ``--rounds`` rounds and the best time of each side is compared, so a slow spell of
this shared machine does not decide the ratio.

    python bench/import_folder.py              # 20,000 files
    python bench/import_folder.py --n 2000     # smoke run
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _bases(rng: np.random.Generator, side: int, count: int = 64) -> list[np.ndarray]:
    """Photo-like side x side pictures (gradient, coarse texture, noise) that files are cut from."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32)
    cells = side // 32 + 1
    out = []
    for _ in range(count):
        base = rng.random(3) * 255 * (1 - y[..., None] / side) + rng.random(3) * 255 * (x[..., None] / side)
        texture = np.kron(rng.random((cells, cells, 3)).astype(np.float32), np.ones((32, 32, 1), np.float32))
        noise = rng.normal(0, 6, (side, side, 3))
        out.append(np.clip(base * 0.7 + texture[:side, :side] * 80 + noise, 0, 255).astype(np.uint8))
    return out


def _jpeg(rng: np.random.Generator, bases: list[np.ndarray], sides: tuple[int, int]) -> bytes:
    """A distinct JPEG: a random window of a base picture (sides in ``sides``), shifted in colour, quality 85-95."""
    base = bases[int(rng.integers(len(bases)))]
    w, h = (int(v) for v in rng.integers(sides[0], sides[1] + 1, 2))
    x0, y0 = int(rng.integers(0, base.shape[1] - w + 1)), int(rng.integers(0, base.shape[0] - h + 1))
    window = base[y0:y0 + h, x0:x0 + w] // 2 + rng.integers(0, 128, 3, dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(window).save(out, "JPEG", quality=int(rng.integers(85, 96)))
    return out.getvalue()


def build_corpus(n: int, sides: tuple[int, int]) -> Path:
    """The planted corpus, cached under /tmp by its size; returns its folder."""
    folder = Path(tempfile.gettempdir()) / f"curate-import-corpus-{n}-{sides[0]}-{sides[1]}"
    if (folder / ".complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(18)
    bases = _bases(rng, sides[1])
    n_copies, n_truncated = n // 100, n // 200
    made: list[Path] = []
    for i in range(n - n_copies - n_truncated):
        sub = folder / f"class_{i % 50:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"{i:06d}.jpg"
        path.write_bytes(_jpeg(rng, bases, sides))
        made.append(path)
    for i in range(n_copies):
        shutil.copyfile(made[int(rng.integers(len(made)))], folder / "class_00" / f"copy_{i:05d}.jpg")
    for i in range(n_truncated):
        data = _jpeg(rng, bases, sides)
        (folder / "class_01" / f"truncated_{i:05d}.jpg").write_bytes(data[: int(len(data) * rng.uniform(0.3, 0.9))])
    for i in range(n_truncated):  # cut short, but a text chunk says "IEND": only the full decode can tell
        png = io.BytesIO()
        info = PngImagePlugin.PngInfo()
        info.add_text("note", "IEND")
        Image.open(io.BytesIO(_jpeg(rng, bases, sides))).save(png, "PNG", pnginfo=info)
        (folder / "class_02" / f"truncated_{i:05d}.png").write_bytes(png.getvalue()[: len(png.getvalue()) // 2])
    (folder / ".complete").write_text("ok")
    return folder


def baseline(files: list[Path]) -> tuple[float, int]:
    """The naive loop: imagehash pHash of every file, one process; returns (seconds, files that failed)."""
    import imagehash

    failed = 0
    start = time.perf_counter()
    for path in files:
        try:
            imagehash.phash(Image.open(path))
        except Exception:  # noqa: BLE001 - the naive loop's only error handling
            failed += 1
    return time.perf_counter() - start, failed


def curate(workspace: Path, *args: str) -> tuple[float, str]:
    """Run the CLI in a subprocess (start-up included, as a user runs it); returns (seconds, output)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CURATE_WORKSPACE": str(workspace)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "curation", *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"curate {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000, help="files per committed import batch")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of ours and the baseline; "
                        "the best of each is compared")
    parser.add_argument("--sides", type=int, nargs=2, default=(375, 500), metavar=("MIN", "MAX"),
                        help="image side lengths in pixels (default: ImageNet-sized)")
    args = parser.parse_args()
    start = time.perf_counter()
    corpus = build_corpus(args.n, tuple(args.sides))
    files = sorted(p for p in corpus.rglob("*.*") if p.suffix in (".jpg", ".png"))
    truncated = sum(1 for p in files if p.name.startswith("truncated_"))
    print(f"corpus: {len(files)} files of {args.sides[0]}-{args.sides[1]} px in {corpus} ({truncated} truncated; "
          f"{time.perf_counter() - start:.0f} s to build or find)", flush=True)
    # an installed curate has its bytecode compiled (pip does it); this checkout may not
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "curation")], check=True)
    imports, filters, bases = [], [], []
    for round_ in range(1, args.rounds + 1):  # interleaved: a slow spell of this shared machine hits both sides
        workspace = Path(tempfile.mkdtemp(prefix="curate-import-bench-", dir=corpus.parent))
        try:
            subprocess.run([sys.executable, "-m", "curation", "init", str(workspace)], check=True,
                           capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            import_s, out = curate(workspace, "import", str(corpus), "--batch", str(args.batch))
            print(f"round {round_} ours import: {import_s:.1f} s, {len(files) / import_s:.0f} files/s; "
                  f"{out.strip().splitlines()[-1]}")
            filter_s, out = curate(workspace, "filter")
            summary = next((line for line in out.splitlines() if line.startswith("hashed ")), out.strip())
            print(f"round {round_} ours filter: {filter_s:.1f} s; {summary}")
            db = sqlite3.connect(workspace / "curate.sqlite")
            rejected_truncated = db.execute(
                "SELECT count(*) FROM filter_decisions d JOIN images i ON i.id = d.image_id JOIN source_records s "
                "ON s.image_id = i.id WHERE d.verdict = 'reject' AND d.current AND s.source_id LIKE "
                "'%truncated_%' AND d.reason LIKE 'corrupt%'").fetchone()[0]
            refused = db.execute("SELECT count(*) FROM source_records WHERE status = 'rejected' AND source_id "
                                 "LIKE '%truncated_%'").fetchone()[0]
            links = sum(1 for p in files[:200] if p.stat().st_nlink > 1)
            db.close()
        finally:
            shutil.rmtree(workspace, ignore_errors=True)
        base_s, failed = baseline(files)
        print(f"round {round_} baseline imagehash loop (one process): {base_s:.1f} s, "
              f"{len(files) / base_s:.0f} files/s ({failed} files crashed it)", flush=True)
        imports.append(import_s)
        filters.append(filter_s)
        bases.append(base_s)
    import_s, filter_s, base_s = min(imports), min(filters), min(bases)
    print(f"best of {args.rounds}: import {import_s:.1f} s, filter {filter_s:.1f} s, baseline {base_s:.1f} s; "
          f"per round, ours / baseline: " + ", ".join(f"{(i + f):.1f} / {b:.1f} s"
                                                        for i, f, b in zip(imports, filters, bases)))
    print(f"checks: {refused} truncated files refused at import (no end marker), {rejected_truncated} rejected by "
          f"filter as corrupt (their decode failed), {truncated - refused - rejected_truncated} missed; "
          f"{links}/200 of the first files hard-linked into the store")
    rate = len(files) / import_s
    ratio = base_s / (import_s + filter_s)
    caught = refused + rejected_truncated == truncated
    print(f"TARGET import rate: {rate:.0f} files/s (target >= 1000) {'met' if rate >= 1000 else 'missed'}")
    print(f"TARGET import + filter vs naive imagehash loop: {ratio:.2f}x ({import_s + filter_s:.1f} s vs "
          f"{base_s:.1f} s) (target >= 3x) {'met' if ratio >= 3 else 'missed'}")
    if ratio < 3:
        print("note: the naive loop only decodes and hashes (no checks, no store, no database, no duplicate search); "
              "ours decodes each image once too (draft mode, in worker processes) and adds the read, sha256, header "
              "and tail checks, the link into the store, the rows and the filters, plus two command start-ups; on "
              "this 2-core machine the ratio also moves with whatever else runs beside it; it grows with image size "
              "(the loop decodes every pixel)")
    print(f"TARGET truncated files caught: {refused + rejected_truncated}/{truncated} (target all) "
          f"{'met' if caught else 'missed'}")


if __name__ == "__main__":
    main()
