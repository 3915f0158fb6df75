"""Evaluation throughput: ``curate evaluate``'s path against a plain torchvision loop, in the same run.

Plain loop: ImageFolder + Resize/CenterCrop/ToTensor/Normalize, a default DataLoader (no workers),
fp32, CPU JPEG decoding. Ours: models.evaluate.predict (CPU: parallel streams, full-resolution JPEG
decoding, inference mode; GPU: JPEG decoding on the device, bf16 autocast, channels_last, optional
torch.compile). CPU: small resolution (ResNet-18, 64 -> 56 px); GPU: ResNet-50 at 256 -> 224 px.

    python bench/eval_throughput.py            # full size
    python bench/eval_throughput.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))

from models_synth import make_export, target_line  # noqa: E402


def plain_loop(root: Path, model, device, resize: int, crop: int, batch: int, limit: int) -> float:
    import torch
    import torchvision
    from torchvision import transforms as T

    tf = T.Compose([T.Resize(resize), T.CenterCrop(crop), T.ToTensor(),
                    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    ds = torch.utils.data.Subset(torchvision.datasets.ImageFolder(str(root), tf), range(limit))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch)
    model = model.to(device).eval()
    n, start = 0, time.perf_counter()
    with torch.no_grad():
        for x, _ in loader:
            model(x.to(device)).argmax(1).cpu()
            n += len(x)
    return n / (time.perf_counter() - start)


def ours(export_root: Path, model, accel, resize: int, crop: int, batch: int, workers: int, limit: int) -> float:
    from models.accel import prepare_model
    from models.data import aligned_classes, collect_items, open_export
    from models.evaluate import predict

    export = open_export(export_root)
    items = collect_items([export], None, aligned_classes([export]))[:limit]
    model = prepare_model(model, accel)
    predict(model, items[:batch], accel, resize, crop, batch, 0, range(10))  # warm-up (cudnn, compile)
    start = time.perf_counter()
    predict(model, items, accel, resize, crop, batch, workers, range(10))
    return len(items) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a reduced smoke run")
    parser.add_argument("--gpu", action="store_true", help="require CUDA (default: use it when present)")
    parser.add_argument("--compile", action="store_true", help="torch.compile our model (GPU)")
    parser.add_argument("--data", type=Path, help="where to build/reuse the synthetic export")
    args = parser.parse_args()
    import torch

    from models.accel import Accel
    from models.registry import create_model

    cuda = torch.cuda.is_available()
    if args.gpu and not cuda:
        sys.exit("--gpu: no CUDA device")
    device = torch.device("cuda" if cuda else "cpu")
    if cuda:
        torch.backends.cudnn.benchmark = True
        arch, size, resize, crop, batch = "resnet50", (500, 375), 256, 224, 256
        n, plain_n, workers = (2048, 512, 16) if args.quick else (8192, 1024, 16)
    else:
        arch, size, resize, crop, batch = "resnet18", (400, 300), 64, 56, 64
        n, plain_n, workers = (192, 192, 2) if args.quick else (768, 768, min(4, os.cpu_count() or 1))
    data = args.data or Path(tempfile.gettempdir()) / f"curate-bench-eval-{size[0]}x{size[1]}-{n}"
    export = make_export(data, n, 100, size, "val", workers=os.cpu_count() or 1)
    torch.manual_seed(0)
    model = create_model(arch, 1000)
    print(f"device {device}, {arch}, {n} JPEGs of {size[0]}x{size[1]}, resize {resize} crop {crop}, batch {batch}")
    base = plain_loop(export / "val", model, device, resize, crop, batch, plain_n)
    print(f"plain torchvision loop: {base:8.1f} images/s ({plain_n} images)")
    accel = Accel(device, amp=True, channels_last=True, compile=args.compile)
    fast = ours(export, model, accel, resize, crop, batch, workers, n)
    print(f"curate evaluate path:   {fast:8.1f} images/s ({n} images, {workers} workers)  ratio {fast / base:.2f}x")
    if cuda:
        print(target_line("eval_gpu_speedup_vs_plain", fast / base, 3, "x"))
        print(target_line("eval_gpu_resnet50_images_per_s", fast, 5000, " img/s"))
    else:
        print(target_line("eval_cpu_speedup_vs_plain", fast / base, 1.5, "x"))


if __name__ == "__main__":
    main()
