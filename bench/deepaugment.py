"""DeepAugment throughput: the batched per-image path against the released one-image-at-a-time loop.

Both paths distort the same images with the same perturbed networks (the released 0.05 re-sampling
schedule, so the loop reloads weights only when the network changes) and the same activation draws;
the loop is ``EDSR/CAE.forward`` on one image at a time, as ``*_distort_imagenet.py`` does.

    python bench/deepaugment.py --quick        # small smoke run on CPU
    python bench/deepaugment.py                # CPU run at the on-the-fly sizes (224 px crops)
    python bench/deepaugment.py --threads 1    # the same, steadier on a machine shared with other work
    python bench/deepaugment.py --gpu          # GPU: same comparison (>= 10x), Noise2Net's cost as a
                                               # fraction of a ResNet-50 bf16 training step at batch
                                               # 256, 224 px (<= 15%), batched EDSR generation images/s

Targets: batched / loop images/s >= 2x on CPU; >= 10x on a GPU (printed only with --gpu and CUDA), measured
where the batched path is used, inside training: 224 px crops (EDSR from a 56 px copy, CAE at 224), on the
released 0.05 schedule (the loop's own). The loop is the released one, one image at a time in fp32. The
batched path is timed twice, at fp32 (the default: the gain from batching, channels-last layout and the
folded EDSR tail) and at bf16 (the gain with reduced precision added, and its pixel difference), each
against the loop measured in the same run; a TARGET line is printed for each, and a NOTE says so when only
bf16 meets a target. ``--extra`` adds one fresh network per image (re-sampling 1.0, what
``deepaugment-online`` does by default) and EDSR at the static-generation size (128 px in).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any, Callable

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[int], Any], device: torch.device, repeats: int = 3, warm: int = 2) -> tuple[float, Any]:
    """Best of ``repeats`` timed runs of ``fn(n_all)`` after a warm-up on the first ``warm`` images (allocator,
    cuDNN autotune, oneDNN primitives); returns the time and the last run's output."""
    if warm:
        fn(warm)
    best, out = float("inf"), None
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        out = fn(-1)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best, out


def interleaved(paths: dict[str, Callable[[int], Any]], device: torch.device, repeats: int) -> dict[str, tuple]:
    """Best time and output of each path over ``repeats`` rounds that run every path in turn, so that a
    shared machine's changing load falls on all of them alike (warm-up: one round on 2 images)."""
    best: dict[str, tuple] = {}
    for name, fn in paths.items():
        fn(2)
    for _ in range(repeats):
        for name, fn in paths.items():
            t, out = timed(fn, device, 1, warm=0)
            if name not in best or t < best[name][0]:
                best[name] = (t, out)
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
                 precision: str = "fp32") -> torch.Tensor:
    from models.deepaugment.batched import run_batched

    with torch.no_grad():
        return torch.cat([run_batched(method, states[i:i + batch], x[i:i + batch], None, True, acts[i:i + batch],
                                      precision=precision) for i in range(0, len(states), batch)])


def compare(method: str, n: int, side: int, batch: int, device: torch.device, rate: float = 0.05,
            repeats: int = 3) -> dict[str, float]:
    """Images/s of the released one-image fp32 loop, the batched path at fp32 and the batched path at bf16,
    on the same networks (re-sampled with probability ``rate``) and draws; the two gains are each against
    the loop measured here."""
    model, states, x, acts = setup(method, n, side, device, rate)
    part = lambda k: slice(0, n if k < 0 else k)  # noqa: E731
    paths = {"loop": lambda k: reference_loop(method, model, states[part(k)], x[part(k)], acts[part(k)]),
             "fp32": lambda k: batched_path(method, states[part(k)], x[part(k)], acts[part(k)], batch, "fp32"),
             "bf16": lambda k: batched_path(method, states[part(k)], x[part(k)], acts[part(k)], batch, "bf16")}
    best = interleaved(paths, device, repeats)
    (t_loop, ref), (t_fp32, fp32), (t_bf16, bf16) = best["loop"], best["fp32"], best["bf16"]
    exact, err = float((ref - fp32).abs().max()), (ref - bf16).abs()
    p99 = float(err.flatten().kthvalue(max(1, int(0.99 * err.numel()))).values)
    print(f"{method} {device.type}: {n} images at {side} px, batch {batch}, re-sampling {rate:g}: "
          f"released loop (fp32) {n / t_loop:.2f} img/s; batched fp32 {n / t_fp32:.2f} img/s "
          f"({t_loop / t_fp32:.2f}x, max |diff| {exact:.1e}); batched bf16 {n / t_bf16:.2f} img/s "
          f"({t_loop / t_bf16:.2f}x, {t_fp32 / t_bf16:.2f}x batched fp32; "
          f"mean |diff| {255 * float(err.mean()):.2f}/255, "
          f"99th pct {255 * p99:.1f}/255)", flush=True)
    return {"fp32": t_loop / t_fp32, "bf16": t_loop / t_bf16}


