"""Training throughput: ``curate train``'s loop against a plain torchvision loop, in the same run.

Plain loop: ImageFolder + RandomResizedCrop/flip/ToTensor/Normalize, a default DataLoader (shuffle,
no workers), fp32, CPU JPEG decoding, SGD. Ours: models.train.train with its recipe machinery
(CPU: DataLoader workers, DCT-scaled decoding; GPU: bf16 autocast, channels_last, JPEG decoding on the
device). CPU: ResNet-18 at 56 px; GPU: ResNet-50 at 224 px, batch 256.

    python bench/train_throughput.py            # full size
    python bench/train_throughput.py --quick    # smoke run
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


def plain_loop(root: Path, arch: str, device, size: int, batch: int, steps: int) -> float:
    import torch
    import torchvision
    from torchvision import transforms as T

    from models.registry import create_model

    tf = T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    loader = torch.utils.data.DataLoader(torchvision.datasets.ImageFolder(str(root), tf), batch_size=batch,
                                         shuffle=True, drop_last=True)
    model = create_model(arch, 100).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    n, start = 0, None
    for step, (x, y) in enumerate(loader):
        if step == 1:  # first step is warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            n, start = 0, time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x.to(device)), y.to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += len(x)
        if step >= steps:
            break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def ours(export: Path, arch: str, device, size: int, batch: int, workers: int, epochs: int, out: Path) -> float:
    from models.accel import Accel
    from models.recipe import load_recipe
    from models.runs import read_metrics
    from models.train import load_train_data, train

    cuda = device.type == "cuda"
    recipe = load_recipe("imagenet200" if cuda else "tiny-cpu", {
        "model": arch, "epochs": epochs, "batch_size": batch, "image_size": size, "workers": workers,
        "gpu_decode": cuda, "amp": cuda, "channels_last": True, "checkpoint_every": 0})
    train(recipe, load_train_data(recipe, [export], None), out, Accel(device, cuda, True, False))
    return read_metrics(out)[-1]["images_per_s"]  # the last epoch (the first warms up)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a reduced smoke run")
    parser.add_argument("--gpu", action="store_true", help="require CUDA")
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    import torch

    cuda = torch.cuda.is_available()
    if args.gpu and not cuda:
        sys.exit("--gpu: no CUDA device")
    device = torch.device("cuda" if cuda else "cpu")
    if cuda:
        torch.backends.cudnn.benchmark = True
        arch, img, size, batch, workers = "resnet50", (500, 375), 224, 256, 16
        n, plain_steps = (2560, 4) if args.quick else (7680, 8)
    else:
        arch, img, size, batch, workers = "resnet18", (320, 240), 56, 32, 2
        n, plain_steps = (128, 3) if args.quick else (512, 12)
    data = args.data or Path(tempfile.gettempdir()) / f"curate-bench-train-{img[0]}x{img[1]}-{n}"
    export = make_export(data, n, 100, img, "train", workers=os.cpu_count() or 1)
    print(f"device {device}, {arch} at {size} px, batch {batch}, {n} JPEGs of {img[0]}x{img[1]}")
    base = plain_loop(export / "train", arch, device, size, batch, plain_steps)
    print(f"plain torchvision loop: {base:8.1f} images/s")
    with tempfile.TemporaryDirectory() as tmp:
        fast = ours(export, arch, device, size, batch, workers, 2, Path(tmp) / "run")
    print(f"curate train loop:      {fast:8.1f} images/s (last epoch)  ratio {fast / base:.2f}x")
    if cuda:
        print(target_line("train_gpu_resnet50_images_per_s", fast, 2000, " img/s"))
    else:
        print(f"(no CPU training target; ratio {fast / base:.2f}x)")


if __name__ == "__main__":
    main()
