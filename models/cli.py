"""``curate train``, ``curate evaluate``, ``curate corrupt`` and ``curate report``."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import click

from curation.errors import CurateError

SHIPPED_RECIPES = sorted(p.stem for p in (Path(__file__).resolve().parent / "recipes").glob("*.toml"))


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


def _exports(ctx: click.Context, param: click.Parameter, value):
    """Folders as Paths, object-store URLs (s3://...) as they are."""
    from curation.objstore import is_url

    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(v if is_url(v) else Path(v) for v in value)
    return value if is_url(value) else Path(value)


@click.command()
@click.option("--recipe", "recipe_name", required=True, help="Built-in recipe name or a .toml file. Built in: "
              + ", ".join(SHIPPED_RECIPES) + ".")
@click.option("--train", "train_exports", multiple=True, required=True, callback=_exports,
              help="Frozen export to train on: a folder or an object-store URL whose shards stream "
                   "(s3://bucket/exports/NAME); repeat to concatenate (classes align by key).")
@click.option("--val", callback=_exports, help="Frozen export scored after every epoch (a folder or a URL).")
@click.option("--aug", help="Augmentation(s), '+'-joined: none, speckle, random-erasing, augmix, "
              "style-transfer, noise2net, deepaugment-online (default: the recipe's).")
@click.option("--aug-opt", multiple=True, metavar="METHOD.KEY=VALUE", help="An augmentation option.")
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE", help="Override a recipe field (e.g. "
              "init=scratch, init=PATH, precision=bf16, decode=draft).")
@click.option("--model", help="Architecture (default: the recipe's).")
@click.option("--epochs", type=int, help="Epochs (default: the recipe's).")
@click.option("--batch-size", type=int, help="Total batch size over all processes.")
@click.option("--lr", type=float, help="Peak learning rate (default: the recipe's).")
@click.option("--seed", type=int, help="Seed of weights, data order and augmentations (default: the recipe's).")
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
    accel = Accel(dev, recipe.amp and dev.type == "cuda", recipe.channels_last, recipe.compile)  # CPU: fp32
    last = run_train(recipe, data, run_dir, accel, dist, progress=True)
    finish_distributed()
    if dist.main:
        from models.runs import CONFIG, read_json

        start = read_json(Path(run_dir) / CONFIG).get("start", {})
        val_text = "".join(f", val {n}: " + ", ".join(f"{k} {v:.3f}" for k, v in r.items() if k != "n")
                           for n, r in last.get("val", {}).items())
        click.echo(f"trained {recipe.model} ({recipe.aug}; start {start.get('init', recipe.init)}, head "
                   f"{start.get('head', '?')}; {recipe.precision}) for {recipe.epochs} epochs on {len(data.dataset)} "
                   f"images ({len(data.classes)} classes): train loss {last.get('train_loss', float('nan')):.3f}"
                   f"{val_text}; run folder {run_dir}")


@click.command()
@click.argument("set_args", nargs=-1, type=str, metavar="[EXPORT[:SUBSET]]...")
@click.option("--sets", "sets_opt", multiple=True, metavar="EXPORT[:SUBSET]", help="Exports to evaluate on.")
@click.option("--model", help="Architecture (resnet50, se-resnet50, any torchvision/timm name); "
              "checkpoints know their own.")
@click.option("--weights", help="Local weights (torchvision/timm state dict or a curate checkpoint), or "
              "library weights by name: torchvision:IMAGENET1K_V1, timm:TAG.")
@click.option("--checkpoint", type=click.Path(path_type=Path), help="A curate run folder (or checkpoint file).")
@click.option("--iid", multiple=True, metavar="EXPORT[:SUBSET]", help="Sets that are in-distribution (default: "
              "subsets named val/iid/test_iid).")
@click.option("--out", type=click.Path(path_type=Path), help="Evaluation folder for results.json, predictions/ and "
              "confusion/ (default: the run folder of --checkpoint, else runs/eval-MODEL-WEIGHTS).")
@click.option("--overwrite", is_flag=True, help="Replace results already in --out for these sets (or an evaluation "
              "of other weights or settings there) instead of refusing.")
@click.option("--resize", type=int, help="Resize shorter side, not for ImageNet-C sets (default: the checkpoint's "
              "recipe, else 256).")
@click.option("--crop", type=int, help="Centre crop, not for ImageNet-C sets (default: the checkpoint's recipe, "
              "else 224).")
@click.option("--squash/--no-squash", default=None, help="Resize to RESIZE x RESIZE without keeping the aspect, no "
              "crop (DFR's evaluation; default: the checkpoint's recipe).")
@click.option("--decode", type=click.Choice(["full", "draft"]), default="full", show_default=True,
              help="JPEG decoding: full resolution (the release), or Pillow's faster DCT draft (not the same pixels).")
@click.option("--batch-size", default=256, show_default=True, help="Images per forward pass.")
@click.option("--workers", default=4, show_default=True, help="GPU: DataLoader workers. CPU: parallel "
              "decode+forward streams, at most one per core (0: one stream in this thread).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--compile", "use_compile", is_flag=True, help="torch.compile the model (CUDA only).")
@click.option("--no-channels-last", is_flag=True, help="Keep the contiguous memory layout.")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
              help="fp32 as the release evaluates; bf16 autocast is faster on a GPU and on CPUs with bf16 "
              "instructions (AMX, AVX512-BF16), and may move a borderline prediction.")
