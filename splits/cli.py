"""Commands: ``splits build|list|show``, ``dfr ingest``, ``export``, ``verify``."""

from __future__ import annotations

from pathlib import Path

import click

from curation.cli import CliContext, with_lock
from curation.clikit import list_command, pass_cli, print_findings, print_table

WIDE = 160  # console width of the split tables: many subset columns stay unwrapped in logs and pipes


def print_report(report: dict, show_classes: bool = False) -> None:
    """Sizes per subset, per attribute value, classes (min/max or all), and what was dropped."""
    sizes = report.get("sizes", {})
    subsets = list(sizes)
    print_table("images per subset", ["subset", "images", "classes", "min/class", "max/class"],
                [(s, n, len(report["classes"].get(s, {})), min(report["classes"].get(s, {0: 0}).values(), default=0),
                  max(report["classes"].get(s, {0: 0}).values(), default=0)) for s, n in sizes.items()], WIDE)
    attrs = sorted({a for s in subsets for a in report.get("attributes", {}).get(s, {})})
    for attr in attrs:
        values = sorted({v for s in subsets for v in report["attributes"][s].get(attr, {})})
        print_table(f"images per {attr}", [attr, *subsets],
                    [(v, *(report["attributes"][s].get(attr, {}).get(v, 0) for s in subsets)) for v in values], WIDE)
    if show_classes:
        keys = list(dict.fromkeys(k for s in subsets for k in report["classes"].get(s, {})))
        print_table("images per class", ["class", *subsets],
                    [(k, *(report["classes"][s].get(k, 0) for s in subsets)) for k in keys], WIDE)
    options = "held out by the spec's options (group disjointness, size caps, fractions)"
    for title, key in (("left out", "dropped"), (options, "held_out")):
        if report.get(key):
            print_table(title, ["reason", "images"], sorted(report[key].items()), WIDE)


@click.group()
def splits() -> None:
    """Build split specs into train / IID test / OOD test sets; list and show them."""


@splits.command("build")
@click.argument("spec")
@click.option("--metadata", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Metadata table (CSV or Parquet) for table-based specs (svsf, dfr, generic).")
@click.option("--images-root", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder the table's image paths are relative to (default: the table's folder).")
@click.option("--name", help="Save the split under this name (default: the spec's name).")
@click.option("--replace", is_flag=True, help="Rebuild an existing split of the same name (refused once exported).")
@click.option("--classes", "show_classes", is_flag=True, help="Also print the count of every class.")
@click.option("--labels-from", type=click.Choice(["reviewed", "source"]),
              help="Database splits: take labels from the review pass (reviewed) or from the import's folder "
                   "names / scrape queries (source), overriding the spec's labels.from.")
@click.option("--include-rejected", is_flag=True,
              help="Keep images the filters or reviews rejected (duplicates, reference copies, bad quality); "
                   "the build report and every export's card say so.")
@pass_cli
def splits_build(cli: CliContext, spec: str, metadata: Path | None, images_root: Path | None, name: str | None,
                 replace: bool, show_classes: bool, labels_from: str | None, include_rejected: bool) -> None:
    """Build SPEC (a .toml file or a preset: imagenet-r, mini-r, in200, svsf, dfr, dfr-concat, generic) and save it.

    The build is deterministic: the same inputs and seed give the same assignment on SQLite and PostgreSQL.

    \b
    Examples:
      curate splits build imagenet-r
      curate splits build imagenet-r --labels-from source     # labels from the imported folder names
      curate splits build svsf --metadata storefronts.parquet --images-root /data/svsf
      curate splits build my_spec.toml --metadata table.csv --name my-split-v2
    """
    import time

    from curation.db.session import session_scope
    from splits.pipeline import build_and_save
    from splits.spec import load_spec, preset_names

    loaded = load_spec(spec)
    changes = {**({"labels.from": labels_from} if labels_from else {}),
               **({"export.include_rejected": True} if include_rejected else {})}
    if changes:
        loaded = loaded.with_options(**changes)
    start = time.perf_counter()
    with session_scope(cli.engine()) as session:
        split_id, result = build_and_save(session, loaded, cli.settings().root, metadata, images_root, name,
                                          replace, spec if spec in preset_names() else None)
    print_report(result.report, show_classes)
    _screening_lines(result.report.get("screening") or {})
    total = sum(result.report["sizes"].values())
    click.echo(f"split {name or loaded.name} (id {split_id}): {total} memberships in "
               f"{len(result.report['sizes'])} subsets, seed {loaded.seed}, {time.perf_counter() - start:.1f} s")


def _screening_lines(screening: dict) -> None:
    """What the filters said about a table's images: rejects kept by override, images never filtered."""
    if screening.get("include_rejected") and screening.get("rejected"):
        click.echo(f"warning: kept {screening['rejected']} image(s) the filters or reviews rejected "
                   "(include_rejected); every export's card says so", err=True)
    if screening.get("not_in_workspace"):
        click.echo(f"note: {screening['not_in_workspace']} of the table's {screening.get('images', 0)} images were "
                   "never imported or filtered in this workspace, so no filter judged them "
                   "(curate import DIR; curate filter)", err=True)


list_command(splits, "List the built splits with their sizes and exports.", "splits",
             ["name", "kind", "seed", "subsets", "memberships", "exports"], "splits.persist:split_rows", width=WIDE)


@splits.command("show")
@click.argument("name")
@click.option("--classes", "show_classes", is_flag=True, help="Also print the count of every class.")
@pass_cli
def splits_show(cli: CliContext, name: str, show_classes: bool) -> None:
    """Show the report of split NAME: sizes per subset, class and attribute value; exports made.

    \b
    Example:
      curate splits show svsf --classes
    """
    from sqlalchemy import select

    from curation.db.models import Export
    from curation.db.session import session_scope
    from splits.persist import get_split

    with session_scope(cli.engine()) as session:
        split = get_split(session, name)
        report, spec_sha, seed = dict(split.report), split.spec_sha256, split.seed
        exports = [(e.version, e.format, e.n_images, e.path) for e in session.scalars(
            select(Export).where(Export.split_id == split.id).order_by(Export.version))]
    click.echo(f"split {name}: kind {report.get('kind', 'db')}, seed {seed}, spec sha256 {spec_sha}")
    print_report(report, show_classes)
    if exports:
        print_table("exports", ["version", "format", "images", "path"], exports, WIDE)


@click.group()
def dfr() -> None:
    """DeepFashion Remixed: ingest DeepFashion2 annotation folders."""


@dfr.command("ingest")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("dfr_items.parquet"),
              help="Item table to write (.parquet or .csv).")
