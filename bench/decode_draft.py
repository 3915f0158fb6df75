"""JPEG decoding cost: full-resolution decoding (the default, as the release's PIL loader) against the
previous draft path (Pillow's DCT scaling of the whole image to the output size) and the crop-aware
draft (``decode = "draft"``: never below what the crop needs), per image, in one process, same run.

    python bench/decode_draft.py                 # 2048x1536 photos and ImageNet-sized 500x375 ones
    python bench/decode_draft.py --quick         # smoke run

Prints images/s per path and the ratio to full decoding; nothing is asserted.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def photo(rng: np.random.Generator, width: int, height: int) -> bytes:
    """A photo-like JPEG (smooth colour fields plus mild noise) at quality 90."""
    from PIL import Image

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(xx / rng.uniform(40, 200) + c) * np.cos(yy / rng.uniform(40, 200))
                    for c in range(3)], -1) + rng.normal(0, 6, (height, width, 3))
    out = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


def rate(fn, blobs: list[bytes], repeats: int) -> float:
    start = time.perf_counter()
    for r in range(repeats):
        for i, blob in enumerate(blobs):
            fn(blob, np.random.default_rng([r, i]))
    return repeats * len(blobs) / (time.perf_counter() - start)


def paths(size: int = 224, resize: int = 256):
    from PIL import Image

    from models.transforms import EvalTransform, TrainTransform

    full_t, draft_t = TrainTransform(size), TrainTransform(size, draft=True)
    evaluate = EvalTransform(resize, size)

    def open_(blob):
        return Image.open(io.BytesIO(blob))

    def whole_draft(blob, n):
        img = open_(blob)
        img.draft("RGB", (n, n))
        return img.convert("RGB")

    return {
        "train: full decode (default)": lambda b, g: full_t(open_(b).convert("RGB"), g),
        "train: previous draft (whole image to 224)": lambda b, g: full_t(whole_draft(b, size), g),
        "train: crop-aware draft (decode=draft)": lambda b, g: draft_t(open_(b), g),
        "eval: full decode (default)": lambda b, g: evaluate(open_(b).convert("RGB")),
        "eval: draft to resize 256 (--decode draft, previous default)": lambda b, g: evaluate(whole_draft(b, resize)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n, repeats = (4, 1) if args.quick else (args.images, args.repeats)
    rng = np.random.default_rng(0)
    for width, height in ((2048, 1536), (500, 375)):
        blobs = [photo(rng, width, height) for _ in range(n)]
        results = {name: rate(fn, blobs, repeats) for name, fn in paths().items()}
        print(f"\n{width}x{height} JPEGs, {n} images x {repeats}, one process:")
        for name, value in results.items():
            base = results["train: full decode (default)"] if name.startswith("train") \
                else results["eval: full decode (default)"]
            print(f"  {name:<62} {value:8.1f} images/s  ({value / base:.2f}x full decoding)")


if __name__ == "__main__":
    main()
