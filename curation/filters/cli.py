"""``curate filter`` (run the filters, ``report``) and ``curate reference`` (add, list)."""

from __future__ import annotations

from pathlib import Path

import click

from curation.cli import CliContext, with_lock
from curation.clikit import list_command, pass_cli, print_table

HASH_COMMIT_EVERY = 1000


def _hash_with_progress(cli: CliContext, params, rehash: bool, workers: int | None, ray: str | None) -> tuple[int, int]:
    """Hash pending images in the pool, committing every HASH_COMMIT_EVERY so a killed run resumes."""
    from rich.progress import Progress

    from curation.db.session import session_scope
    from curation.filters.hashing import compute_hashes
    from curation.filters.pipeline import pending_jobs, save_hashes

    engine, store = cli.engine(), cli.store()
    with session_scope(engine) as session:
        jobs = pending_jobs(session, store, params.max_pixels, rehash)
    done = bad = 0
    batch = []
    with Progress(transient=True, disable=not jobs) as progress:
        task = progress.add_task("hashing", total=len(jobs))
        for result in compute_hashes(jobs, workers=workers, ray=ray):
            batch.append(result)
            progress.advance(task)
            if len(batch) >= HASH_COMMIT_EVERY:
                with session_scope(engine) as session:
                    bad += save_hashes(session, batch)
                done, batch = done + len(batch), []
        if batch:
            with session_scope(engine) as session:
                bad += save_hashes(session, batch)
            done += len(batch)
    return done, bad


@click.group(invoke_without_command=True)
@click.option("--rerun", is_flag=True, help="Judge every image again (earlier decisions stay, marked not current).")
@click.option("--rehash", is_flag=True, help="Decode and hash every image again (e.g. after raising the pixel cap).")
@click.option("--threshold", type=int,
              help="pHash Hamming radius for duplicates and contamination [default: the last run's, else 10].")
@click.option("--dhash-threshold", type=int, help="dHash radius a pHash match must also meet [default: 16].")
@click.option("--max-mean-diff", type=float,
              help="Largest brightness difference (0-255) between copies [default: 10].")
@click.option("--no-mirror", is_flag=True, default=None, help="Do not look for mirrored copies.")
@click.option("--min-side", type=int, help="Reject images whose shorter side is smaller [default: 64].")
@click.option("--max-aspect", type=float, help="Reject longer/shorter side ratios above this [default: 4].")
@click.option("--black-mean", type=float, help="Reject grayscale means below this, 0-255 [default: 12].")
@click.option("--flat-std", type=float,
              help="Reject images whose largest per-channel deviation is below this [default: 1.5].")
@click.option("--workers", type=int, help="Hashing processes and search threads (default: all cores).")
@click.option("--ray", metavar="ADDRESS", help="Hash on a Ray cluster: 'auto' or an address.")
@click.pass_context
@with_lock("filter", "filter")
def filter_cmd(ctx: click.Context, rerun: bool, rehash: bool, workers: int | None, ray: str | None,
               no_mirror: bool | None, **thresholds) -> None:
    """Run every filter (quality, contamination, duplicates) on images not yet judged.

    Hashes are computed once (JPEG draft decoding, in a process pool or on Ray) and stored, so a
    rerun with new thresholds decodes nothing. Thresholds also come from [filter] in curate.toml.

    \b
    Examples:
      curate filter
      curate filter --rerun --threshold 6
      curate filter report --out filter-report.html
    """
    if ctx.invoked_subcommand is not None:
        return
    from curation.db.session import session_scope
    from curation.filters.params import describe, last_used, load_params
    from curation.filters.pipeline import FilterSummary, judge_all
    from curation.parallel import default_workers

    cli: CliContext = ctx.find_object(CliContext)
    overrides = {**thresholds, "mirror": False if no_mirror else None}
    with session_scope(cli.engine()) as session:
        previous = last_used(session)
    params = load_params(cli.settings(), overrides, previous)
    click.echo(describe(params, cli.settings(), overrides, previous))
    summary = FilterSummary()
    summary.hashed, summary.undecodable = _hash_with_progress(cli, params, rehash, workers, ray)
    with session_scope(cli.engine()) as session:
        judge_all(session, params, rerun=rerun, workers=workers or default_workers(), summary=summary)
    click.echo(summary.line())
    totals = ", ".join(f"{k}: {v}" for k, v in summary.totals.items()) or "none"
    click.echo(f"currently rejected, by reason: {totals}\nnext:  curate filter report --out filter-report.html")


