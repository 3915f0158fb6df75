"""Core commands: init, status, import, classes, db, store."""

from __future__ import annotations

from pathlib import Path

import click

from curation.cli import CliContext, with_lock
from curation.clikit import pass_cli, print_findings, print_table


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def init(ctx: click.Context, directory: Path) -> None:
    """Create a workspace in DIRECTORY: curate.toml, the database (migrated) and store/.

    \b
    Example:
      curate init my-benchmark
    """
    from curation.config import load_settings
    from curation.db.session import connect, safe_url, session_scope, upgrade
    from curation.taxonomy import BUILTIN_CLASS_SETS, ensure_class_set
    from curation.workspace import create_workspace

    obj: CliContext = ctx.obj
    root = create_workspace(directory)
    settings = load_settings(root, {"db_url": obj.db})
    engine = connect(settings.database_url)
    from curation.cli import check_revision

    check_revision(engine, settings.database_url, for_upgrade=True)
    upgrade(engine)
    with session_scope(engine) as session:
        for name in BUILTIN_CLASS_SETS:
            ensure_class_set(session, name)
    click.echo(f"workspace ready: {root}\ndatabase: {safe_url(settings.database_url)}\n"
               f"next:  cd {directory} && curate import DIR --class-set imagenet-r --label-from-folder   "
               "(DIR/<class>/<image>; or: curate scrape)")


@click.command()
@pass_cli
def status(cli: CliContext) -> None:
    """Counts per pipeline stage: candidates, downloaded, rejected by reason, HITs, labels, splits, exports.

    \b
    Example:
      curate status
    """
    from curation.db.session import session_scope
    from curation.status import rejection_reasons, stage_counts

    with session_scope(cli.engine()) as session:
        stages = stage_counts(session)
        reasons = rejection_reasons(session)
    print_table(f"curate status: {cli.settings().root}", ["stage", "count"], stages)
    if reasons:
        print_table("rejected, by reason", ["stage", "reason", "count"], reasons)


@click.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--class-set", default="imagenet-r", help="Class set the images belong to.")
@click.option("--label-from-folder", is_flag=True,
              help="Take each image's class from its top-level sub-folder (matched by key, name or --map).")
@click.option("--path-fields", metavar="LEVELS",
              help="What each folder level under DIRECTORY means, '/'-separated: 'class', an attribute name, or "
                   "'-' to skip a level; e.g. 'rendition/class' for DIR/sketch/goldfish/1.jpg.")
@click.option("--attributes", "attributes_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with a 'path' column (relative to DIRECTORY) and one column per attribute "
                   "(a 'class' column sets the label).")
@click.option("--set", "fixed", multiple=True, metavar="KEY=VALUE",
              help="Give every imported image this attribute, e.g. --set rendition=sketch (repeatable).")
@click.option("--map", "aliases", multiple=True, metavar="FOLDER=CLASS",
              help="Read the folder name FOLDER as class CLASS (key or name), e.g. --map lighthouse=beacon.")
@click.option("--license", "license_", default=None, help="License to record (default: the workspace's).")
@click.option("--batch", default=200, help="Files per committed batch (a killed import resumes from here).")
@click.option("--copy", "copy_files", is_flag=True,
              help="Copy files into the store even where a hard link is possible (a linked file edited in place "
                   "also changes the stored image; `curate store verify` reports it).")
@click.option("--workers", type=int, help="Processes that read, check and hash files (default: all cores).")
@pass_cli
@with_lock("images", "import")
def import_cmd(cli: CliContext, directory: Path, class_set: str, label_from_folder: bool, path_fields: str | None,
               attributes_csv: Path | None, fixed: tuple[str, ...], aliases: tuple[str, ...], license_: str | None,
               batch: int, copy_files: bool, workers: int | None) -> None:
    """Add the images under DIRECTORY as candidates (source 'folder'), one per distinct content.

    Identical files are merged into one candidate (and counted); a rerun adds nothing new but applies
    the labels and attributes this run gives (so renaming a folder or adding --map relabels);
    unreadable or non-image files are recorded as rejected with a reason.

    \b
    Examples:
      curate import ~/renditions --class-set imagenet-r --label-from-folder
      curate import ~/renditions --path-fields rendition/class        # DIR/sketch/goldfish/1.jpg
      curate import ~/sketches --label-from-folder --set rendition=sketch --map lighthouse=beacon
    """
    from rich.progress import Progress

    from curation.db.session import session_scope
    from curation.ingest.folder import ImportOptions, ImportStats, class_lookup, iter_files
    from curation.ingest.options import parse_options
    from curation.ingest.pipeline import filter_hashing, import_folder
    from curation.taxonomy import get_class_set

    if batch < 1 or (workers is not None and workers < 1):
        raise click.UsageError("--batch and --workers must be at least 1")
    settings, store, engine = cli.settings(), cli.store(), cli.engine()
    root = directory.resolve()
    fields, table, fixed_attrs, alias_map = parse_options(label_from_folder, path_fields, attributes_csv, fixed,
                                                          aliases)
    skipped: dict[str, int] = {}
    files = list(iter_files(root, skipped))
    stats = ImportStats()
    with session_scope(engine) as session:
        lookup = class_lookup(session, get_class_set(session, class_set)) if "class" in fields or table else None
    options = ImportOptions(lookup, fields, table, fixed_attrs, alias_map, license_ or settings.default_license,
                            settings.max_image_bytes, settings.max_image_pixels, link=not copy_files,
                            hash=filter_hashing(settings), workers=workers)
    with Progress(transient=True) as progress:
        task = progress.add_task("importing", total=len(files))
        import_folder(engine, store, root, files, stats, options, batch, lambda n: progress.advance(task, n))
    _import_summary(cli, stats, root, class_set, skipped)