def run_device(device: torch.device, quick: bool, n: int, batch: int, goal: float,
               extra: bool) -> list[tuple[str, float, float]]:
    """On-the-fly sizes (224 px crops: EDSR from 56 px, CAE at 224) carry the targets, on the released
    0.05 schedule; with ``extra``, fresh networks per image (1.0) and the static generation size too."""
    edsr_side, cae_side = (24, 64) if quick else (56, 224)
    kind, repeats = device.type, 3 if device.type == "cpu" else 5
    lines = []
    for method, side in (("edsr", edsr_side), ("cae", cae_side)):
        gains = compare(method, n, side, batch, device, repeats=repeats)
        lines += [(f"deepaugment-batched-{kind}-{method}-fp32", gains["fp32"], goal),
                  (f"deepaugment-batched-{kind}-{method}-bf16", gains["bf16"], goal)]
    if extra:
        compare("edsr", n, edsr_side, batch, device, rate=1.0, repeats=repeats)
        compare("cae", n, cae_side, batch, device, rate=1.0, repeats=repeats)
        compare("edsr", n // 2, 128, batch, device, repeats=repeats)  # static generation: 128 px in, 512 out
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

    t_step, _ = timed(lambda k: step(), device, repeats)
    t_aug, _ = timed(lambda k: augment(), device, repeats)
    print(f"noise2net {device.type}: ResNet-50 bf16 step at batch {batch}, {side} px: {t_step * 1000:.1f} ms; "
          f"Noise2Net on half the batch: {t_aug * 1000:.1f} ms ({100 * t_aug / t_step:.1f}% of a step)")
    return t_aug / t_step


def edsr_generation(n: int, batch: int, device: torch.device) -> float:
    model, states, x, acts = setup("edsr", n, 128, device)
    t, _ = timed(lambda k: batched_path("edsr", states[:k] if k > 0 else states, x[:k] if k > 0 else x,
                                         acts[:k] if k > 0 else acts, batch), device, warm=batch)
    print(f"edsr generation {device.type}: {n / t:.1f} images/s (fp32, 128 px in, 512 px out, batch {batch})")
    return n / t


def verdicts(lines: list[tuple[str, float, float]]) -> list[str]:
    """A plain sentence per method saying which precision meets the target, then the TARGET lines."""
    notes, targets = [], []
    for fp32, bf16 in zip(lines[::2], lines[1::2]):
        name, goal = fp32[0].removesuffix("-fp32"), fp32[2]
        if fp32[1] >= goal:
            notes.append(f"NOTE {name}: batching at fp32 meets the {goal:g}x target ({fp32[1]:.3f}x)")
        elif bf16[1] >= goal:
            notes.append(f"NOTE {name}: only bf16 meets the {goal:g}x target ({bf16[1]:.3f}x); "
                         f"batching at fp32 gives {fp32[1]:.3f}x")
        else:
            notes.append(f"NOTE {name}: neither batching at fp32 ({fp32[1]:.3f}x) nor bf16 ({bf16[1]:.3f}x) "
                         f"meets the {goal:g}x target")
    for name, value, goal in lines:
        targets.append(f"TARGET {name}: {value:.3f}x (target >= {goal:g}x) {'met' if value >= goal else 'missed'}")
    return notes + targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--gpu", action="store_true", help="the GPU figures and targets instead of the CPU ones")
    parser.add_argument("--extra", action="store_true", help="also re-sampling 1.0 and the static generation size")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads (default: torch's); 1 is steadier on a machine shared with other work")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lines: list[tuple[str, float, float]] = []
    if not args.gpu:
        print(f"cpu: {torch.get_num_threads()} threads, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        lines = run_device(torch.device("cpu"), args.quick, 8, 8, 2.0, args.extra)
    elif not torch.cuda.is_available():
        print("--gpu: no CUDA device; GPU figures and targets not measured")
    else:
        gpu = torch.device("cuda")
        torch.backends.cudnn.benchmark = True
        lines = run_device(gpu, args.quick, 64 if args.quick else 256, 32, 10.0, args.extra)
        frac = noise2net_fraction(64 if args.quick else 256, 224, gpu, 3 if args.quick else 10)
        edsr_generation(64 if args.quick else 512, 32, gpu)
        verdict = "met" if frac <= 0.15 else "missed"
        print(f"TARGET noise2net-cost-fraction: {100 * frac:.1f}% (target <= 15%) {verdict}")
    if not args.gpu:
        print(f"cpu load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for line in verdicts(lines):
        print(line)


if __name__ == "__main__":
    main()