@click.option("--fp32", is_flag=True, hidden=True, help="Same as --precision fp32 (the default).")
@click.option("--no-verify", is_flag=True, help="Skip the SHA256SUMS check of the exports.")
@click.option("--quiet", is_flag=True, help="No progress bar (there is none when stderr is not a terminal).")
def evaluate(set_args, sets_opt, model, weights, checkpoint, iid, out, overwrite, resize, crop, squash, decode,
             batch_size, workers, device, use_compile, no_channels_last, precision, fp32, no_verify, quiet) -> None:
    """Score a model on frozen exports with the paper's protocols; print the table rows; write results.json,
    per-image predictions (predictions/SET.csv) and confusion counts (confusion/SET.csv).

    \b
    Example:
      curate evaluate --model resnet50 --weights resnet50.pth --sets exports/imagenet-r exports/imagenet-200 \\
          --iid exports/imagenet-200
      curate evaluate --checkpoint runs/tiny-cpu-augmix-s0 --sets exports/renditions exports/photos-c
    """
    from models.preflight import read_set

    sets = list(sets_opt) + list(set_args)
    if not sets:
        raise CurateError("name the exports to evaluate on: --sets EXPORT [EXPORT...]")
    if checkpoint and weights:
        raise CurateError("give --weights or --checkpoint, not both")
    if not checkpoint and not weights:
        raise CurateError("give --weights PATH (torchvision/timm state dict) or --checkpoint RUN")
    for spec in sets:  # cheap checks first: no torch, no model
        read_set(spec)
    source, recipe, start = _eval_source(model, weights, checkpoint)
    out = out or (source.parent if checkpoint else Path("runs") / _default_eval_name(model, weights))
    resize = resize if resize is not None else recipe.get("eval_resize", 256)
    crop = crop if crop is not None else recipe.get("eval_crop", 224)
    squash = squash if squash is not None else recipe.get("eval_squash", False)
    _run_evaluation(source, model, sets, out, iid, overwrite, resize, crop, squash, decode == "draft", batch_size,
                    workers, device, use_compile, no_channels_last, precision == "bf16" and not fp32, not no_verify,
                    quiet, recipe.get("aug", ""), start)


def _eval_source(model, weights, checkpoint):
    """(weights source, the checkpoint's recipe, where the weights started), refusing an unknown --model or a
    missing file before anything is loaded."""
    from models.registry import check_architecture
    from models.runs import read_json, resolve_checkpoint

    source = resolve_checkpoint(checkpoint) if checkpoint else _weights_source(weights)
    if checkpoint and not source.is_file():
        raise CurateError(f"{checkpoint} holds no {source.name}: give a run folder that curate train wrote")
    if isinstance(source, Path) and not source.is_file():
        raise CurateError(f"weights file {source} is not on disk; nothing is downloaded here. Copy the "
                          "torchvision/timm state dict (or a curate checkpoint) to that path first")
    if model:
        try:
            check_architecture(model)
        except ValueError as exc:
            raise CurateError(str(exc)) from exc
    elif not checkpoint and isinstance(source, str):
        raise CurateError(f"say which architecture {source} is for with --model")
    recipe, start = {}, "" if checkpoint else _loaded_source(model, source)
    config_path = source.parent / "config.json" if checkpoint else None
    if config_path is not None and config_path.exists():
        config = read_json(config_path)
        recipe, start = config["recipe"], config.get("start", {}).get("init", config["recipe"].get("init", ""))
    return source, recipe, start


def _default_eval_name(model, weights) -> str:
    """runs/eval-MODEL-WEIGHTS: beside the training runs, so ``curate report runs/*`` finds it."""
    stem = str(weights).replace(":", "-") if ":" in str(weights) and not Path(weights).exists() else Path(weights).stem
    return "-".join(x for x in ("eval", model or "", stem) if x).replace("/", "-")


def _run_evaluation(source, model, sets, out, iid, overwrite, resize, crop, squash, draft, batch_size, workers,
                    device, use_compile, no_channels_last, amp, check, quiet, aug, start) -> None:
    import sys

    from models.accel import Accel, pick_device
    from models.evaluate import eval_settings, evaluate_sets
    from models.preflight import check_heads, plan_evaluation, verify_plan, weights_outputs
    from models.registry import load_model

    accel = Accel(pick_device(device), amp=amp, channels_last=not no_channels_last, compile=use_compile)
    n_outputs, classes = weights_outputs(model, source)
    plan = plan_evaluation(sets, out, _loaded_source(model, source), eval_settings(resize, crop, squash, draft, accel),
                           overwrite, check=False)
    check_heads(plan, n_outputs, classes)
    if check:
        verify_plan(plan)  # hashing changed files: after the cheaper checks, before the model
    try:
        loaded = load_model(model, source)
    except ValueError as exc:
        raise CurateError(str(exc)) from exc
    with _Bar(disable=quiet or not sys.stderr.isatty()) as bar:
        results = evaluate_sets(loaded, sets, accel, out, resize, crop, batch_size, workers, iid, check, aug=aug,
                                squash=squash, draft=draft, start=start, overwrite=overwrite, plan=plan, progress=bar)
    _print_results(results, {k for p in plan.exports for k in p.keys}, out)
    click.echo(f"evaluated {loaded.arch} ({loaded.source}) on {len(plan.exports)} export(s); results in "
               f"{Path(out) / 'results.json'}, per-image predictions in {Path(out) / 'predictions'}")


