"""``curate demo``: the offline demo on the embedded default (SQLite, local store).

Each pipeline stage adds its step here as it lands; today the demo creates a workspace, imports a
generated sample folder and prints ``curate status``.
"""

from __future__ import annotations

from pathlib import Path

import click

SAMPLE_CLASSES = ("goldfish", "hammerhead", "pizza", "ambulance", "teddy")


def write_sample_folder(root: Path, per_class: int = 12, seed: int = 0) -> Path:
    """A small labeled folder of generated images (one sub-folder per class) plus two bad files."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    for k, name in enumerate(SAMPLE_CLASSES):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = Image.new("RGB", (160, 120), tuple(int(v) for v in rng.integers(0, 255, 3)))
            draw = ImageDraw.Draw(img)
            x, y = int(rng.integers(10, 80)), int(rng.integers(10, 50))
            color = tuple(int(v) for v in rng.integers(0, 255, 3))
            shape = [draw.ellipse, draw.rectangle, draw.pieslice, draw.chord, draw.rounded_rectangle][k]
            if shape in (draw.pieslice, draw.chord):
                shape((x, y, x + 60, y + 60), 30, 300, fill=color)
            else:
                shape((x, y, x + 70, y + 50), fill=color)
            img.save(folder / f"{name}_{i:02d}.jpg", quality=90)
    (root / "notes.txt").write_text("not an image\n")
    (root / SAMPLE_CLASSES[0] / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return root


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-workspace"),
              help="Folder for the demo workspace (reused if it exists).")
@click.pass_context
def demo(ctx: click.Context, out: Path) -> None:
    """Run the offline demo: a workspace, a generated sample folder imported, the status table.

    \b
    Example:
      curate demo --out demo-workspace
    """
    from curation.cli import CliContext
    from curation.commands import import_cmd, init, status

    out = out.resolve()
    click.echo(f"[1/3] workspace {out}")
    ctx.invoke(init, directory=out)
    obj: CliContext = ctx.obj
    obj.workspace = str(out)
    samples = write_sample_folder(out / "samples")
    click.echo(f"[2/3] importing generated samples from {samples}")

    ctx.invoke(import_cmd, directory=samples, class_set="imagenet-r", label_from_folder=True, license_="CC0-1.0",
               batch=200)
    click.echo("[3/3] status")
    ctx.invoke(status)
    click.echo(f"\ndemo workspace: {out}\ntry:  curate --workspace {out} status")