def _import_summary(cli: CliContext, stats, root: Path, class_set: str, skipped: dict[str, int]) -> None:
    from curation.db.session import session_scope
    from curation.taxonomy import get_class_set
    from curation.taxonomy.suggest import suggestion_lines, synonyms

    rejected = sum(stats.rejected.values())
    click.echo(f"imported {stats.added} new, {stats.skipped} already known, {stats.copies} identical copies merged, "
               f"{stats.moved} moved, {stats.relabelled} relabelled, {stats.updated} with new attributes, "
               f"{rejected} rejected ({', '.join(f'{k}: {v}' for k, v in sorted(stats.rejected.items())) or 'none'}) "
               f"from {root}")
    if skipped:
        click.echo(f"skipped {sum(skipped.values())} not imported: "
                   f"{', '.join(f'{k}: {v}' for k, v in sorted(skipped.items()))}", err=True)
    if stats.conflicts:
        click.echo(f"warning: {stats.conflicts} identical copies sit in another class's folder than the first "
                   "copy; the first copy's label is kept (curate filter report lists them)", err=True)
    if stats.unknown_folders:
        with session_scope(cli.engine()) as session:
            pairs = [(c.key, c.name) for c in get_class_set(session, class_set).classes]
        names = sorted(stats.unknown_folders)
        click.echo(f"warning: {len(names)} folder name(s) match no class of {class_set!r} (imported without a "
                   "label; rerun with --map FOLDER=CLASS to label them):", err=True)
        for line in suggestion_lines(names[:20], pairs, synonyms(class_set)):
            click.echo(line, err=True)


@click.group()
def classes() -> None:
    """List class sets or import your own."""


@classes.command("list")
@click.argument("name", required=False)
@pass_cli
def classes_list(cli: CliContext, name: str | None) -> None:
    """List the class sets, or the classes of the set NAME.

    \b
    Examples:
      curate classes list
      curate classes list imagenet-r
    """
    from sqlalchemy import func, select

    from curation.db.models import ClassSet, ImageClass
    from curation.db.session import session_scope
    from curation.taxonomy import get_class_set

    with session_scope(cli.engine()) as session:
        if name:
            class_set = get_class_set(session, name)
            rows = [(c.position, c.key, c.name, "" if c.logit_index is None else c.logit_index)
                    for c in class_set.classes]
            print_table(f"class set {name}", ["#", "key", "name", "logit index"], rows)
            return
        rows = session.execute(select(ClassSet.name, func.count(ImageClass.id), ClassSet.description)
                               .outerjoin(ImageClass).group_by(ClassSet.id).order_by(ClassSet.name)).all()
    print_table("class sets", ["name", "classes", "description"], [tuple(r) for r in rows])


@classes.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Name of the class set (default: the file's stem).")
@click.option("--description", default="", help="A line describing the set.")
@pass_cli
def classes_import(cli: CliContext, file: Path, name: str | None, description: str) -> None:
    """Import a class set from a CSV (columns name[,key,definition,logit_index]) or TOML ([[class]]) FILE.

    \b
    Example:
      curate classes import my_classes.csv --name birds
    """
    from curation.db.session import session_scope
    from curation.taxonomy import ensure_class_set, load_class_file

    defs = load_class_file(file)
    with session_scope(cli.engine()) as session:
        class_set = ensure_class_set(session, name or file.stem, defs, description)
        n = len(class_set.classes)
    click.echo(f"class set {name or file.stem}: {n} classes")


@click.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", help="Target revision.")
@pass_cli
def db_upgrade(cli: CliContext, revision: str) -> None:
    """Bring the database schema up to date (safe to run any time).

    \b
    Example:
      curate --db postgresql+psycopg://me@dbhost/curate db upgrade
    """
    from curation.db.session import current_revision, safe_url, session_scope, upgrade
    from curation.taxonomy import BUILTIN_CLASS_SETS, ensure_class_set

    from curation.cli import check_revision

    engine = cli.engine(require_schema=False)
    check_revision(engine, cli.settings().database_url, for_upgrade=True)
    upgrade(engine, revision)
    with session_scope(engine) as session:
        for name in BUILTIN_CLASS_SETS:
            ensure_class_set(session, name)
    click.echo(f"{safe_url(cli.settings().database_url)} at revision {current_revision(engine)}")


@click.group()
def store() -> None:
    """Check the image store."""


@store.command("verify")
@click.option("--quick", is_flag=True, help="Only check that files exist; do not re-hash them.")
@click.option("--clean", is_flag=True, help="Remove temporary files that interrupted runs left behind.")
@pass_cli
def store_verify(cli: CliContext, quick: bool, clean: bool) -> None:
    """Find stored images that are missing or whose bytes no longer match their sha256.

    \b
    Example:
      curate store verify
    """
    from sqlalchemy import select

    from curation.db.models import Image
    from curation.db.session import session_scope

    with session_scope(cli.engine()) as session:
        digests = list(session.scalars(select(Image.sha256)))
    report = cli.store().verify(digests, rehash=not quick)
    print_findings(report, ("missing", "corrupted", "temporary"))
    if clean and report.temporary:
        with cli.lock("images", "store verify --clean"):
            click.echo(f"removed {cli.store().clean_temporary()} temporary file(s)")
    click.echo(f"checked {report.checked}: {len(report.missing)} missing, {len(report.corrupted)} corrupted, "
               f"{len(report.extra)} files not in the database, {len(report.temporary)} temporary file(s) of "
               f"interrupted writes{'' if clean or not report.temporary else ' (remove them with --clean)'}")
    if not report.ok:
        raise SystemExit(1)