def _loaded_source(model, source) -> str:
    """The ``weights`` string ``load_model`` will record, known before loading."""
    if isinstance(source, str):
        kind, _, tag = source.partition(":")
        return f"{kind}:{model}.{tag}"
    return str(source)


class _Bar:
    """A rich progress bar on stderr, one task per set (``models.evaluate.Progress``)."""

    def __init__(self, disable: bool):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=Console(stderr=True), transient=True,
                                 disable=disable)
        self.task = None

    def start(self, name: str, total: int) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(name, total=total)

    def advance(self, n: int) -> None:
        self.progress.advance(self.task, n)

    def __enter__(self) -> "_Bar":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)


def _weights_source(weights: str):
    """A local weights file as a Path; library weights by name (torchvision:..., timm:...) as they are."""
    from models.registry import is_named_weights

    return weights if is_named_weights(weights) else Path(weights)


def _print_results(results: dict, new: set[str], out: Path) -> None:
    from models.predictions import worst_classes
    from models.report import build_table, to_markdown

    for name, r in results["sets"].items():
        if name not in new:
            continue
        main = (f"weighted PR-AUC (released DFR metric) {100 * r['dfr_weighted_pr_auc']:.1f}"
                if "dfr_weighted_pr_auc" in r else f"error {100 * r['error']:.1f}")
        top5 = f", top-5 error {100 * r['top5_error']:.1f}" if r.get("top5_error") is not None \
            and r.get("outputs", 0) > 5 else ""
        speed = f", {r['images_per_s']:.0f} images/s" if r.get("images_per_s") else ""
        click.echo(f"{name} [{r['kind']}, {r['role']}]: n {r['n']}, {main}{top5}, calibration RMS "
                   f"{100 * r['calibration_rms']:.1f}, AURRA {100 * r['aurra']:.1f}{speed}")
        worst = worst_classes(r.get("per_class", {}), 3)
        if worst:
            click.echo("  lowest class accuracy: " + ", ".join(f"{k} {100 * a:.0f}% of {n}" for k, a, n in worst))
        if r.get("predictions"):
            click.echo(f"  per-image predictions: {Path(out) / r['predictions']} (correct = 0 marks a failure)")
    for kind in ("imagenet-r", "svsf", "dfr", "imagenet-c"):
        header, rows = build_table(kind, [results])
        if rows:
            click.echo(f"\n{kind}:\n" + to_markdown(header, rows))


@click.command()
@click.argument("export", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New folder for the corrupted export.")
@click.option("--subset", "subsets", multiple=True, help="Subsets to corrupt (default: all but train).")
@click.option("--corruptions", default="all", help="Comma-separated corruption names, or 'all' (the 15).")
@click.option("--severities", default="1,2,3,4,5", show_default=True, help="Comma-separated severities (1-5).")
@click.option("--seed", default=0, show_default=True, help="Seed of the random corruptions.")
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
@click.option("--table", "kinds", multiple=True, type=click.Choice(["imagenet-r", "svsf", "dfr", "imagenet-c"]),
              help="Which table (repeat for several; default: every table the results have rows for).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              help="Folder for report-TABLE.{md,csv,tex,png}.")
def report(runs, kinds, out) -> None:
    """Build the paper's tables from evaluations (Markdown, CSV, LaTeX) and an IID-vs-OOD plot.

    RUNS are evaluation folders (holding results.json, as curate evaluate writes them) or folders of them.

    \b
    Example:
      curate report runs/*
      curate report runs/baseline runs/augmix --table imagenet-r --out reports/
    """
    from models.report import write_reports

    reports, skipped = write_reports(kinds, runs, out)
    if skipped:
        click.echo(f"no results.json in {len(skipped)} of the paths (not evaluated): "
                   + ", ".join(str(p) for p in skipped[:5]) + (" ..." if len(skipped) > 5 else ""))
    for result in reports:
        click.echo(f"{result['kind']}:\n{result['markdown']}")
        fit = result["fit"]
        if fit:
            click.echo(f"fit OOD = {fit['slope']:.2f} x IID {fit['intercept']:+.1f}")
        if result["plot_note"]:
            click.echo(f"plot: {result['plot_note']}")
        click.echo(f"wrote {', '.join(str(p) for p in result['paths'].values())}\n")
