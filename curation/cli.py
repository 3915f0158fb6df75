"""The ``curate`` command line: one root group whose subcommands load lazily.

Each entry of :data:`COMMANDS` names where a subcommand lives and its one-line help, so
``curate --help`` lists everything without importing SQLAlchemy, torch, Flask, pandas or flickrapi.
Stages register their commands here by adding one line.
"""

from __future__ import annotations

import importlib
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

import click

# name -> ("module:attribute", one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("curation.commands:init", "Create a workspace (curate.toml, database, store/)."),
    "status": ("curation.commands:status", "Counts per pipeline stage."),
    "import": ("curation.commands:import_cmd", "Add a folder of local images as candidates."),
    "classes": ("curation.commands:classes", "List class sets or import your own."),
    "corrupt": ("models.cli:corrupt", "Make an ImageNet-C style corrupted copy of an export."),
    "db": ("curation.commands:db", "Database migrations."),
    "store": ("curation.commands:store", "Check the image store."),
    "splits": ("splits.cli:splits", "Build split specs (train / IID test / OOD tests); list and show them."),
    "dfr": ("splits.cli:dfr", "Ingest DeepFashion2 annotations for DeepFashion Remixed splits."),
    "export": ("splits.cli:export", "Export a split as a frozen folder (manifest, checksums, dataset card)."),
    "verify": ("splits.cli:verify", "Recompute an export's checksums; list missing, altered, extra files."),
    "deepaugment": ("models.deepaugment.cli:deepaugment", "DeepAugment: fit clean EDSR/CAE weights, generate distorted exports."),
    "aggregate": ("annotate_ui.cli:aggregate", "Aggregate crowd votes: selection frequency, Dawid-Skene, CROWDLAB."),
    "predict": ("annotate_ui.cli:predict", "Out-of-sample (K-fold) model predictions for a class set's candidates."),
    "gold": ("annotate_ui.cli:gold", "Gold images (known answers) hidden in HITs: import, from reviews, list."),
    "hits": ("annotate_ui.cli:hits", "Create and list labeling HITs (candidates plus hidden gold)."),
    "labelstudio": ("annotate_ui.labelstudio_cli:labelstudio", "Label Studio tasks out, its JSON annotations in."),
    "invites": ("annotate_ui.cli_accounts:invites", "Invite links and personal worker links for the labeling app."),
    "serve": ("annotate_ui.cli:serve", "Serve the labeling, review and admin web app (waitress)."),
    "users": ("annotate_ui.cli_accounts:users", "Reviewer and admin accounts of the web app."),
    "demo": ("curate_demo.cli:demo", "Run the whole pipeline offline: scrape, filter, label, split, train, report."),
    "filter": ("curation.filters.cli:filter_cmd", "Quality, duplicate and contamination filters; report."),
    "reference": ("curation.filters.cli:reference", "Reference sets candidates must not copy (e.g. imagenet-val)."),
    "download": ("curation.download.cli:download_cmd", "Download candidates' images (bounded, polite, resumable)."),
    "emulator": ("curation.emulator.cli:emulator", "Offline emulators (a Flickr-compatible API and image host)."),
    "scrape": ("curation.scrape.cli:scrape", "Search Flickr (class set x rendition keywords) and download."),
    "evaluate": ("models.cli:evaluate", "Score a model on frozen exports (the paper's protocols)."),
    "report": ("models.cli:report", "Build the paper's tables and IID-vs-OOD plot from evaluated runs."),
    "train": ("models.cli:train", "Train a model on frozen exports with a recipe."),
}

EPILOG = """\b
First steps:
  curate init my-benchmark && cd my-benchmark
  curate classes list
  curate import ~/photos --class-set imagenet-r --label-from-folder
  curate status
"""


