"""CLI commands of the labeling stage: hits, gold, serve, aggregate, users, invites."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

import click

from curation.cli import CliContext
from curation.clikit import list_command, pass_cli, print_table


def _config(cli: CliContext, **overrides):
    from annotate_ui.config import config_from_settings

    return config_from_settings(cli.settings(), **overrides)


@click.group()
def hits() -> None:
    """Create and list HITs (grids of candidates with hidden gold)."""


@hits.command("create")
@click.option("--class", "classes", multiple=True, metavar="KEY", help="Class key or name (repeatable; "
              "default: every class of --class-set with candidates).")
@click.option("--class-set", default="imagenet-r", help="Class set the classes belong to.")
@click.option("--candidates", type=int, help="Candidates per HIT [annotate.candidates_per_hit: 42].")
@click.option("--gold-positives", type=int, help="Hidden known positives per HIT [3].")
@click.option("--gold-negatives", type=int, help="Hidden known negatives (most similar class) per HIT [3].")
@click.option("--workers", type=int, help="Workers per image [annotate.workers_per_image: 5].")
@click.option("--reward", default="", help="Reward note shown on each HIT.")
@click.option("--expires-days", type=float, default=None, help="Days until the HITs expire (default: never).")
@click.option("--batch", default=None, help="A batch name to group these HITs.")
@click.option("--max-hits", type=int, default=None, help="At most this many HITs per class.")
@click.option("--qualification", is_flag=True,
              help="Create the class's qualification pool instead (each new worker gets a random draw of it).")
@click.option("--active", is_flag=True, help="Fill the HITs with the images whose next vote is worth most "
              "(CROWDLAB's active-learning scores; needs votes and  curate predict); --workers defaults to 1.")
@click.option("--confident", type=float, default=0.95, show_default=True,
              help="With --active: images whose consensus quality reaches this get no more votes.")
@click.option("--seed", default=0, help="Seed of the shuffles and gold choice.")
@pass_cli
def hits_create(cli: CliContext, classes: tuple[str, ...], class_set: str, candidates: int | None,
                gold_positives: int | None, gold_negatives: int | None, workers: int | None, reward: str,
                expires_days: float | None, batch: str | None, max_hits: int | None, qualification: bool,
                active: bool, confident: float, seed: int) -> None:
    """Create label HITs per class from candidates that passed the filters, plus shuffled hidden gold.

    \b
    Example:
      curate hits create --class n01443537 --workers 5 --reward "0.40 USD" --expires-days 14
      curate hits create --class n01443537 --qualification
      curate hits create --active --confident 0.95 --max-hits 4
    """
    if active:
        if qualification:
            raise click.UsageError("--active and --qualification do not go together")
        if not 0 < confident <= 1:
            raise click.UsageError("--confident must lie in (0, 1]")
        return _active_hits(cli, classes, class_set, candidates, gold_positives, gold_negatives, workers or 1,
                            reward, expires_days, batch, max_hits, confident, seed)
    from annotate_ui.hits import (candidate_images, create_hits, create_qualification, guess_pass_probability,
                                  resolve_class)
    from curation.db.session import session_scope
    from curation.taxonomy import get_class_set

    cfg, rng, expires = _hit_setup(cli, candidates, gold_positives, gold_negatives, workers, seed, expires_days)
    rows, total = [], 0
    with session_scope(cli.engine()) as session:
        targets = [resolve_class(session, key, class_set) for key in classes] or [
            c for c in get_class_set(session, class_set).classes if candidate_images(session, c)]
        if qualification:
            if len(targets) != 1:
                raise click.UsageError("--qualification needs exactly one --class")
            hit = create_qualification(session, targets[0], cfg, rng, reward)
            n = cfg.qualification_positives + cfg.qualification_negatives
            chance = guess_pass_probability(n, cfg.qualification_pass)
            click.echo(f"qualification pool {hit.public_id} for {targets[0].name}: {len(hit.items)} gold images; "
                       f"each worker gets their own {n} in their own order, pass mark {cfg.qualification_pass:.0%}: "
                       f"random ticking passes with probability {chance:.2%}")
            return
        for cls in targets:
            plan = create_hits(session, cls, cfg, rng, reward, expires, batch, max_hits)
            for warning in plan.warnings:
                click.echo(f"warning: {warning}", err=True)
            rows.append((cls.key, cls.name, plan.candidates, len(plan.hits), plan.gold_positive_pool,
                         plan.gold_negative_pool))
            total += len(plan.hits)
    print_table("HITs created", ["class", "name", "candidates", "HITs", "gold +", "gold -"], rows)
    click.echo(f"created {total} HITs for {len(rows)} classes, {cfg.workers_per_image} workers per image")


def _hit_setup(cli: CliContext, candidates: int | None, gold_positives: int | None, gold_negatives: int | None,
               workers: int, seed: int, expires_days: float | None):
    """The HIT settings with the command's overrides, the seeded generator and the expiry time (or None)."""
    import numpy as np

    cfg = _config(cli, candidates_per_hit=candidates, gold_positives_per_hit=gold_positives,
                  gold_negatives_per_hit=gold_negatives, workers_per_image=workers)
    expires = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(days=expires_days) \
        if expires_days else None
    return cfg, np.random.default_rng(seed), expires