@filter_cmd.command("report")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("filter-report.html"),
              help="Where to write the HTML contact sheet (further pages beside it: NAME-2.html ...).")
@click.option("--page-size", default=100, help="Duplicate groups per page (every group is shown).")
@click.option("--max-rejects", default=300, help="Quality and contamination rejects shown.")
@click.option("--groups", "groups_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every duplicate group as data: .csv (one row per member and file) or .json.")
@pass_cli
def filter_report(cli: CliContext, out: Path, page_size: int, max_rejects: int, groups_out: Path | None) -> None:
    """Print counts per filter and reason; write an HTML contact sheet of every duplicate group and the rejects.

    \b
    Examples:
      curate filter report --out filter-report.html
      curate filter report --groups duplicates.csv     # group, member, path or URL, distance, kept/rejected
    """
    from curation.db.session import session_scope
    from curation.filters.groups import group_rows, write_groups
    from curation.filters.report import write_report

    if page_size < 1:
        raise click.UsageError("--page-size must be at least 1")
    with session_scope(cli.engine()) as session:
        summary = write_report(session, cli.store(), out, page_size=page_size, max_rejects=max_rejects)
        rows = group_rows(session) if groups_out else []
    print_table("filter decisions (current)", ["filter", "reason", "count"], summary.counts)
    click.echo(f"wrote {summary.path} ({summary.groups} duplicate groups on {summary.pages} page(s), "
               f"{summary.rejected_shown} rejects shown)")
    if groups_out:
        path = write_groups(rows, groups_out)
        click.echo(f"wrote {path} ({len({r.group for r in rows})} groups, {len(rows)} rows)")


@click.group()
def reference() -> None:
    """Reference sets (e.g. ImageNet val) that candidates must not copy."""


@reference.command("add")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--name", required=True, help="Name of the reference set, e.g. imagenet-val.")
@click.option("--workers", type=int, help="Hashing processes (default: all cores).")
@click.option("--ray", metavar="ADDRESS", help="Hash on a Ray cluster: 'auto' or an address.")
@pass_cli
def reference_add(cli: CliContext, directory: Path, name: str, workers: int | None, ray: str | None) -> None:
    """Hash the images under DIRECTORY into the reference set NAME (files already in it are skipped).

    \b
    Example:
      curate reference add ~/imagenet/val --name imagenet-val
      curate filter      # rejects candidates within the threshold of any reference image
    """
    from rich.progress import Progress

    from curation.db.session import session_scope
    from curation.filters.contamination import reference_jobs, reference_set, save_reference_hashes
    from curation.filters.hashing import compute_hashes
    from curation.ingest.folder import iter_files

    root = directory.resolve()
    engine, settings = cli.engine(), cli.settings()
    with session_scope(engine) as session:
        ref = reference_set(session, name, root)
        jobs = reference_jobs(session, ref, root, iter_files(root), settings.max_image_pixels)
    usable, batch = 0, []
    with Progress(transient=True, disable=not jobs) as progress:
        task = progress.add_task(f"hashing {name}", total=len(jobs))
        for result in compute_hashes(jobs, workers=workers, ray=ray):
            batch.append(result)
            progress.advance(task)
            if len(batch) >= HASH_COMMIT_EVERY:
                with session_scope(engine) as session:
                    usable += save_reference_hashes(session, ref, batch)
                batch = []
        with session_scope(engine) as session:
            usable += save_reference_hashes(session, ref, batch)
    click.echo(f"reference set {name}: {len(jobs)} new file(s) hashed, {usable} usable, "
               f"{len(jobs) - usable} unreadable; next:  curate filter")


list_command(reference, "List reference sets and how many usable images each holds.", "reference sets",
             ["name", "count", "root"], "curation.filters.contamination:reference_rows")
