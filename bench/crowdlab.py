"""Benchmark: what CROWDLAB buys on the demo's simulated crowd (true labels known).

Label accuracy of selection frequency, Dawid-Skene and CROWDLAB at equal votes; the share of label
errors in the first 10% of the doubt-ordered review queue against a random order (10% expected);
votes active collection (ActiveLab) needs to reach uniform collection's accuracy at 5 votes/image.
The model is out of sample: a K-fold linear head on frozen (random-init, loaded from a local file)
resnet18 features of the emulator's rendered images. Pooled over seeds.

Targets: errors in the first 10% >= 3x random order; votes saved >= 30% at equal accuracy.

    python bench/crowdlab.py            # 3 seeds x 300 images
    python bench/crowdlab.py --quick    # 1 seed
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed instead of three")
    parser.add_argument("--per-class", type=int, default=60, help="candidates per class (5 classes)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    from curate_demo.crowdlab import EvalConfig, demo_table

    torch.set_num_threads(1)
    cfg = EvalConfig(per_class=args.per_class, seeds=(0,) if args.quick else (0, 1, 2))
    start = time.perf_counter()
    report = demo_table(print, cfg)
    ratio, saved = report.errors_first_ratio, report.votes_saved
    print(f"({time.perf_counter() - start:.0f}s)")
    print(f"TARGET errors_first_10pct: {ratio:.1f}x random (target >= 3x) {'met' if ratio >= 3 else 'missed'}")
    print(f"TARGET votes_saved: {100 * saved:.0f}% (target >= 30%) {'met' if saved >= 0.3 else 'missed'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