@dataclass
class CliContext:
    """What every command needs to find its workspace and database; resolved on first use."""

    workspace: str | None = None
    db: str | None = None
    _settings: Any = None
    _engine: Any = None
    cache: dict[str, Any] = field(default_factory=dict)

    def settings(self):
        if self._settings is None:
            from curation.workspace import open_settings

            self._settings = open_settings(self.workspace, {"db_url": self.db})
        return self._settings

    def engine(self, require_schema: bool = True):
        """The workspace's engine; refuses with a clear message if the schema is missing or old."""
        if self._engine is None:
            from curation.db.session import connect, current_revision, has_schema, safe_url
            from curation.errors import CurateError

            settings = self.settings()
            engine = connect(settings.database_url)
            if require_schema and not has_schema(engine):
                raise CurateError(f"database {safe_url(settings.database_url)} has no curate schema yet; "
                                  "create it with:  curate db upgrade")
            if require_schema:
                check_revision(engine, settings.database_url)
            self._engine = engine
        return self._engine

    def store(self):
        return self.settings().store()

    def lock(self, name: str, command: str):
        """The workspace's lock ``name`` (a context manager): one writer per stage at a time."""
        from curation.locks import stage_lock

        return stage_lock(self.settings().root, name, command)


def with_lock(name: str, command: str):
    """Decorate a command so it runs holding the workspace lock ``name`` (one writer per stage).

    A group's callback that returns early for a subcommand (``filter report``) holds it only that long.
    Taking the ``images`` lock also removes the store's temporary files whose writer is gone.
    """
    import functools

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ctx = click.get_current_context()
            if ctx.invoked_subcommand is not None:
                return fn(*args, **kwargs)
            cli = ctx.find_object(CliContext)
            with cli.lock(name, command):
                if name == "images":
                    removed = cli.store().clean_temporary()
                    if removed:
                        click.echo(f"removed {removed} temporary file(s) an interrupted run left in the store",
                                   err=True)  # stderr: stdout stays the command's own result
                return fn(*args, **kwargs)
        return wrapper
    return decorate


def check_revision(engine, url: str, for_upgrade: bool = False) -> None:
    """Refuse a database whose schema this curate cannot use, saying which way it differs."""
    from curation.db.session import HEAD_REVISION, current_revision, has_schema, known_revisions, safe_url
    from curation.errors import CurateError

    current = current_revision(engine)
    if current == HEAD_REVISION:  # the common case: no need to load the migration scripts
        return
    head = _head_revision()
    where = f"database {safe_url(url)}"
    if current is None:
        if has_schema(engine):
            raise CurateError(f"{where} has curate tables but no alembic_version record, so its schema revision "
                              "is unknown; restore it from a backup or re-create it with: curate init NEW_DIR")
        if not for_upgrade:
            raise CurateError(f"{where} has no curate schema yet; create it with:  curate db upgrade")
        return
    if current not in known_revisions():
        raise CurateError(f"{where} is at schema revision {current}, newer than this curate knows (head {head}) "
                          "or not made by curate; upgrade curate (pip install -U curate) to use it")
    if current != head and not for_upgrade:
        raise CurateError(f"{where} uses an older schema ({current}); upgrade it with:  curate db upgrade")


def _head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from curation.db.session import MIGRATIONS

    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            target, _ = self.lazy[name]
            module_name, attr = target.split(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        from curation.errors import user_message

        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            message = user_message(exc)
            if message is None:
                raise
            logging.getLogger("curate").debug("details", exc_info=exc)
            raise click.ClickException(message) from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.lazy[name][1]) for name in sorted(self.lazy)]
        rows += [(name, cmd.get_short_help_str()) for name, cmd in sorted(self.commands.items())]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))


@click.group(cls=LazyGroup, lazy=COMMANDS, epilog=EPILOG, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--workspace", "-w", envvar="CURATE_WORKSPACE", metavar="DIR",
              help="Workspace folder (default: the current folder or a parent holding curate.toml).")
@click.option("--db", envvar="CURATE_DB", metavar="URL",
              help="Database URL, e.g. postgresql+psycopg://user@host/db (default: the workspace's SQLite file).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="curate")
@click.pass_context
def root(ctx: click.Context, workspace: str | None, db: str | None, verbose: int) -> None:
    """curate: build distribution-shift benchmarks and measure robustness on them."""
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = CliContext(workspace=workspace, db=db)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        from curation.workspace import find_workspace
        from curation.errors import WorkspaceNotFound

        try:
            found = find_workspace(workspace)
            click.echo(f"\nWorkspace: {found}")
        except WorkspaceNotFound as exc:
            click.echo(f"\n{exc}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``curate`` console script."""
    root.main(args=argv, prog_name="curate")
