"""Evaluation throughput: ``curate evaluate``'s path against the torchvision reference evaluation loop, in one run.

Baseline: the evaluation loop of pytorch/vision ``references/classification/train.py`` with its fast
options on: ImageFolder + the eval preset (Resize, CenterCrop, to-float tensor, Normalize), a
DataLoader with ``--workers`` processes and ``pin_memory=True``, ``torch.inference_mode()``, the
loss and top-1/top-5 accuracy per batch. The reference has no channels-last flag and its ``--amp``
autocasts only the training step (CUDA autocast + GradScaler), never ``evaluate()``; to be fair the
baseline is run in every variant a practitioner would try -- as written, + channels-last, + autocast
(bf16 on CPU, fp16 on CUDA) -- and the FASTEST variant is the baseline. Workers: one per core.

Ours: ``models.evaluate.predict`` exactly as ``curate evaluate`` calls it, with its defaults (fp32,
channels-last) and with ``--precision bf16`` (bf16 autocast; on a CPU it pays where the CPU has bf16
instructions) -- CPU: threaded decode -> forward streams with full-resolution decoding; CUDA: JPEG
decoding on the device. Each is compared with the fastest reference variant in the same precision (a
half-precision forward gives other numbers, so fp32 against bf16 compares different results). Same
model weights, same images, same batch size, same run; variants and ours alternate twice and each
keeps its best pass, so load from other processes on the machine hits both sides alike.

CPU default: ResNet-18 at 64 -> 56 px on 400x300 JPEGs (ResNet-50 at 224 px runs at ~3 images/s on
this 2-core machine); ``--protocol`` runs ResNet-50 at the paper's 256 -> 224. CUDA: ResNet-50 at
256 -> 224 px.

    python bench/eval_throughput.py            # full size
    python bench/eval_throughput.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))

from models_synth import make_export, target_line  # noqa: E402

CPU_TARGET = 1.2


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def reference_variants(cuda: bool) -> dict[str, tuple[bool, object]]:
    """name -> (channels_last, autocast dtype or None) of the reference loop variants tried."""
    import torch

    half = torch.float16 if cuda else torch.bfloat16
    return {"as written (fp32)": (False, None), "+ channels-last": (True, None),
            f"+ channels-last + {str(half).split('.')[-1]} autocast": (True, half)}


def reference_loader(root: Path, resize: int, crop: int, batch: int, workers: int, limit: int):
    """The reference's val dataset and DataLoader (SequentialSampler, workers, pin_memory=True)."""
    import torch
    import torchvision
    from torchvision import transforms as T

    preset = T.Compose([T.Resize(resize, interpolation=T.InterpolationMode.BILINEAR, antialias=True),
                        T.CenterCrop(crop), T.PILToTensor(), T.ConvertImageDtype(torch.float),
                        T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    ds = torch.utils.data.Subset(torchvision.datasets.ImageFolder(str(root), preset), range(limit))
    return torch.utils.data.DataLoader(ds, batch_size=batch, sampler=torch.utils.data.SequentialSampler(ds),
                                       num_workers=workers, pin_memory=True)


def reference_eval(loader, model, device, channels_last: bool, amp_dtype) -> float:
    """One pass of the reference ``evaluate()`` (worker start-up included, as in the script); images/s."""
    import torch

    criterion = torch.nn.CrossEntropyLoss()
    cast = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
    n, correct1, correct5 = 0, 0, 0
    start = time.perf_counter()
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pin_memory without an accelerator: the reference passes it anyway
        for image, target in loader:
            image = image.to(device, non_blocking=True)
            target = target.to(device, non_blocking=True)
            if channels_last:
                image = image.contiguous(memory_format=torch.channels_last)
            with cast:
                output = model(image)
                loss = criterion(output, target)
            top5 = output.topk(5, 1).indices
            correct1 += int((top5[:, 0] == target).sum())
            correct5 += int((top5 == target[:, None]).any(1).sum())
            loss.item()
            n += image.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def ours(items, model, accel, resize: int, crop: int, batch: int, workers: int) -> float:
    """``curate evaluate``'s prediction call on ``items`` (its model already prepared); images/s."""
    import torch

    from models.evaluate import predict

    start = time.perf_counter()
    predict(model, items, accel, resize, crop, batch, workers, range(10))
    if accel.cuda:
        torch.cuda.synchronize()
    return len(items) / (time.perf_counter() - start)


def config(cuda: bool, quick: bool, protocol: bool) -> dict:
    if cuda or protocol:
        n = (512 if quick else 4096) if cuda else (64 if quick else 256)
        return dict(arch="resnet50", size=(500, 375), resize=256, crop=224, batch=256 if cuda else 32, n=n,
                    workers=16 if cuda else cores())
    return dict(arch="resnet18", size=(400, 300), resize=64, crop=56, batch=64, n=256 if quick else 768,
                workers=cores())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a reduced smoke run")
    parser.add_argument("--gpu", action="store_true", help="require CUDA (default: use it when present)")
    parser.add_argument("--protocol", action="store_true", help="CPU: ResNet-50 at 256 -> 224 px (slow)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating passes per contender (best kept)")
    parser.add_argument("--data", type=Path, help="where to build/reuse the synthetic export")
    args = parser.parse_args()
    import copy

    import torch

    from models.accel import Accel, prepare_model
    from models.data import aligned_classes, collect_items, open_export
    from models.registry import create_model

    cuda = torch.cuda.is_available()
    if args.gpu and not cuda:
        sys.exit("--gpu: no CUDA device")
    device = torch.device("cuda" if cuda else "cpu")
    cfg = config(cuda, args.quick, args.protocol)
    if cuda:
        torch.backends.cudnn.benchmark = True
    size, n, batch, workers = cfg["size"], cfg["n"], cfg["batch"], cfg["workers"]
    data = args.data or Path(tempfile.gettempdir()) / f"curate-bench-eval-{size[0]}x{size[1]}-{n}"
    export = make_export(data, n, 100, size, "val", workers=cores())
    torch.manual_seed(0)
    model = create_model(cfg["arch"], 1000).eval()
    print(f"device {device}, {cfg['arch']}, {n} JPEGs of {size[0]}x{size[1]}, resize {cfg['resize']} crop "
          f"{cfg['crop']}, batch {batch}, {workers} workers, {torch.get_num_threads()} torch threads")
    loader = reference_loader(export / "val", cfg["resize"], cfg["crop"], batch, workers, n)
    ref_models = {cl: (copy.deepcopy(model).to(device).to(memory_format=torch.channels_last) if cl
                       else copy.deepcopy(model).to(device)) for cl in (False, True)}
    exp = open_export(export)
    items = collect_items([exp], None, aligned_classes([exp]))[:n]
    # ``curate evaluate``'s defaults (fp32, channels-last) and ``--precision bf16``
    accels = {"fp32": Accel(device, amp=False, channels_last=True), "bf16": Accel(device, amp=True, channels_last=True)}
    ours_models = {k: prepare_model(copy.deepcopy(model), a) for k, a in accels.items()}
    variants = reference_variants(cuda)
    best: dict[str, float] = {}
    warm = items[:batch]
    for k, a in accels.items():
        ours(warm, ours_models[k], a, cfg["resize"], cfg["crop"], batch, 0)  # warm-up: oneDNN/cudnn plans
    for _ in range(max(1, args.rounds)):
        for name, (cl, dtype) in variants.items():
            speed = reference_eval(loader, ref_models[cl], device, cl, dtype)
            best[name] = max(best.get(name, 0.0), speed)
        for k, a in accels.items():
            speed = ours(items, ours_models[k], a, cfg["resize"], cfg["crop"], batch, workers)
            best[f"ours {k}"] = max(best.get(f"ours {k}", 0.0), speed)
    for name in variants:
        print(f"reference loop {name:<34} {best[name]:8.1f} images/s")
    # each precision against the reference in the same precision: a bf16 or fp16 forward gives other numbers
    same = {"fp32": [n for n, (_, dtype) in variants.items() if dtype is None],
            "bf16": [n for n, (_, dtype) in variants.items() if dtype is not None]}
    ratios = {}
    for k, flag in (("fp32", "(default)"), ("bf16", "--precision bf16")):
        base_name = max(same[k], key=lambda n: best[n])
        ratios[k] = best[f"ours {k}"] / best[base_name]
        print(f"curate evaluate {flag:<32} {best[f'ours {k}']:8.1f} images/s  = {ratios[k]:.2f}x the fastest "
              f"reference variant in the same precision ({base_name})")
    if cuda:
        print(target_line("eval_gpu_vs_reference", ratios["bf16"], 1.0, "x"))
        print(target_line("eval_gpu_resnet50_images_per_s", best["ours bf16"], 5000, " img/s"))
    else:
        print(target_line("eval_cpu_vs_reference", ratios["fp32"], CPU_TARGET, "x"))
        print(target_line("eval_cpu_bf16_vs_reference_bf16", ratios["bf16"], CPU_TARGET, "x"))


if __name__ == "__main__":
    main()
