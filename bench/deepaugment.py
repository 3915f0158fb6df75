"""DeepAugment throughput: the batched per-image path against the released one-image-at-a-time loop.

Both paths distort the same images with the same perturbed networks (the released 0.05 re-sampling
schedule, so the loop reloads weights only when the network changes) and the same activation draws;
the loop is ``EDSR/CAE.forward`` on one image at a time, as ``*_distort_imagenet.py`` does.

    python bench/deepaugment.py --quick        # small smoke run on CPU
    python bench/deepaugment.py                # full CPU run at the on-the-fly sizes (224 px crops)
    python bench/deepaugment.py --gpu          # GPU: same comparison (>= 10x), Noise2Net's cost as a
                                               # fraction of a ResNet-50 bf16 training step at batch
                                               # 256, 224 px (<= 15%), batched EDSR generation images/s

Targets: batched / loop images/s >= 2x on CPU; >= 10x on a GPU (printed only with --gpu and CUDA), measured
where the batched path is used, inside training: 224 px crops (EDSR from a 56 px copy, CAE at 224), on the
released 0.05 schedule (the loop's own). The loop runs in fp32 as released; the batched path runs at its
default precision (bf16 on a GPU or a CPU with native bf16, else fp32), and its fp32 speed and the bf16
pixel difference are printed beside it: on a compute-bound CPU most of the gain is bf16, not batching. Also printed: one fresh network per image (re-sampling 1.0, what
``deepaugment-online`` does by default; the loop has no such mode, it reloads weights per image) and
EDSR at the static-generation size (128 px in), where a CPU is compute-bound and batching gains little.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device, repeats: int = 3) -> float:
    """Best of ``repeats`` timed runs after a warm-up (robust to a busy machine)."""
    fn()  # warm-up (allocator, cuDNN autotune, oneDNN primitives)
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def setup(method: str, n: int, side: int, device: torch.device, rate: float = 0.05, seed: int = 0):
    from models.deepaugment import batched as B
    from models.deepaugment import cae, edsr
    from models.deepaugment.distortions import ResamplingChain

    torch.manual_seed(seed)
    model = (edsr.EDSR() if method == "edsr" else cae.CAE()).to(device).eval()
    clean = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator(device).manual_seed(seed)
    chain = ResamplingChain(method, clean, g, rate=rate)
    states = [chain.next() for _ in range(n)]
    x = torch.rand(n, 3, side, side, generator=g, device=device)
    acts = B.sample_acts(method, g, n, B.act_shape(method, x), True)
    return model, states, x, acts


def reference_loop(method: str, model: torch.nn.Module, states: list, x: torch.Tensor, acts: list) -> torch.Tensor:
    """The released loop: load a network when it changes, then one image through ``forward``."""
    outs, loaded = [], None
    with torch.no_grad():
        for i, state in enumerate(states):
            if state is not loaded:
                model.load_state_dict(state)
                loaded = state
            if method == "edsr":
                outs.append(model(x[i:i + 1] * 255, pre=acts[i][0], body=acts[i][1]).clamp(0, 255) / 255)
            else:
                outs.append(model(x[i:i + 1], op=acts[i]).clamp(0, 1))
    return torch.cat(outs)


def batched_path(method: str, states: list, x: torch.Tensor, acts: list, batch: int,
                 precision: str = "auto") -> torch.Tensor:
    from models.deepaugment.batched import run_batched

    with torch.no_grad():
        return torch.cat([run_batched(method, states[i:i + batch], x[i:i + batch], None, True, acts[i:i + batch],
                                      precision=precision) for i in range(0, len(states), batch)])


def compare(method: str, n: int, side: int, batch: int, device: torch.device, rate: float = 0.05) -> float:
    """Images/s of both paths on the same networks (re-sampled with probability ``rate``) and draws: the
    loop as released (fp32), our path at its default precision and, for reference, at fp32."""
    from models.deepaugment.batched import compute_dtype

    model, states, x, acts = setup(method, n, side, device, rate)
    dtype = str(compute_dtype(device)).removeprefix("torch.")
    t_loop = timed(lambda: reference_loop(method, model, states, x, acts), device)
    t_batch = timed(lambda: batched_path(method, states, x, acts, batch), device)
    ref = reference_loop(method, model, states, x, acts)
    diff = (ref - batched_path(method, states, x, acts, batch, "fp32")).abs()
    same = f"{100 * float((diff <= 1e-3).float().mean()):.3f}%"  # wild networks amplify fp32 rounding
    line = (f"{method} {device.type}: {n} images at {side} px, batch {batch}, re-sampling {rate:g}: "
            f"loop (fp32) {n / t_loop:.2f} img/s, batched ({dtype}) {n / t_batch:.2f} img/s, "
            f"speed-up {t_loop / t_batch:.2f}x")
    if dtype != "float32":
        t_fp32 = timed(lambda: batched_path(method, states, x, acts, batch, "fp32"), device)
        err = (ref - batched_path(method, states, x, acts, batch)).abs()
        line += (f"; batched at fp32 {n / t_fp32:.2f} img/s ({t_loop / t_fp32:.2f}x); {dtype} vs the fp32 loop: "
                 f"mean |diff| {255 * float(err.mean()):.2f}/255, 99th pct {255 * float(err.flatten().kthvalue(int(0.99 * err.numel())).values):.1f}/255")
    print(line + f"; fp32 pixels equal to 1e-3: {same}")
    return t_loop / t_batch


def run_device(device: torch.device, quick: bool, n: int, batch: int, goal: float) -> list[tuple[str, float, float]]:
    """On-the-fly sizes (224 px crops: EDSR from 56 px, CAE at 224) carry the targets, on the released
    0.05 schedule; fresh networks per image (1.0) and the static generation size are reported too."""
    edsr_side, cae_side = (24, 64) if quick else (56, 224)
    kind = device.type
    lines = [(f"deepaugment-batched-{kind}-edsr", compare("edsr", n, edsr_side, batch, device), goal),
             (f"deepaugment-batched-{kind}-cae", compare("cae", n, cae_side, batch, device), goal)]
    compare("edsr", n, edsr_side, batch, device, rate=1.0)
    compare("cae", n, cae_side, batch, device, rate=1.0)
    if not quick:
        compare("edsr", n // 2, 128, batch, device)  # static generation: 128 px in, 512 out
    return lines


def noise2net_fraction(batch: int, side: int, device: torch.device, repeats: int) -> float:
    import torchvision

    from models.deepaugment.noise2net import Noise2Net

    model = torchvision.models.resnet50().to(device).to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    x = torch.rand(batch, 3, side, side, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device=device)
    g = torch.Generator(device).manual_seed(0)
    n2n = Noise2Net()

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def augment() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            n2n(x, g)

    t_step, t_aug = timed(step, device, repeats), timed(augment, device, repeats)
    print(f"noise2net {device.type}: ResNet-50 bf16 step at batch {batch}, {side} px: {t_step * 1000:.1f} ms; "
          f"Noise2Net on half the batch: {t_aug * 1000:.1f} ms ({100 * t_aug / t_step:.1f}% of a step)")
    return t_aug / t_step


def edsr_generation(n: int, batch: int, device: torch.device) -> float:
    model, states, x, acts = setup("edsr", n, 128, device)
    t = timed(lambda: batched_path("edsr", states, x, acts, batch), device)
    print(f"edsr generation {device.type}: {n / t:.1f} images/s (128 px in, 512 px out, batch {batch})")
    return n / t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--gpu", action="store_true", help="the GPU figures and targets instead of the CPU ones")
    args = parser.parse_args()
    lines: list[tuple[str, float, float]] = []
    if not args.gpu:
        lines = run_device(torch.device("cpu"), args.quick, 8 if args.quick else 32, 8 if args.quick else 16, 2.0)
    elif not torch.cuda.is_available():
        print("--gpu: no CUDA device; GPU figures and targets not measured")
    else:
        gpu = torch.device("cuda")
        torch.backends.cudnn.benchmark = True
        lines = run_device(gpu, args.quick, 64 if args.quick else 256, 32, 10.0)
        frac = noise2net_fraction(64 if args.quick else 256, 224, gpu, 3 if args.quick else 10)
        edsr_generation(64 if args.quick else 512, 32, gpu)
        verdict = "met" if frac <= 0.15 else "missed"
        print(f"TARGET noise2net-cost-fraction: {100 * frac:.1f}% (target <= 15%) {verdict}")
    for name, value, goal in lines:
        print(f"TARGET {name}: {value:.2f}x (target >= {goal:g}x) {'met' if value >= goal else 'missed'}")


if __name__ == "__main__":
    main()
