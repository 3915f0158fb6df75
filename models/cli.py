"""``curate train``, ``curate evaluate``, ``curate corrupt`` and ``curate report``."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import click

from curation.errors import CurateError


def _kv(pairs: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CurateError(f"{what} takes KEY=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def aug_options(pairs: tuple[str, ...]) -> dict[str, dict]:
    """'augmix.severity=3' -> {'augmix': {'severity': 3}}."""
    out: dict[str, dict] = {}
    for key, value in _kv(pairs, "--aug-opt").items():
        name, sep, option = key.partition(".")
        if not sep:
            raise CurateError(f"--aug-opt keys are METHOD.OPTION (e.g. augmix.severity=3), got {key!r}")
        out.setdefault(name, {})[option] = _value(value)
    return out


@click.command()
@click.option("--recipe", "recipe_name", required=True, help="Built-in recipe name (imagenet200, svsf, dfr, "
              "tiny-cpu, tiny-dfr-cpu) or a .toml file.")
@click.option("--train", "train_exports", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Frozen export to train on (repeat to concatenate; classes align by key).")
@click.option("--val", type=click.Path(path_type=Path), help="Frozen export scored after every epoch.")
@click.option("--aug", help="Augmentation(s), '+'-joined: none, speckle, random-erasing, augmix, "
              "style-transfer, noise2net, deepaugment-online (default: the recipe's).")
@click.option("--aug-opt", multiple=True, metavar="METHOD.KEY=VALUE", help="An augmentation option.")
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE", help="Override a recipe field.")
@click.option("--model", help="Architecture (default: the recipe's).")
@click.option("--epochs", type=int)
@click.option("--batch-size", type=int, help="Total batch size over all processes.")
@click.option("--lr", type=float)
@click.option("--seed", type=int)
@click.option("--workers", type=int, help="DataLoader workers per process.")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder (default runs/RECIPE-AUG-sSEED); a "
              "folder holding a checkpoint of the same run is resumed.")
@click.option("--device", default="auto", help="auto, cpu, cuda or cuda:N (torchrun sets the GPU per process).")
@click.option("--no-verify", is_flag=True, help="Skip the SHA256SUMS check of the exports.")
def train(recipe_name, train_exports, val, aug, aug_opt, sets, model, epochs, batch_size, lr, seed, workers, out,
          device, no_verify) -> None:
    """Train a model on frozen exports with a recipe; checkpoints every epoch and resumes after a kill.

    \b
    Example:
      curate train --recipe tiny-cpu --train exports/photos --val exports/photos-val --aug augmix
      torchrun --nproc_per_node 8 -m curation train --recipe imagenet200 --train exports/in200 --aug augmix
    """
    from models.accel import Accel, pick_device
    from models.recipe import load_recipe
    from models.train import finish_distributed, init_distributed, load_train_data, train as run_train

    flags = dict(model=model, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, workers=workers, aug=aug)
    overrides: dict = {**_kv(sets, "--set"), **{k: v for k, v in flags.items() if v is not None}}
    opts = aug_options(aug_opt)
    if opts:
        overrides["aug_options"] = opts
    try:
        recipe = load_recipe(recipe_name, overrides)
    except ValueError as exc:
        raise CurateError(str(exc)) from exc
    dev = pick_device(device)
    if dev.type == "cuda" and "LOCAL_RANK" in os.environ:  # torchrun: one GPU per process, set before NCCL
        import torch

        dev = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(dev)
    dist = init_distributed(dev.type)
    run_dir = out or Path("runs") / f"{recipe.name}-{recipe.aug.replace('+', '_')}-s{recipe.seed}"
    try:
        data = load_train_data(recipe, list(train_exports), val, check=not no_verify)
    except ValueError as exc:
        raise CurateError(str(exc)) from exc
    accel = Accel(dev, recipe.amp, recipe.channels_last, recipe.compile)
    last = run_train(recipe, data, run_dir, accel, dist, progress=True)
    finish_distributed()
    if dist.main:
        val_text = "".join(f", val {n}: " + ", ".join(f"{k} {v:.3f}" for k, v in r.items() if k != "n")
                           for n, r in last.get("val", {}).items())
        click.echo(f"trained {recipe.model} ({recipe.aug}) for {recipe.epochs} epochs on {len(data.dataset)} images "
                   f"({len(data.classes)} classes): train loss {last.get('train_loss', float('nan')):.3f}{val_text}; "
                   f"run folder {run_dir}")


@click.command()
@click.argument("set_args", nargs=-1, type=str, metavar="[EXPORT[:SUBSET]]...")
@click.option("--sets", "sets_opt", multiple=True, metavar="EXPORT[:SUBSET]", help="Exports to evaluate on.")
@click.option("--model", help="Architecture (resnet50, se-resnet50, any torchvision/timm name); "
              "checkpoints know their own.")
@click.option("--weights", type=click.Path(path_type=Path), help="Local weights (torchvision/timm state dict or "
              "a curate checkpoint).")
@click.option("--checkpoint", type=click.Path(path_type=Path), help="A curate run folder (or checkpoint file).")
@click.option("--iid", multiple=True, metavar="EXPORT[:SUBSET]", help="Sets that are in-distribution (default: "
              "subsets named val/iid/test_iid).")
@click.option("--out", type=click.Path(path_type=Path), help="Where results.json goes (default: the run folder "
              "of --checkpoint, else eval-MODEL).")
@click.option("--resize", default=256, show_default=True, help="Resize shorter side (not for ImageNet-C sets).")
@click.option("--crop", default=224, show_default=True, help="Centre crop (not for ImageNet-C sets).")
@click.option("--batch-size", default=256, show_default=True)
@click.option("--workers", default=4, show_default=True, help="GPU: DataLoader workers. CPU: parallel "
              "decode+forward streams, at most one per core (0: one stream in this thread).")
@click.option("--device", default="auto")
@click.option("--compile", "use_compile", is_flag=True, help="torch.compile the model (CUDA only).")
@click.option("--no-channels-last", is_flag=True, help="Keep the contiguous memory layout.")
@click.option("--fp32", is_flag=True, help="No bf16 autocast on the GPU (the reference evaluates in fp32).")
@click.option("--no-verify", is_flag=True, help="Skip the SHA256SUMS check of the exports.")
def evaluate(set_args, sets_opt, model, weights, checkpoint, iid, out, resize, crop, batch_size, workers, device,
             use_compile, no_channels_last, fp32, no_verify) -> None:
    """Score a model on frozen exports with the paper's protocols; print the table rows; write results.json.

    \b
    Example:
      curate evaluate --model resnet50 --weights resnet50.pth --sets exports/imagenet-r exports/imagenet-200 \\
          --iid exports/imagenet-200
      curate evaluate --checkpoint runs/tiny-cpu-augmix-s0 --sets exports/renditions exports/photos-c
    """
    from models.accel import Accel, pick_device
    from models.evaluate import evaluate_sets
    from models.registry import load_model
    from models.runs import read_json, resolve_checkpoint

    sets = list(sets_opt) + list(set_args)
    if not sets:
        raise CurateError("name the exports to evaluate on: --sets EXPORT [EXPORT...]")
    if checkpoint and weights:
        raise CurateError("give --weights or --checkpoint, not both")
    source = resolve_checkpoint(checkpoint) if checkpoint else weights
    if source is None:
        raise CurateError("give --weights PATH (torchvision/timm state dict) or --checkpoint RUN")
    try:
        loaded = load_model(model, source)
    except ValueError as exc:
        raise CurateError(str(exc)) from exc
    out = out or (source.parent if checkpoint else Path(f"eval-{loaded.arch}"))
    aug = ""
    config_path = source.parent / "config.json"
    if checkpoint and config_path.exists():
        aug = read_json(config_path)["recipe"]["aug"]
    accel = Accel(pick_device(device), amp=not fp32, channels_last=not no_channels_last, compile=use_compile)
    results = evaluate_sets(loaded, sets, accel, out, resize, crop, batch_size, workers, iid, not no_verify,
                            aug=aug)
    _print_results(results)
    click.echo(f"evaluated {loaded.arch} on {len(results['sets'])} set(s); results in {Path(out) / 'results.json'}")


def _print_results(results: dict) -> None:
    from models.report import build_table, to_markdown

    for name, r in results["sets"].items():
        main = f"mAP {100 * r['mAP']:.1f}" if "mAP" in r else f"error {100 * r['error']:.1f}"
        click.echo(f"{name} [{r['kind']}, {r['role']}]: n {r['n']}, {main}, calibration RMS "
                   f"{100 * r['calibration_rms']:.1f}, AURRA {100 * r['aurra']:.1f}")
    for kind in ("imagenet-r", "svsf", "dfr", "imagenet-c"):
        header, rows = build_table(kind, [results])
        if rows:
            click.echo(f"\n{kind}:\n" + to_markdown(header, rows))


@click.command()
@click.argument("export", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New folder for the corrupted export.")
@click.option("--subset", "subsets", multiple=True, help="Subsets to corrupt (default: all but train).")
@click.option("--corruptions", default="all", help="Comma-separated corruption names, or 'all' (the 15).")
@click.option("--severities", default="1,2,3,4,5", show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--resize", default=256, show_default=True, help="Resize shorter side first (0: keep).")
@click.option("--crop", default=224, show_default=True, help="Then centre crop (0: keep each size; evaluate "
              "such a set with --batch-size 1).")
@click.option("--frost-dir", type=click.Path(path_type=Path), help="Folder with imagecorruptions' frost1-5 images.")
@click.option("--workers", type=int, help="Processes (default: all cores).")
def corrupt(export, out, subsets, corruptions, severities, seed, resize, crop, frost_dir, workers) -> None:
    """Make an ImageNet-C style copy of EXPORT: 15 corruptions x severities 1-5, as a new frozen export.

    \b
    Example:
      curate corrupt exports/photos-val --out exports/photos-val-c
      curate corrupt exports/photos-val --out exports/quick-c --corruptions gaussian_noise,fog --severities 3
    """
    from rich.progress import Progress

    from models.corrupt import make_corrupted_export
    from models.metrics import CORRUPTIONS
    from splits.frozen import read_export

    names = list(CORRUPTIONS) if corruptions == "all" else [c.strip() for c in corruptions.split(",") if c.strip()]
    try:
        levels = [int(s) for s in severities.split(",") if s.strip()]
    except ValueError as exc:
        raise CurateError(f"--severities takes numbers 1-5, e.g. 1,3,5 (got {severities!r})") from exc
    src = read_export(export)
    total = sum(1 for r in src.rows if (r.subset in subsets if subsets else r.subset != "train"))
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("corrupting", total=total)
            for n in make_corrupted_export(export, out, subsets or None, names, levels, seed, resize, crop,
                                           quality=85, frost_dir=frost_dir, workers=workers):
                progress.advance(task, n)
    except ValueError as exc:
        raise CurateError(str(exc)) from exc
    made = read_export(out)
    click.echo(f"corrupted {total} images x {len(names)} corruptions x {len(levels)} severities -> "
               f"{len(made.rows)} images in {out} (frost texture: {made.info['frost_texture']}, "
               f"failures: {sum(made.info['failures'].values())})")


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--table", "kind", required=True, type=click.Choice(["imagenet-r", "svsf", "dfr", "imagenet-c"]))
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True)
def report(runs, kind, out) -> None:
    """Build one of the paper's tables from evaluated runs (Markdown, CSV, LaTeX) and an IID-vs-OOD plot.

    \b
    Example:
      curate report runs/baseline runs/augmix --table imagenet-r --out reports/
    """
    from models.report import write_report

    result = write_report(kind, runs, out)
    click.echo(result["markdown"])
    fit = result["fit"]
    line = f"fit OOD = {fit['slope']:.2f} x IID {fit['intercept']:+.1f}; " if fit else ""
    click.echo(f"{line}wrote {', '.join(str(p) for p in result['paths'].values())}")
