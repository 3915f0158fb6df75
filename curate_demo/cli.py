"""``curate demo``: the whole pipeline offline, on the embedded default (SQLite, local store).

emulated Flickr -> scrape -> download -> filters (duplicates, bad images, contamination) -> HITs ->
simulated crowd over HTTP -> aggregation -> scripted review -> Mini-R split -> frozen export + verify
-> train (baseline, AugMix, Noise2Net) -> corrupted copy -> evaluate -> report.

This is the demo's composition root (``docs/architecture.md``): the one module that wires the stages of
every package together. ``curation.cli`` loads it, like every command, only when ``curate demo`` runs;
nothing else in the shipped packages imports ``curate_demo``.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import click

from curate_demo.crowdlab import crowdlab_demo
from curate_demo.filters import filter_demo
from curate_demo.labeling import labeling_demo
from curate_demo.mini_r import mini_r_stage
from curate_demo.scrape import demo_scrape
from curate_demo.training import run_models_demo

MARKER = ".curate-demo"
MINI_R_OOD = ("sketch", "cartoon", "painting", "origami")

@dataclass(frozen=True)
class DemoSize:
    """How much the demo does; ``small`` is the CI test's size."""

    photo_per_class: int
    per_cell: int
    epochs: int
    severities: tuple[int, ...]


SIZES = {
    "full": DemoSize(photo_per_class=60, per_cell=16, epochs=8, severities=(1, 2, 3, 4, 5)),
    "small": DemoSize(photo_per_class=24, per_cell=8, epochs=2, severities=(3,)),
}


def prepare_folder(out: Path) -> None:
    """Start from an empty folder: an earlier demo's folder is replaced, anything else is refused."""
    from curation.errors import CurateError

    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise CurateError(f"{out} exists and is not a curate demo folder; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by curate demo; replaced by the next run\n")


class Steps:
    """Numbered progress lines with the time each step took."""

    def __init__(self, total: int):
        self.total, self.number, self.started = total, 0, time.perf_counter()
        self.times: list[tuple[str, float]] = []

    def run(self, title: str, fn: Callable[[], Any]) -> Any:
        self.number += 1
        click.secho(f"\n[{self.number}/{self.total}] {title}", bold=True)
        start = time.perf_counter()
        result = fn()
        self.times.append((title, time.perf_counter() - start))
        click.echo(f"  ({self.times[-1][1]:.1f}s)")
        return result

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-workspace"),
              help="Folder for the demo workspace (an earlier demo's folder is replaced).")
@click.option("--size", type=click.Choice(sorted(SIZES)), default="full",
              help="'small' runs every stage on less data (the CI test uses it).")
@click.pass_context
def demo(ctx: click.Context, out: Path, size: str) -> None:
    """Run the whole pipeline offline: scrape an emulated Flickr, filter, label with a simulated crowd,
    review, split (Mini-R), export, train, evaluate and report.

    \b
    Example:
      curate demo --out demo-workspace
    """
    import torch

    from curation.cli import CliContext
    from curation.commands import init, status

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    cfg = SIZES[size]
    out = out.resolve()
    prepare_folder(out)
    obj: CliContext = ctx.obj
    obj.workspace = str(out)
    steps = Steps(9)
    steps.run(f"workspace {out}", lambda: ctx.invoke(init, directory=out))
    settings, engine = obj.settings(), obj.engine()
    scraped = steps.run("scrape the emulated Flickr (5 classes x 5 styles) and download", lambda: demo_scrape(
        settings, engine, per_cell=cfg.per_cell, photo_per_cell=cfg.photo_per_class))
    click.echo(f"  {scraped['summary']}")
    filtered = steps.run("filters: quality, exact/near/mirrored duplicates, contamination vs the reference set",
                         lambda: filter_demo(settings, engine, Path(scraped["reference_dir"]),
                                                 Path(scraped["ground_truth"]), echo=click.echo))
    labeled = steps.run("label: HITs with hidden gold, a simulated crowd over HTTP, aggregation, scripted review",
                        lambda: labeling_demo(settings, engine, echo=click.echo, max_classes=5))
    steps.run("CROWDLAB: crowd + out-of-fold model, doubt order, active collection (measured on a simulated crowd)",
              lambda: crowdlab_demo(settings, engine, echo=click.echo, small=size == "small"))
    exports = steps.run("split Mini-R (train on photos, test on renditions), export, verify",
                        lambda: mini_r_stage(engine, settings.root, settings.store_path, out / "exports",
                                                echo=click.echo))
    mini_r = exports["mini-r"]
    ood = f"{mini_r}:{','.join(MINI_R_OOD)}"
    models = steps.run("train ResNet-18 (baseline, AugMix, Noise2Net), corrupt, evaluate, report",
                       lambda: run_models_demo(mini_r, [ood], out / "models", epochs=cfg.epochs,
                                               augs=("none", "augmix", "noise2net"), severities=cfg.severities,
                                               echo=click.echo))
    steps.run("status", lambda: ctx.invoke(status))
    _summary(out, steps, filtered, labeled, exports, models)


def _summary(out: Path, steps: Steps, filtered: dict, labeled: dict, exports: dict, models: dict) -> None:
    click.secho(f"\ndemo finished in {steps.elapsed / 60:.1f} min", bold=True)
    click.echo(f"  filters caught {filtered['caught']} of {filtered['planted']} planted problems, with "
               f"{filtered['false_duplicates']} false duplicate rejection(s) (details: {filtered['report']})")
    click.echo(f"  crowd: {labeled['submitted']} HITs submitted, {labeled['accepted']} images accepted")
    for name, path in sorted(exports.items()):
        click.echo(f"  export {name}: {path}")
    for table, path in sorted(models.get("report_paths", {}).items()):
        click.echo(f"  report {table}: {path}")
    click.echo(f"  Mini-R (IID error, rendition error, gap per method):\n{models.get('mini_r', '')}")
    click.echo(f"\nopen the labeling app:  curate --workspace {out} serve\n"
               f"  then visit {labeled['invite_url']}")
