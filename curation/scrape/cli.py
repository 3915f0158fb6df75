"""``curate scrape`` (run a scrape job) and ``curate scrape status`` (progress per query)."""

from __future__ import annotations

from pathlib import Path

import click

from curation.cli import CliContext, with_lock
from curation.clikit import pass_cli, print_table

SIZE_CHOICES = ("url_o", "url_k", "url_h", "url_l", "url_c", "url_z", "url_m", "url_n")


def _specs(cli: CliContext, class_set: str, class_names: tuple[str, ...], keywords: tuple[str, ...],
           all_keywords: bool, pattern: str, query_file: Path | None, queries: tuple[str, ...]):
    from curation.db.session import session_scope
    from curation.errors import CurateError
    from curation.flickr.queries import QuerySpec, build_queries, read_query_file
    from curation.taxonomy import ensure_class_set, rendition_keywords

    with session_scope(cli.engine()) as session:
        classes = list(ensure_class_set(session, class_set).classes)
        specs = [QuerySpec(" ".join(q.split())) for q in queries]
        if query_file:
            specs += read_query_file(query_file, classes)
        if not specs:
            if class_names:
                wanted = {n.lower().replace("_", " ") for n in class_names}
                classes = [c for c in classes if c.key.lower() in wanted or c.name.lower().replace("_", " ") in wanted]
                if not classes:
                    raise CurateError(f"none of {', '.join(class_names)} is a class of {class_set!r}; "
                                      f"see: curate classes list {class_set}")
            words = list(keywords) or rendition_keywords(paper_only=not all_keywords)
            specs = build_queries(classes, words, pattern)
    return specs