def _active_hits(cli: CliContext, classes: tuple[str, ...], class_set: str, candidates: int | None,
                 gold_positives: int | None, gold_negatives: int | None, workers: int, reward: str,
                 expires_days: float | None, batch: str | None, max_hits: int | None, confident: float,
                 seed: int) -> None:
    from annotate_ui.active import active_choice
    from annotate_ui.hits import create_hits, resolve_class
    from curation.db.session import session_scope
    from curation.taxonomy import get_class_set

    cfg, rng, expires = _hit_setup(cli, candidates, gold_positives, gold_negatives, workers, seed, expires_days)
    rows, total = [], 0
    with session_scope(cli.engine()) as session:
        targets = [resolve_class(session, key, class_set) for key in classes] or list(
            get_class_set(session, class_set).classes)
        for cls in targets:
            choice = active_choice(session, cls, confident)
            if not choice.images:
                rows.append((cls.key, cls.name, 0, 0, choice.confident, choice.pending, ""))
                continue
            plan = create_hits(session, cls, cfg, rng, reward, expires, batch or "active", max_hits, choice.images)
            sent = min(len(choice.images), len(plan.hits) * cfg.candidates_per_hit)
            for warning in plan.warnings:
                click.echo(f"warning: {warning}", err=True)
            rows.append((cls.key, cls.name, sent, len(plan.hits), choice.confident, choice.pending,
                         f"{choice.scores[0]:.3f}-{choice.scores[sent - 1]:.3f}"))
            total += len(plan.hits)
            if choice.unpredicted:
                click.echo(f"warning: {cls.key}: {choice.unpredicted} new candidates have no model prediction; "
                           "run  curate predict  again to include them", err=True)
    print_table("active HITs", ["class", "name", "images sent", "HITs", f"confident (>= {confident})",
                                "pending", "scores"], rows)
    click.echo(f"created {total} active HITs, {cfg.workers_per_image} more vote(s) per image; confident "
               "images are not sent again")


@hits.command("list")
@pass_cli
def hits_list(cli: CliContext) -> None:
    """List HITs with their progress and ExternalQuestion URL.

    \b
    Example:
      curate hits list
    """
    from annotate_ui.hits import hit_rows
    from curation.db.session import session_scope

    base = _config(cli).public_base
    with session_scope(cli.engine()) as session:
        rows = hit_rows(session)
    print_table("HITs", ["hit", "kind", "class", "items", "submitted", "quota", "status", "expires"],
                [(*r[:7], r[7] or "") for r in rows])
    labels = sum(r[1] == "label" for r in rows)
    click.echo(f"{len(rows)} HITs ({labels} label, {len(rows) - labels} qualification); ExternalQuestion URL: {base}/task?hitId=HIT "
               "(the platform adds assignmentId, workerId, turkSubmitTo)")


@click.group()
def gold() -> None:
    """Gold images (known answers) hidden in HITs."""


