"""Benchmark: hashing speed, duplicate recall/precision per planted kind, and exact search speed.

Builds a corpus of procedurally generated photo-like JPEGs (500-1000 px: gradients, fractal
textures, shapes, grain; nothing downloaded) with planted exact copies, re-encodes, resizes,
mirrors and small crops, plus black, tiny and corrupt files. In the same run it measures the
baseline -- an ``imagehash.phash(Image.open(p))`` loop with a vectorised numpy all-pairs scan --
and FAISS ``IndexBinaryFlat`` range search on the same hashes.

    python bench/dedup.py            # full size (1,000,000 hashes for the search)
    python bench/dedup.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.filters.duplicates import HashTable, group_duplicates  # noqa: E402
from curation.filters.hashing import HashJob, compute_hashes  # noqa: E402
from curation.filters.index import pairs_within  # noqa: E402
from curation.filters.params import FilterParams  # noqa: E402
from curation.filters.quality import verdict  # noqa: E402
from curation.parallel import default_workers, map_unordered  # noqa: E402

KINDS = ("exact", "reencode", "resize", "mirror", "crop")  # crop: 1-4 % off each side (a "small crop")
INFO_KINDS = ("bigcrop",)  # 5-8 % off each side: reported for information, no target
BAD = ("black", "tiny", "corrupt")


def _noise(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Fractal value noise in [0, 1): octaves of random grids upsampled bicubically (built at 1/4 size)."""
    full, (w, h) = (w, h), (max(8, w // 4), max(8, h // 4))
    out = np.zeros((h, w), dtype=np.float32)
    amp, total = 1.0, 0.0
    for cells in (3, 6, 12, 24, 48):
        grid = rng.random((max(2, cells * h // w), cells)).astype(np.float32)
        out += amp * np.asarray(Image.fromarray(grid, "F").resize((w, h), Image.Resampling.BICUBIC))
        total += amp
        amp *= 0.55
    out = (out - out.min()) / (np.ptp(out) + 1e-6)
    return np.asarray(Image.fromarray(out, "F").resize(full, Image.Resampling.BICUBIC))


def make_photo(seed: int) -> Image.Image:
    """A photo-like image: sky/ground gradient, textured regions, shapes, blur and grain."""
    rng = np.random.default_rng(seed)
    w, h = int(rng.integers(500, 1001)), int(rng.integers(500, 1001))
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    top, bottom = rng.random(3) * 255, rng.random(3) * 255
    horizon = rng.uniform(0.3, 0.7)
    ground = rng.random(3) * 255
    base = np.where(y < horizon, top + (bottom - top) * (y / horizon), ground * (0.6 + 0.4 * y))
    base = np.broadcast_to(base, (h, w, 3)).astype(np.float32)
    texture = _noise(rng, w, h)[..., None]
    img = base * (0.55 + 0.9 * texture) + rng.normal(0, 25, 3)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(w // 10, w // 2)), y0 + int(rng.integers(h // 10, h // 2))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse((x0, y0, x1, y1), fill=color)
        elif kind == 1:
            draw.rectangle((x0, y0, x1, y1), fill=color)
        else:
            pts = [(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(int(rng.integers(3, 7)))]
            draw.polygon(pts, fill=color)
    pil = pil.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.6, 2.0))))
    shade = 0.8 + 0.4 * _noise(rng, w, h)[..., None]  # lighting and texture across shapes too
    grain = rng.normal(0, rng.uniform(1.5, 4.0), (h, w, 1)).astype(np.float32)
    return Image.fromarray(np.clip(np.asarray(pil, dtype=np.float32) * shade + grain, 0, 255).astype(np.uint8))


def _save(img: Image.Image, path: Path, quality: int) -> None:
    img.save(path, "JPEG", quality=quality)


def make_family(args: tuple[int, str, str | None]) -> list[tuple[str, str, int]]:
    """One original (and optionally one planted copy): [(file, kind, family)]."""
    seed, folder, kind = args
    rng = np.random.default_rng(seed + 10_000_000)
    out = Path(folder)
    photo = make_photo(seed)
    orig = out / f"{seed:06d}.jpg"
    _save(photo, orig, int(rng.integers(85, 96)))
    files = [(orig.name, "original", seed)]
    if kind is None:
        return files
    copy = out / f"{seed:06d}_{kind}.jpg"
    if kind == "exact":
        shutil.copyfile(orig, copy)
    elif kind == "reencode":
        _save(Image.open(orig), copy, int(rng.integers(55, 80)))
    elif kind == "resize":
        scale = rng.uniform(0.5, 0.85)
        _save(photo.resize((int(photo.width * scale), int(photo.height * scale)), Image.Resampling.BICUBIC),
              copy, int(rng.integers(75, 95)))
    elif kind == "mirror":
        _save(photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT), copy, int(rng.integers(80, 95)))
    else:  # crop: 1-4 % off each side; bigcrop: 5-8 %
        low, high = (0.01, 0.04) if kind == "crop" else (0.05, 0.08)
        dx, dy = (int(photo.width * rng.uniform(low, high)), int(photo.height * rng.uniform(low, high)))
        _save(photo.crop((dx, dy, photo.width - dx, photo.height - dy)), copy, int(rng.integers(80, 95)))
    files.append((copy.name, kind, seed))
    return files


def make_bad(folder: Path, n: int, rng: np.random.Generator) -> list[tuple[str, str, int]]:
    files = []
    for i in range(n):
        black = Image.fromarray(rng.integers(0, 6, (600, 800, 3), dtype=np.uint8))
        _save(black, folder / f"black_{i}.jpg", 90)
        side = int(rng.integers(8, 50))
        _save(make_photo(900_000 + i).resize((side, side + int(rng.integers(0, 10)))), folder / f"tiny_{i}.jpg", 90)
        good = io.BytesIO()
        _save(make_photo(950_000 + i), good, 90)
        data = good.getvalue()
        corrupt = [data[: len(data) // 3], rng.bytes(5000), data[:20], b"\x89PNG\r\n\x1a\n" + rng.bytes(200)][i % 4]
        (folder / f"corrupt_{i}.jpg").write_bytes(corrupt)
        files += [(f"black_{i}.jpg", "black", -1), (f"tiny_{i}.jpg", "tiny", -1), (f"corrupt_{i}.jpg", "corrupt", -1)]
    return files


def build_corpus(folder: Path, originals: int, per_kind: int, bad: int, workers: int) -> list[tuple[str, str, int]]:
    planted = KINDS + INFO_KINDS
    kinds = [k for k in planted for _ in range(per_kind)] + [None] * max(0, originals - per_kind * len(planted))
    jobs = [(seed, str(folder), kind) for seed, kind in enumerate(kinds)]
    files = [f for part in map_unordered(make_family, jobs, workers=workers) for f in part]
    return sorted(files) + make_bad(folder, bad, np.random.default_rng(7))


def baseline_hashes(paths: list[Path]) -> tuple[np.ndarray, float, int]:
    """The baseline loop: imagehash.phash(Image.open(p)) on every file; failures counted."""
    import imagehash

    out = np.zeros(len(paths), dtype=np.uint64)
    failed = 0
    start = time.perf_counter()
    for i, path in enumerate(paths):
        try:
            out[i] = np.uint64(int(str(imagehash.phash(Image.open(path))), 16))
        except Exception:  # noqa: BLE001 - the baseline has no error handling of its own
            failed += 1
    return out, time.perf_counter() - start, failed


def numpy_all_pairs(hashes: np.ndarray, radius: int, block: int = 256) -> int:
    """The baseline search: vectorised numpy all-pairs scan, block by block; returns the pair count."""
    found = 0
    for start in range(0, hashes.size, block):
        rows = hashes[start:start + block]
        close = np.bitwise_count(rows[:, None] ^ hashes[None, start:]) <= radius
        found += int(np.triu(close, 1).sum()) if close.shape[1] >= close.shape[0] else 0
    return found


def pair_metrics(groups_of: dict[int, int], files: list[tuple[str, str, int]]) -> dict[str, dict[str, float]]:
    """Recall per planted kind (copy grouped with its original) and precision of co-grouped pairs."""
    family = {i: fam for i, (_, _, fam) in enumerate(files)}
    original = {fam: i for i, (_, kind, fam) in enumerate(files) if kind == "original"}
    members: dict[int, list[int]] = {}
    for i, g in groups_of.items():
        members.setdefault(g, []).append(i)
    out: dict[str, dict[str, float]] = {}
    for kind in KINDS + INFO_KINDS:
        copies = [i for i, (_, k, _) in enumerate(files) if k == kind]
        found = sum(1 for i in copies if i in groups_of and groups_of.get(original[family[i]]) == groups_of[i])
        mates = [(i, j) for i in copies if i in groups_of for j in members[groups_of[i]] if j != i]
        good = sum(1 for i, j in mates if family[i] == family[j] and family[i] >= 0)
        out[kind] = {"recall": found / max(1, len(copies)), "precision": good / len(mates) if mates else 1.0,
                     "n": len(copies)}
    pairs = good = 0
    for group in members.values():
        for a in range(len(group)):
            for b in range(a + 1, len(group)):
                pairs += 1
                good += family[group[a]] == family[group[b]] and family[group[a]] >= 0
    out["all"] = {"recall": float("nan"), "precision": good / pairs if pairs else 1.0, "n": pairs}
    return out


def timed_hashing(folder: Path, files, workers: int, params: FilterParams, want_sha256: bool):
    jobs = [HashJob(i, str(folder / name), params.max_pixels, want_sha256) for i, (name, _, _) in enumerate(files)]
    start = time.perf_counter()
    chunk = max(1, min(64, len(jobs) // (workers * 16)))
    results = sorted(compute_hashes(jobs, workers=workers, chunk=chunk), key=lambda r: r.key)
    return results, time.perf_counter() - start


def our_pipeline(folder: Path, files, workers: int, params: FilterParams):
    """``curate filter``'s work on the corpus. As in the product, the sha256 of each file's bytes is the
    store's content address, computed once at import; the timed hashing does not compute it again."""
    stored = {i: hashlib.sha256((folder / name).read_bytes()).hexdigest() for i, (name, _, _) in enumerate(files)}
    results, hash_s = timed_hashing(folder, files, workers, params, want_sha256=False)
    for r in results:
        r.sha256 = stored[r.key]
    flagged = {}
    for r in results:
        v, reason, _ = verdict(r.width, r.height, r.n_frames, r.mean, r.std, None if r.ok else r.reason, params)
        if v == "reject":
            flagged[r.key] = reason
    keep = [r for r in results if r.key not in flagged]
    table = HashTable(keys=[r.key for r in keep], sha256=[r.sha256 for r in keep],
                      pixel_sha256=[r.pixel_sha256 for r in keep], phash=[r.phash for r in keep],
                      dhash=[r.dhash for r in keep], phash_mirror=[r.phash_mirror for r in keep],
                      dhash_mirror=[r.dhash_mirror for r in keep],
                      resolution=np.asarray([r.width * r.height for r in keep]), license_tier=np.zeros(len(keep)),
                      uploaded=np.arange(len(keep), dtype=np.float64), mean=[r.mean for r in keep])
    start = time.perf_counter()
    groups = group_duplicates(table, params, workers)
    search_s = time.perf_counter() - start
    groups_of = {table.keys[m]: g for g, group in enumerate(groups) for m in group.members.tolist()}
    return hash_s, search_s, flagged, groups_of


def baseline_pipeline(folder: Path, files, radius: int):
    paths = [folder / name for name, _, _ in files]
    hashes, hash_s, failed = baseline_hashes(paths)
    ok = np.asarray([kind not in BAD for _, kind, _ in files])  # the baseline has no quality filter: spare it the bad files
    idx = np.flatnonzero(ok)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    start = time.perf_counter()
    h = hashes[idx]
    close = np.bitwise_count(h[:, None] ^ h[None, :]) <= radius
    i, j = np.nonzero(np.triu(close, 1))
    search_s = time.perf_counter() - start
    _, labels = connected_components(coo_matrix((np.ones(i.size), (i, j)), shape=(idx.size, idx.size)), directed=False)
    sizes = np.bincount(labels)
    groups_of = {int(idx[k]): int(labels[k]) for k in range(idx.size) if sizes[labels[k]] > 1}
    return hash_s, search_s, failed, groups_of


def synthetic_hashes(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform random 64-bit hashes with 1% planted near copies (0-10 bits flipped)."""
    h = rng.integers(0, 2**64, n - n // 100, dtype=np.uint64, endpoint=False)
    src = h[rng.integers(0, h.size, n // 100)]
    flips = np.zeros(src.size, dtype=np.uint64)
    for k in range(src.size):
        for bit in rng.choice(64, int(rng.integers(0, 11)), replace=False):
            flips[k] |= np.uint64(1) << np.uint64(bit)
    return rng.permutation(np.concatenate([h, src ^ flips]))


def faiss_pairs(h: np.ndarray, radius: int) -> tuple[int, float]:
    import faiss

    codes = np.ascontiguousarray(h.astype(">u8").view(np.uint8).reshape(-1, 8))
    index = faiss.IndexBinaryFlat(64)
    index.add(codes)
    start = time.perf_counter()
    lims, _, labels = index.range_search(codes, radius + 1)  # FAISS keeps distances < radius
    elapsed = time.perf_counter() - start
    rows = np.repeat(np.arange(h.size), np.diff(lims).astype(np.int64))
    return int((labels > rows).sum()), elapsed


def search_bench(n_big: int, n_mid: int, n_scan: int, workers: int, radius: int) -> list[tuple[str, str, str, bool]]:
    rng = np.random.default_rng(3)
    big = synthetic_hashes(n_big, rng)
    start = time.perf_counter()
    ours = pairs_within(big, radius, workers=workers)
    ours_s = time.perf_counter() - start
    n_faiss, faiss_s = faiss_pairs(big, radius)
    print(f"search {n_big:,} hashes, radius {radius}: ours {ours_s:.1f} s ({len(ours)} pairs), "
          f"FAISS IndexBinaryFlat range_search {faiss_s:.1f} s ({n_faiss} pairs)"
          f"{'' if n_faiss == len(ours) else '  MISMATCH'}")
    mid = big[:n_mid]
    start = time.perf_counter()
    ours_mid = pairs_within(mid, radius, workers=workers)
    mid_s = time.perf_counter() - start
    start = time.perf_counter()
    numpy_all_pairs(mid[:n_scan], radius)
    scan_s = (time.perf_counter() - start) * (n_mid / n_scan) ** 2
    print(f"search {n_mid:,} hashes: ours {mid_s:.2f} s ({len(ours_mid)} pairs); numpy all-pairs scan timed on "
          f"{n_scan:,} and extrapolated quadratically: {scan_s:.1f} s")
    return [(f"search {n_big:,} hashes vs FAISS", f"{ours_s:.1f} s vs {faiss_s:.1f} s, same pairs: "
             f"{n_faiss == len(ours)}", "faster than FAISS, same pairs", ours_s < faiss_s and n_faiss == len(ours)),
            (f"search {n_mid:,} hashes vs numpy all-pairs scan", f"{scan_s / mid_s:.1f}x ({mid_s:.2f} s vs "
             f"{scan_s:.1f} s extrapolated)", ">= 10x", scan_s / mid_s >= 10)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="reduced sizes for a smoke run")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--keep", type=Path, help="keep the generated corpus in this folder")
    args = parser.parse_args()
    originals, per_kind, bad = (300, 30, 8) if args.quick else (2000, 200, 40)
    n_big, n_mid, n_scan = (100_000, 100_000, 10_000) if args.quick else (1_000_000, 200_000, 20_000)
    params = FilterParams()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="dedup-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    files = build_corpus(folder, originals, per_kind, bad, args.workers)
    print(f"corpus: {len(files)} files in {folder} ({time.perf_counter() - start:.0f} s to generate); "
          f"{per_kind} planted per kind {KINDS + INFO_KINDS} (crop: 1-4 % off each side, bigcrop: 5-8 %, "
          f"no target), {bad} each of {BAD}")
    hash_s, search_s, flagged, groups = our_pipeline(folder, files, args.workers, params)
    b_hash_s, b_search_s, b_failed, b_groups = baseline_pipeline(folder, files, params.threshold)
    _, sha_s = timed_hashing(folder, files, args.workers, params, want_sha256=True)
    ours_rate, base_rate = len(files) / hash_s, len(files) / b_hash_s
    print(f"hashing: ours {ours_rate:.0f} images/s ({args.workers} processes, draft decoding, pHash+dHash+mirrors+"
          f"pixel sha256; the bytes' sha256 is the store key from import), baseline imagehash loop "
          f"{base_rate:.0f} images/s ({b_failed} files crashed it); ours also hashing the bytes with sha256, as "
          f"`curate reference add` does for files outside the store: {len(files) / sha_s:.0f} images/s "
          f"({len(files) / sha_s / base_rate:.1f}x)")
    print(f"duplicate search on the corpus: ours {search_s:.2f} s, baseline numpy all-pairs {b_search_s:.2f} s")
    ours_m, base_m = pair_metrics(groups, files), pair_metrics(b_groups, files)
    print(f"{'kind':<10}{'n':>6}{'recall':>9}{'precision':>11}   baseline recall  precision")
    for kind in (*KINDS, *INFO_KINDS, "all"):
        o, b = ours_m[kind], base_m[kind]
        print(f"{kind:<10}{o['n']:>6}{o['recall']:>9.3f}{o['precision']:>11.3f}   {b['recall']:>15.3f}{b['precision']:>11.3f}")
    bad_files = [i for i, (_, kind, _) in enumerate(files) if kind in BAD]
    missed_bad = [files[i][0] for i in bad_files if i not in flagged]
    false_flags = sum(1 for i in flagged if files[i][1] not in BAD)
    print(f"quality: {len(bad_files) - len(missed_bad)}/{len(bad_files)} black/tiny/corrupt flagged, "
          f"{false_flags} good files flagged; reasons: "
          + ", ".join(f"{k}: {v}" for k, v in sorted(_kinds(flagged).items())))
    targets = search_bench(n_big, n_mid, n_scan, args.workers, params.threshold)
    speed = ours_rate / base_rate
    lines = [("hashing speed vs imagehash loop", f"{speed:.1f}x ({ours_rate:.0f} vs {base_rate:.0f} images/s)",
              ">= 6x", speed >= 6)]
    for kind in ("exact", "reencode", "resize", "mirror"):
        lines.append((f"recall {kind}", f"{ours_m[kind]['recall']:.3f}", ">= 0.99", ours_m[kind]["recall"] >= 0.99))
    lines.append(("recall crop", f"{ours_m['crop']['recall']:.3f}", ">= 0.9", ours_m["crop"]["recall"] >= 0.9))
    lines.append(("precision", f"{ours_m['all']['precision']:.3f}", ">= 0.99", ours_m["all"]["precision"] >= 0.99))
    lines += targets
    lines.append(("black, tiny, corrupt flagged", f"{len(bad_files) - len(missed_bad)}/{len(bad_files)}, no crash",
                  f"all {len(bad_files)}", not missed_bad))
    for name, measured, goal, ok in lines:
        print(f"TARGET {name}: {measured} (target {goal}) {'met' if ok else 'missed'}")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


def _kinds(flagged: dict[int, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for reason in flagged.values():
        kind = (reason or "").split(":", 1)[0]
        out[kind] = out.get(kind, 0) + 1
    return out


if __name__ == "__main__":
    main()
