"""``curate deepaugment``: train clean EDSR/CAE weights on your images, and generate distorted exports."""

from __future__ import annotations

from pathlib import Path

import click

DEFAULT_DIR = Path("deepaugment")


def _default_weights(method: str) -> Path:
    return DEFAULT_DIR / f"{method}.pt"


def _location(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | str | None:
    """A folder as a Path, an object-store URL (s3://...) as it is."""
    from curation.objstore import is_url

    return value if value is None or is_url(value) else Path(value)


@click.group("deepaugment")
def deepaugment() -> None:
    """DeepAugment: clean image-to-image networks (fit) and their distorted copies of an export (generate)."""


@deepaugment.command("fit")
@click.argument("network", type=click.Choice(["edsr", "cae"]))
@click.option("--train", "train", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Frozen export whose images to learn from.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Weight file to write (default: deepaugment/<network>.pt).")
@click.option("--steps", default=300, help="Optimiser steps (a re-run continues from the checkpoint).")
@click.option("--batch", default=8, help="Crops per step.")
@click.option("--patch", default=0, help="HR crop (EDSR, default 96) or patch size (CAE, default 128).")
@click.option("--n-feats", default=64, help="EDSR width (64 = the published baseline).")
@click.option("--subset", default="train", help="Subset of the export to use.")
@click.option("--seed", default=0, help="Seed of the crop and noise generator.")
@click.option("--device", default="cpu", help="Torch device, e.g. cuda.")
def fit_cmd(network: str, train: Path, out: Path | None, steps: int, batch: int, patch: int, n_feats: int,
            subset: str, seed: int, device: str) -> None:
    """Train clean NETWORK (edsr or cae) weights on an export's images; short and resumable.

    \b
    Example:
      curate deepaugment fit edsr --train exports/imagenet-r-train --steps 500
      curate deepaugment fit cae --train exports/imagenet-r-train --out weights/cae.pt
    """
    from rich.progress import Progress

    from models.deepaugment.fit import FitConfig, fit

    out = out or _default_weights(network)
    cfg = FitConfig(network, steps=steps, batch=batch, patch=patch, n_feats=n_feats, subset=subset, seed=seed,
                    device=device)
    with Progress(transient=True) as bar:
        task = bar.add_task(f"fit {network}", total=steps)
        def show(step: int, loss: float) -> None:
            bar.update(task, completed=step, description=f"fit {network} loss {loss:.4g}")

        result = fit(cfg, train, out, on_step=show)
    m = result["metrics"]
    click.echo(f"{network}: {m['steps']} steps on {m['images']} images, loss {m['first_loss']:.4g} -> "
               f"{m['final_loss']:.4g}; weights: {out}")


@deepaugment.command("generate")
@click.option("--method", type=click.Choice(["edsr", "cae"]), required=True, help="Which network to distort.")
@click.option("--train", "train", required=True, callback=_location,
              help="Frozen export to copy: a folder or an object-store URL (s3://bucket/exports/NAME).")
@click.option("--out", required=True, callback=_location,
              help="Folder or object-store URL of the new export (a killed run resumes here).")
@click.option("--weights", default=None, callback=_location,
              help="Clean weights: the published edsr_baseline_x4.pt / model_final.state, or `fit` output "
                   "(default: deepaugment/<method>.pt); a URL for a cluster whose nodes share no disk.")
@click.option("--subset", default="train", help="Subset of the export to copy.")
@click.option("--seed", default=0, help="Run seed (each shard draws from seed and shard index).")
@click.option("--mode", type=click.Choice(["faithful", "intended"]), default="faithful", show_default=True,
              help="faithful: the released code, quirks included; intended: its five quirks corrected "
                   "(docs/deepaugment.md).")
@click.option("--intended", is_flag=True, help="Same as --mode intended.")
@click.option("--resample", default=0.05, help="Probability of a fresh network before each image.")
@click.option("--side", default=None, type=int, help="Shorter side fed to the network (default 128 EDSR, 512 CAE).")
@click.option("--shard-size", default=64, help="Images per shard (the unit of work and of resumption).")
@click.option("--batch", default=8, help="Images per batched pass.")
@click.option("--workers", default=None, type=int, help="Local worker processes (default: all cores).")
@click.option("--ray", default=None, is_flag=False, flag_value="auto", metavar="[auto|ADDRESS]",
              help="Run shards as Ray tasks (auto: join or start a cluster).")
@click.option("--device", default="cpu", help="Torch device of each worker, e.g. cuda (Ray gives each task a GPU).")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "auto"]), default="fp32", show_default=True,
              help="What the networks compute in: fp32 is the released arithmetic; bf16 is faster on a GPU and "
                   "differs by JPEG-level noise; auto is bf16 on a GPU, fp32 on a CPU. Recorded in the export.")
def generate_cmd(method: str, train: Path | str, out: Path | str, weights: Path | str | None, subset: str, seed: int, mode: str,
                 intended: bool, resample: float, side: int | None, shard_size: int, batch: int, workers: int | None,
                 ray: str | None, device: str, precision: str) -> None:
    """Write a distorted copy of every image of an export as a new export (same classes, same labels).

    \b
    Example:
      curate deepaugment generate --method edsr --train exports/train --out exports/train-edsr
      curate deepaugment generate --method cae --train exports/train --out exports/train-cae \\
          --weights model_final.state --ray auto --device cuda
    """
    from rich.progress import Progress

    from curation.errors import CurateError
    from curation.objstore import is_url
    from models.deepaugment.generate import GenerateConfig, generate
    from splits.remote import read_export_at

    weights = weights or _default_weights(method)
    if not is_url(train) and not Path(train).is_dir():
        raise CurateError(f"--train {train}: no such export folder")
    if not is_url(weights) and not Path(weights).is_file():
        raise CurateError(f"no weights at {weights}: pass --weights PATH or train them with "
                          f"`curate deepaugment fit {method} --train {train}`")
    if side is not None and side < 4:
        raise CurateError(f"--side {side} is too small: the networks need a shorter side of at least 4 pixels")
    faithful = mode == "faithful" and not intended
    cfg = GenerateConfig(method, str(weights), subset=subset, seed=seed, faithful=faithful, resample=resample,
                         side=side, shard_size=shard_size, batch=batch, device=device, precision=precision)
    total = len(read_export_at(train).subset(subset))
    with Progress(transient=True) as bar:
        task = bar.add_task(f"deepaugment {method}", total=total)
        result = generate(cfg, train, out, ray=ray, workers=workers,
                          on_shard=lambda shard: bar.advance(task, len(shard["rows"]) + len(shard["failed"])))
    click.echo(f"{method}: {result.written} images in {out} ({result.shards_run} shards run, "
               f"{result.shards_skipped} resumed, {len(result.failed)} failed)")