@gold.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--class", "class_key", required=True, metavar="KEY", help="The class the images show (or not).")
@click.option("--class-set", default=None, help="Class set of the class, if its key is ambiguous.")
@click.option("--negative", is_flag=True, help="The images do NOT show the class (gold negatives).")
@pass_cli
def gold_import(cli: CliContext, directory: Path, class_key: str, class_set: str | None, negative: bool) -> None:
    """Import a seed set of gold images for a class from DIRECTORY.

    \b
    Example:
      curate gold import seeds/goldfish --class n01443537
      curate gold import seeds/not_goldfish --class n01443537 --negative
    """
    from annotate_ui.hits import import_gold, resolve_class
    from curation.db.session import session_scope

    settings = cli.settings()
    with session_scope(cli.engine()) as session:
        cls = resolve_class(session, class_key, class_set)
        added, known, rejected = import_gold(session, cli.store(), directory, cls, negative, settings.default_license,
                                             settings.max_image_bytes, settings.max_image_pixels)
    kind = "negatives" if negative else "positives"
    bad = ", ".join(f"{k}: {v}" for k, v in sorted(rejected.items())) or "none"
    click.echo(f"gold {kind} for {cls.name}: {added} new, {known} already gold, rejected files: {bad}")


@gold.command("from-reviews")
@click.option("--class", "class_key", default=None, metavar="KEY", help="Only this class.")
@pass_cli
def gold_from_reviews_cmd(cli: CliContext, class_key: str | None) -> None:
    """Turn undisputed review decisions into gold (accepted: positives, rejected: negatives).

    \b
    Example:
      curate gold from-reviews
    """
    from annotate_ui.hits import gold_from_reviews, resolve_class
    from curation.db.session import session_scope

    with session_scope(cli.engine()) as session:
        cls = resolve_class(session, class_key) if class_key else None
        added = gold_from_reviews(session, cls)
    click.echo(f"{added} gold items added from reviews")


list_command(gold, "Gold counts per class.", "gold", ["class", "name", "positives", "negatives"],
             "annotate_ui.quality:gold_by_class")


def ensure_secret_key(settings) -> str:
    """The app's secret key from the environment or secrets.toml; made (0600) on first serve."""
    from annotate_ui.app import resolve_secret_key
    from curation.config import SECRETS_NAME

    key = resolve_secret_key(settings)
    if key:
        return key
    key = secrets.token_urlsafe(48)
    path = settings.root / SECRETS_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as fh:
        fh.write(f'\nsecret_key = "{key}"\n')
    click.echo(f"made a secret key for signed sessions and image links in {path}")
    return key


@click.command()
@click.option("--host", default="127.0.0.1", help="Address to listen on (0.0.0.0 for every interface).")
@click.option("--port", default=8000, help="Port to listen on.")
@click.option("--threads", default=8, help="Request threads of the production server.")
@click.option("--dev", is_flag=True, help="Flask's debug server with reloading instead of waitress (never in production).")
@pass_cli
def serve(cli: CliContext, host: str, port: int, threads: int, dev: bool) -> None:
    """Serve the labeling, review and admin app (waitress; the debug server only with --dev).

    \b
    Example:
      curate serve --host 0.0.0.0 --port 8000
    """
    from annotate_ui.app import create_app
    from annotate_ui.server import serve_forever

    settings = cli.settings()
    app = create_app(settings, cli.engine(), secret_key=ensure_secret_key(settings))
    click.echo(f"curate app on http://{host}:{port}/  (reviewers: /login, admins: /admin, where invites, HITs "
               "and accounts are managed)")
    if not app.extensions["curate"].cfg.base_url:
        click.echo("links printed by  curate invites  use http://127.0.0.1:8000: set annotate.base_url in "
                   "curate.toml to the address workers use (e.g. behind a reverse proxy)", err=True)
    if dev:
        app.run(host=host, port=port, debug=True, use_reloader=False)
    else:
        serve_forever(app, host, port, threads)


@click.command()
@click.option("--class", "classes", multiple=True, metavar="KEY", help="Only these classes (repeatable).")
@click.option("--class-set", default=None, help="Class set of the classes, if ambiguous.")
@click.option("--method", default="dawid-skene", help="Posterior model: dawid-skene, majority, glad, mace or "
              "crowdlab (crowd plus the newest  curate predict  run, via cleanlab).")
