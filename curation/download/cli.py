"""``curate download``: fetch the images of candidates found by a scrape."""

from __future__ import annotations

import click

from curation.cli import CliContext, with_lock
from curation.clikit import pass_cli


def workspace_placeholders(settings) -> frozenset[str]:
    """Placeholder digests: the package's list plus ``[download] placeholder_sha256`` / ``placeholder_file``."""
    from curation.download.placeholder import known_digests
    from curation.errors import CurateError

    section = settings.section("download")
    extra, file = section.get("placeholder_sha256", []), section.get("placeholder_file")
    if not isinstance(extra, list) or not all(isinstance(d, str) for d in extra):
        raise CurateError("[download] placeholder_sha256 in curate.toml must be a list of sha256 strings")
    if file is not None and not isinstance(file, str):
        raise CurateError("[download] placeholder_file in curate.toml must be a path in quotes")
    try:
        return known_digests(extra, [settings.root / file] if file else [])
    except (OSError, ValueError) as exc:
        raise CurateError(f"placeholder digests: {exc}; fix curate.toml's [download] section") from exc


def run_download(cli: CliContext, *, retry_failed: bool, workers: int, ray: str | None, job_id: int | None = None,
                 timeout: float = 30.0, max_bytes: int | None = None, source: str | None = None) -> None:
    """Download with a progress bar and a one-line summary (shared by ``scrape`` and ``download``)."""
    from rich.progress import Progress

    from curation.db.session import session_scope
    from curation.download.runner import download, select_records

    settings = cli.settings()
    placeholders = workspace_placeholders(settings)  # a bad [download] section fails before any work
    engine = cli.engine()
    with session_scope(engine) as session:
        records = select_records(session, retry_failed=retry_failed, job_id=job_id, source=source)
    if not records:
        click.echo("nothing to download" + ("" if retry_failed else " (use --retry-failed to retry failures)"))
        return
    with Progress(transient=True) as bar:
        task = bar.add_task("downloading", total=len(records))
        stats = download(engine, cli.store(), records, max_pixels=settings.max_image_pixels,
                         max_bytes=max_bytes or settings.max_image_bytes, workers=workers, ray=ray, timeout=timeout,
                         on_result=lambda s: bar.update(task, completed=s.attempted),
                         placeholders=placeholders)
    click.echo(stats.summary())
    if stats.failed:
        click.echo("retry the failures later with:  curate download --retry-failed", err=True)


@click.command("download")
@click.option("--retry-failed", is_flag=True, help="Also retry images whose download failed before.")
@click.option("--workers", type=click.IntRange(1, 512), default=32, help="Concurrent downloads.")
@click.option("--ray", metavar="auto|ADDRESS", help="Run the downloads as Ray tasks on this cluster.")
@click.option("--timeout", type=float, default=30.0, help="Seconds before one request gives up.")
@click.option("--max-bytes", type=click.IntRange(1), help="Size cap per image (default: the workspace's).")
@click.option("--job", "job", help="Only the candidates of this scrape job.")
@click.option("--source", help="Only candidates of this source (e.g. flickr).")
@pass_cli
@with_lock("images", "download")
def download_cmd(cli: CliContext, retry_failed: bool, workers: int, ray: str | None, timeout: float,
                 max_bytes: int | None, job: str | None, source: str | None) -> None:
    """Download the images of pending candidates (and, with --retry-failed, earlier failures).

    Each failure (404, timeout, not an image, too large, a decompression bomb, Flickr's
    'photo unavailable' placeholder, X-Robots-Tag noai) is recorded with its reason.

    \b
    Examples:
      curate download
      curate download --retry-failed --workers 64
      curate download --ray auto
    """
    job_id = None
    if job:
        from curation.db.session import session_scope
        from curation.db.jobs import find_job

        with session_scope(cli.engine()) as session:
            job_id = find_job(session, job).id
    run_download(cli, retry_failed=retry_failed, workers=workers, ray=ray, job_id=job_id, timeout=timeout,
                 max_bytes=max_bytes, source=source)