@click.option("--skip-bad", is_flag=True, help="Ingest the other files when some are not valid JSON or lack "
              "required keys (each skipped file is listed and counted); without it such files stop the ingest.")
def dfr_ingest(root: Path, out: Path, skip_bad: bool) -> None:
    """Read every DeepFashion2 annotation file under ROOT (train/annos/*.json, validation/annos/*.json) into
    an item table.

    An item with a scale, occlusion, zoom_in or viewpoint outside 1-3 is kept and matches no subset; the
    other items of its image still count. Such values are counted per attribute and value.

    \b
    Example:
      curate dfr ingest /data/deepfashion2 --out dfr_items.parquet
      curate splits build dfr --metadata dfr_items.parquet --images-root /data/deepfashion2
    """
    from splits.dfr import ingest, write_items

    result = ingest(root)
    bad = sorted(result.bad_files.items())
    if bad and not skip_bad:
        for rel, reason in bad[:20]:
            click.echo(f"bad annotation {rel}: {reason}", err=True)
        more = f" (first 20 listed, {len(bad) - 20} more)" if len(bad) > 20 else ""
        raise click.ClickException(f"{len(bad)} of {result.files} annotation files under {root} are not valid JSON "
                                   f"or lack required keys{more}; fix them, or pass --skip-bad to ingest the rest "
                                   "without them. Nothing was written")
    for rel, reason in bad:
        click.echo(f"skipped {rel}: {reason}", err=True)
    if not result.rows:
        raise click.ClickException(f"no usable DeepFashion2 item under {root} ({result.files} JSON files, "
                                   f"{len(bad)} bad); ROOT should hold train/annos and validation/annos")
    _print_out_of_range(result.out_of_range)
    if result.images.get(""):
        click.echo(f"note: {result.images['']} images are not under <split>/annos (train, validation); the dfr "
                   "presets select by split: pass the DeepFashion2 root that holds train/ and validation/", err=True)
    path = write_items(result, out)
    images = ", ".join(f"{split or '(no split folder)'} {n}" for split, n in sorted(result.images.items()))
    notes = "".join(f", {n} {what}" for n, what in ((result.without_items, "without items"),
                                                     (result.without_pair_id, "without pair_id")) if n)
    click.echo(f"ingested {len(result.rows)} items of {sum(result.images.values())} images ({images}{notes}) "
               f"from {result.files} files{f' ({len(bad)} bad files skipped)' if bad else ''} -> {path}\n"
               f"next:  curate splits build dfr --metadata {path} --images-root {root.resolve()}")