@click.option("--min-frequency", type=float, help="Accept when at least this share of workers ticked it [0.7].")
@click.option("--min-votes", type=int, help="... and at least this many workers voted [5].")
@click.option("--min-posterior", type=float, help="Model rows: accept at this posterior [0.9].")
@pass_cli
def aggregate(cli: CliContext, classes: tuple[str, ...], class_set: str | None, method: str,
              min_frequency: float | None, min_votes: int | None, min_posterior: float | None) -> None:
    """Selection frequency and a model posterior per image, flagged workers left out.

    \b
    Example:
      curate aggregate --method dawid-skene --min-frequency 0.7 --min-votes 5
    """
    from annotate_ui.aggregate import ALL_METHODS, DecisionRule, aggregate as run
    from annotate_ui.hits import resolve_class
    from curation.db.models import ImageClass
    from curation.db.session import session_scope
    from curation.errors import CurateError

    if method not in ALL_METHODS:
        raise CurateError(f"unknown method {method!r}; valid: {', '.join(ALL_METHODS)}")
    rule = DecisionRule.from_config(_config(cli, min_frequency=min_frequency, min_votes=min_votes,
                                            min_posterior=min_posterior))
    with session_scope(cli.engine()) as session:
        ids = [resolve_class(session, key, class_set).id for key in classes] or None
        summary = run(session, rule, method, ids)
        rows = [(session.get(ImageClass, c).name, n, a) for c, (n, a) in sorted(summary.per_class.items())]
    print_table("aggregated", ["class", "images", "accepted (frequency)"], rows)
    click.echo(f"{summary.tasks} images from {summary.votes} votes ({summary.excluded_votes} votes of flagged workers "
               f"left out): {summary.accepted_frequency} accepted by frequency >= {rule.min_frequency} with >= "
               f"{rule.min_votes} votes, {summary.accepted_model} by {method}"
               + (" consensus" if method == "crowdlab" else f" posterior >= {rule.min_posterior}"))
    if method == "crowdlab":
        click.echo("consensus quality per image and worker quality stored; reviewers now see the most doubtful "
                   "images first")


@click.command()
@click.option("--class-set", default="imagenet-r", show_default=True, help="Class set whose candidates to predict.")
@click.option("--weights", required=True, type=click.Path(path_type=Path),
              help="Local backbone weights (a torchvision state dict or a curate checkpoint); nothing is downloaded.")
@click.option("--arch", default="resnet18", show_default=True, help="torchvision architecture of --weights.")
@click.option("--folds", default=5, show_default=True, help="K of the K-fold cross-validation.")
@click.option("--size", default=96, show_default=True, help="Side in pixels the images are resized to.")
@click.option("--seed", default=0, help="Seed of the fold split and the linear head.")
@pass_cli
def predict(cli: CliContext, class_set: str, weights: Path, arch: str, folds: int, size: int, seed: int) -> None:
    """Out-of-sample P(image shows its class) for every candidate of a class set, stored with the run.

    A linear head on the frozen backbone's features is fitted K times on the current labels (gold and
    the crowd's majority) and predicts the fold it did not see; CROWDLAB uses these predictions.

    \b
    Example:
      curate predict --class-set imagenet-r --weights ~/weights/resnet50.pth --arch resnet50 --folds 5
    """
    from annotate_ui.predictions import PredictOptions, predict_class_set
    from curation.db.session import session_scope
    from curation.taxonomy import get_class_set

    with session_scope(cli.engine()) as session:
        classes = list(get_class_set(session, class_set).classes)
        run = predict_class_set(session, cli.store(), classes, PredictOptions(arch, weights, folds, seed, size))
        run_id, n, labelled, acc = run.id, run.n_images, run.n_labelled, run.metrics["oof_accuracy"]
    click.echo(f"model run {run_id}: {arch} features + linear head, {folds}-fold: {n} images predicted "
               f"({labelled} labelled, out-of-fold accuracy {acc:.3f}); next:  curate aggregate --method crowdlab")