@click.group(invoke_without_command=True)
@click.option("--class-set", default="imagenet-r", help="Class set whose classes are searched.")
@click.option("--class", "class_names", multiple=True, help="Only this class (key or name); repeatable.")
@click.option("--keyword", "keywords", multiple=True, help="Rendition keyword (default: the ImageNet-R paper's).")
@click.option("--all-keywords", is_flag=True, help="Use the extended keyword list, not only the paper's.")
@click.option("--pattern", default="{class} {keyword}", help='Query pattern, e.g. "{class} blurry".')
@click.option("--query-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="One query per line (optional tab-separated class and rendition).")
@click.option("--query", "queries", multiple=True, help="A literal query; repeatable.")
@click.option("--license", "licenses", multiple=True, default=("redistributable",),
              help="Allowed license: id, short name (CC-BY-2.0), 'redistributable' or 'all'; repeatable.")
@click.option("--min-upload", help="Earliest upload date, YYYY-MM-DD (default: Flickr's start).")
@click.option("--max-upload", help="Last upload date, YYYY-MM-DD (default: today, fixed when the job starts).")
@click.option("--min-taken", help="Earliest date taken, YYYY-MM-DD.")
@click.option("--max-taken", help="Last date taken, YYYY-MM-DD.")
@click.option("--safe-search", type=click.Choice(["1", "2", "3"]), default="1", help="1 safe, 2 moderate, 3 restricted.")
@click.option("--content-type", type=click.IntRange(1, 7), default=1, help="Flickr content type (1 = photos only).")
@click.option("--max-per-query", type=click.IntRange(1), help="Stop a query after this many photos.")
@click.option("--size", "sizes", multiple=True, type=click.Choice(SIZE_CHOICES), default=("url_c", "url_l", "url_o"),
              help="Preferred image sizes, in order; repeatable.")
@click.option("--per-page", type=click.IntRange(1, 500), default=500, help="Results per search call.")
@click.option("--rate", type=click.FloatRange(min=1), help="API calls per hour per key (default 3600, or [scrape] rate).")
@click.option("--burst", type=click.IntRange(1), default=4, help="Calls that may go out at once; borrowed from the rate, so no window ever exceeds it.")
@click.option("--workers", type=click.IntRange(1, 256), default=8, help="Concurrent search calls.")
@click.option("--job", "job", help="Job name (default: derived from the queries and options, so reruns resume).")
@click.option("--rest-url", help="Flickr REST endpoint (e.g. the emulator's; default: CURATE_FLICKR_REST_URL or Flickr).")
@click.option("--refresh-licenses", is_flag=True, help="Fetch the license table again instead of using the cache.")
@click.option("--no-download", is_flag=True, help="Only search; download later with `curate download`.")
@click.option("--download-workers", type=click.IntRange(1, 512), default=32, help="Concurrent image downloads.")
@click.option("--ray", metavar="auto|ADDRESS", help="Run the downloads as Ray tasks on this cluster.")
@click.pass_context
@with_lock("images", "scrape")
def scrape(ctx: click.Context, **kw) -> None:
    """Search Flickr for a class set x rendition keywords (or a query file) and download what it finds.

    Resumable: the cursor and every photo found are committed as the job goes; run the same command
    again after an interruption to continue. The key and secret come from FLICKR_API_KEY and
    FLICKR_API_SECRET or the workspace's secrets.toml, never from the command line.

    \b
    Examples:
      curate scrape --class-set imagenet-r --max-per-query 200
      curate scrape --class goldfish --class lighthouse --keyword cartoon --keyword origami
      curate scrape --pattern "{class} blurry" --license CC-BY-2.0 --license CC0-1.0
      curate scrape status
    """
    if ctx.invoked_subcommand is not None:
        return
    _run(ctx.find_object(CliContext), **kw)


def _run(cli: CliContext, **kw) -> None:
    import numpy as np
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from curation.download.cli import workspace_placeholders
    from curation.flickr.client import make_client
    from curation.scrape.job import FLICKR_FIRST_UPLOAD, ScrapeOptions
    from curation.scrape.pipeline import parse_day, setup_job
    from curation.scrape.ratelimit import TokenBucket
    from curation.scrape.runner import run_job, run_job_with_downloads

    settings, engine = cli.settings(), cli.engine()
    specs = _specs(cli, kw["class_set"], kw["class_names"], kw["keywords"], kw["all_keywords"], kw["pattern"],
                   kw["query_file"], kw["queries"])
    rate = kw["rate"] or float(settings.section("scrape").get("rate", 3600))
    limiter = TokenBucket(rate, burst=kw["burst"])
    client = make_client(settings, rest_url=kw["rest_url"], limiter=limiter, rng=np.random.default_rng())
    options = ScrapeOptions(
        licenses=(), min_upload=parse_day(kw["min_upload"], "--min-upload") or FLICKR_FIRST_UPLOAD,
        max_upload=parse_day(kw["max_upload"], "--max-upload", end=True) or 0, min_taken=kw["min_taken"],
        max_taken=kw["max_taken"], safe_search=int(kw["safe_search"]), content_type=kw["content_type"],
        max_per_query=kw["max_per_query"], sizes=tuple(kw["sizes"]), per_page=kw["per_page"])
    job_id, name, shorts = setup_job(engine, settings, client, specs, kw["class_set"], kw["licenses"], options,
                                     name=kw["job"], refresh_licenses=kw["refresh_licenses"])
    click.echo(f"job {name}: {len(specs)} queries, rate {rate:.0f} calls/h (burst {kw['burst']})")
    downloads = None
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("searching")

        def show(s) -> None:
            bar.update(task, description=f"searching: {s.pages} pages, {s.new} new photos, {s.continued} windows continued")

        if kw["no_download"] or kw["ray"]:
            stats = run_job(engine, client, job_id, shorts, workers=kw["workers"], on_page=show)
        else:  # downloads start with the first page
            stats, downloads = run_job_with_downloads(
                engine, client, job_id, shorts, cli.store(), workers=kw["workers"],
                download_workers=kw["download_workers"], on_page=show, max_pixels=settings.max_image_pixels,
                max_bytes=settings.max_image_bytes, placeholders=workspace_placeholders(settings))
    skipped = ", ".join(f"{k}: {v}" for k, v in sorted(stats.skipped.items())) or "none"
    click.echo(f"searched {stats.pages} pages ({client.calls} calls, {client.retries} retries): {stats.new} new photos, "
               f"{stats.known} already known ({stats.repeats} repeats), {stats.continued} windows continued past the "
               f"cap, {stats.empty_windows} empty windows, {stats.failed_windows} failed windows, skipped {skipped}")
    if stats.crowded_seconds:
        click.echo(f"{stats.crowded_seconds} upload seconds hold more photos than Flickr's cap; those past it cannot "
                   "be reached by date: narrow the query (e.g. --license) to reach them", err=True)
    if stats.failed_windows:
        click.echo("some windows failed after retries; run the same command again to retry them", err=True)
    if downloads is not None:
        click.echo(downloads.summary())
        if downloads.failed:
            click.echo("retry the failures later with:  curate download --retry-failed", err=True)
    elif not kw["no_download"]:
        from curation.download.cli import run_download

        run_download(cli, retry_failed=False, workers=kw["download_workers"], ray=kw["ray"], job_id=job_id)


@scrape.command("status")
@click.option("--job", "job", help="Job name (default: the most recent job).")
@pass_cli
def scrape_status(cli: CliContext, job: str | None) -> None:
    """Progress of a scrape job, per query: windows done and open, photos found and downloaded.

    \b
    Example:
      curate scrape status
    """
    from curation.db.session import session_scope
    from curation.db.jobs import find_job
    from curation.scrape.status import job_progress

    with session_scope(cli.engine()) as session:
        found = find_job(session, job)
        rows = job_progress(session, found)
        title = f"scrape job {found.name} ({found.status})"
    print_table(title, ["query", "state", "windows done/open/failed", "found", "downloaded", "Flickr total"],
                [(r.query, r.state, f"{r.windows_done}/{r.windows_open}/{r.windows_failed}", r.found, r.downloaded,
                  "" if r.reported is None else r.reported) for r in rows])
    click.echo(f"{len(rows)} queries: {sum(r.state == 'done' for r in rows)} done, "
               f"{sum(r.found for r in rows)} photos found, {sum(r.downloaded for r in rows)} downloaded")