def _print_out_of_range(counts) -> None:
    """Items with values outside the valid range, per attribute and value."""
    if not counts:
        return
    attrs = sorted({a for a, _ in counts if a != "category_id"})
    if attrs:
        click.echo("items with a value outside 1-3 (kept: they match no subset; their images' other items count):")
        for attr in attrs:
            click.echo(f"  {attr}: " + ", ".join(f"{v} x{n}" for (a, v), n in sorted(counts.items()) if a == attr))
    cats = [(v, n) for (a, v), n in sorted(counts.items()) if a == "category_id"]
    if cats:
        click.echo("items with a category_id outside 1-13 (left out: no class): "
                   + ", ".join(f"{v} x{n}" for v, n in cats))


@click.command("export")
@click.argument("split")
@click.option("--format", "fmt", type=click.Choice(["imagefolder", "webdataset", "parquet", "csv"]),
              default="imagefolder", help="Layout of the export.")
@click.option("--out", required=True,
              help="New folder, or object-store URL (s3://bucket/exports/NAME), for the export "
                   "(an existing export is never overwritten).")
@click.option("--link", is_flag=True, help="Hard-link images instead of copying where the file system allows.")
@click.option("--shard-size", default=5000, help="Images per WebDataset shard.")
@pass_cli
@with_lock("export", "export")
def export(cli: CliContext, split: str, fmt: str, out: str, link: bool, shard_size: int) -> None:
    """Export SPLIT as a frozen folder: images, manifest.csv, SHA256SUMS, spec, classes.csv, README.md card.

    Images refused by the spec's license allow-list, a filter or the review are left out and counted.

    \b
    Example:
      curate export svsf --format imagefolder --out exports/svsf-v1
      curate verify exports/svsf-v1
      curate export svsf --format webdataset --out s3://my-bucket/exports/svsf-v1
    """
    from rich.progress import Progress

    from curation.db.session import session_scope
    from curation.objstore import is_url
    from splits.pipeline import export_named
    from splits.remote import staging, upload

    with staging(out) as local, session_scope(cli.engine()) as session, Progress(transient=True) as progress:
        task = progress.add_task(f"exporting {split}", total=None)
        summary, version = export_named(session, split, fmt, local, cli.settings().root, cli.settings().store_path,
                                        link, lambda n: progress.advance(task, n), shard_size,
                                        record_as=out if is_url(out) else None)
        if is_url(out):
            upload(summary.out, out)
    for reason, count in summary.refused.items():
        click.echo(f"refused {count}: {reason}")
    click.echo(f"exported {split} v{version} ({fmt}): {summary.n_rows} images, "
               f"{sum(summary.refused.values())} refused -> {out if is_url(out) else summary.out}")


@click.command("verify")
@click.argument("directory")
@click.option("--quick", is_flag=True, help="Check presence and the manifest only; do not re-hash.")
def verify(directory: str, quick: bool) -> None:
    """Recompute an export's checksums and check its manifest; exit 1 on anything missing, altered or extra.

    \b
    Example:
      curate verify exports/svsf-v1
      curate verify s3://my-bucket/exports/svsf-v1
    """
    from curation.objstore import is_url
    from splits.frozen import ExportError
    from splits.frozen import verify as verify_export
    from splits.remote import verify_url

    if not is_url(directory) and not Path(directory).is_dir():
        raise click.BadParameter(f"folder {directory!r} does not exist", param_hint="'DIRECTORY'")
    try:
        result = verify_url(directory, not quick) if is_url(directory) else verify_export(Path(directory),
                                                                                           rehash=not quick)
    except ExportError as exc:
        raise click.ClickException(str(exc)) from exc
    print_findings(result, ("missing", "altered", "extra", "inconsistent"))
    click.echo(f"checked {result.checked} files: {len(result.missing)} missing, {len(result.altered)} altered, "
               f"{len(result.extra)} extra, {len(result.inconsistent)} inconsistent -> "
               f"{'OK' if result.ok else 'FAILED'}")
    if not result.ok:
        raise SystemExit(1)
