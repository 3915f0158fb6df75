"""``curate labelstudio export|import``: move labeling work between curate and Label Studio."""

from __future__ import annotations

import json
from pathlib import Path

import click

from curation.cli import CliContext
from curation.clikit import pass_cli


@click.group()
def labelstudio() -> None:
    """Label Studio tasks out (signed image URLs, classes as choices), its JSON annotations back in."""


@labelstudio.command("export")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for tasks.json and config.xml.")
@click.option("--base-url", required=True, help="Where `curate serve` is reachable, e.g. https://label.example.org")
@click.option("--class-set", default="imagenet-r", help="Class set offered as choices.")
@pass_cli
def ls_export(cli: CliContext, out: Path, base_url: str, class_set: str) -> None:
    """Write the open label HITs' items as Label Studio tasks plus the labeling config.

    \b
    Example:
      curate labelstudio export --out ls/ --base-url https://label.example.org
      (Label Studio: new project, Labeling Setup > Code: paste ls/config.xml; Import: ls/tasks.json)
    """
    from annotate_ui.cli import _config, ensure_secret_key
    from annotate_ui.labelstudio import export_tasks, labeling_config
    from annotate_ui.security import ImageSigner
    from curation.db.session import session_scope
    from curation.taxonomy import get_class_set

    if not base_url.startswith(("http://", "https://")):
        raise click.UsageError("--base-url must start with http:// or https:// (where curate serve is reachable)")
    signer = ImageSigner(ensure_secret_key(cli.settings()), _config(cli).image_url_max_age_s)
    root = base_url.rstrip("/")
    with session_scope(cli.engine()) as session:
        classes = list(get_class_set(session, class_set).classes)
        tasks = export_tasks(session, lambda token: f"{root}/img/{signer.sign('h', token)}")
        config = labeling_config(classes)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tasks.json").write_text(json.dumps(tasks, indent=1) + "\n")
    (out / "config.xml").write_text(config)
    click.echo(f"{len(tasks)} tasks, {len(classes)} classes -> {out}/tasks.json, {out}/config.xml")


@labelstudio.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "kind", type=click.Choice(["votes", "reviews"]), default="votes", show_default=True,
              help="Record the annotations as crowd votes or as expert reviews.")
@click.option("--reviewer", help="Reviewer account for every annotation (default: the annotator's email).")
@pass_cli
def ls_import(cli: CliContext, file: Path, kind: str, reviewer: str | None) -> None:
    """Read a Label Studio JSON export (Export > JSON) of tasks made by `curate labelstudio export`.

    \b
    Example:
      curate labelstudio import project-1-at-2026-12-05.json
      curate labelstudio import project-1-at-2026-12-05.json --as reviews --reviewer alice
    """
    from annotate_ui.labelstudio import LabelStudioError, import_reviews, import_votes
    from curation.db.session import session_scope

    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{file} is not JSON ({exc}); export the project from Label Studio as JSON")
    try:
        with session_scope(cli.engine()) as session:
            n = import_votes(session, data) if kind == "votes" else import_reviews(session, data, reviewer)
    except (LabelStudioError, PermissionError) as exc:
        raise click.ClickException(f"{exc}; nothing was imported")
    click.echo(f"imported {n} {kind} from {file}")
