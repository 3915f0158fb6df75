"""CLI commands for people: ``curate users`` (reviewers, admins) and ``curate invites`` (workers)."""

from __future__ import annotations

import os

import click

from curation.cli import CliContext
from curation.clikit import list_command, pass_cli

PASSWORD_ENV = "CURATE_USER_PASSWORD"


def _base_url(cli: CliContext, base_url: str | None) -> str:
    from annotate_ui.config import config_from_settings

    return (base_url or config_from_settings(cli.settings()).public_base).rstrip("/")


@click.group()
def users() -> None:
    """Reviewer and admin accounts."""


@users.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(["reviewer", "admin"]), default="reviewer", help="What the account may do.")
@click.option("--worker", "worker_id", default=None, metavar="WORKER",
              help="The worker id this person labeled under (they will never review images they voted on).")
@pass_cli
def users_create(cli: CliContext, username: str, role: str, worker_id: str | None) -> None:
    """Create an account. The password comes from CURATE_USER_PASSWORD or a prompt, never the command line.

    \b
    Example:
      curate users create alice --role admin
      CURATE_USER_PASSWORD=… curate users create bob
    """
    from annotate_ui.accounts import create_user
    from curation.db.session import session_scope

    password = os.environ.get(PASSWORD_ENV) or click.prompt(f"password for {username}", hide_input=True,
                                                            confirmation_prompt=True)
    with session_scope(cli.engine()) as session:
        create_user(session, username, password, role, worker_id)
    click.echo(f"{role} {username} created; sign in at {_base_url(cli, None)}/login")


list_command(users, "List accounts.", "accounts", ["user", "role", "worker", "created"],
             "annotate_ui.accounts:user_rows")


@click.group()
def invites() -> None:
    """Invite links and personal worker links."""


@invites.command("create")
@click.option("--uses", type=int, default=None, help="How many workers may join with it (default: no limit).")
@click.option("--days", type=float, default=None, help="Days until it expires (default: never).")
@click.option("--note", default="", help="A note for yourself (who it is for).")
@click.option("--base-url", default=None, help="How workers reach the server [annotate.base_url].")
@pass_cli
def invites_create(cli: CliContext, uses: int | None, days: float | None, note: str, base_url: str | None) -> None:
    """Create an invite link; each person who opens it becomes a new worker.

    \b
    Example:
      curate invites create --uses 20 --days 7 --note "pilot batch"
    """
    from annotate_ui.accounts import create_invite
    from curation.db.session import session_scope

    with session_scope(cli.engine()) as session:
        invite = create_invite(session, uses, days, note)
        code = invite.code
    click.echo(f"{_base_url(cli, base_url)}/join/{code}")


@invites.command("token")
@click.option("--worker", "worker_id", default=None, help="Worker id to (re)issue a link for (default: a new worker).")
@click.option("--base-url", default=None, help="How workers reach the server [annotate.base_url].")
@pass_cli
def invites_token(cli: CliContext, worker_id: str | None, base_url: str | None) -> None:
    """Create a personal worker link (a worker token), e.g. for a worker you already know.

    \b
    Example:
      curate invites token --worker alice-crowd-42
    """
    from annotate_ui.accounts import create_worker_token
    from curation.db.session import session_scope

    with session_scope(cli.engine()) as session:
        worker = create_worker_token(session, worker_id)
        token, name = worker.token, worker.external_id
    click.echo(f"worker {name}: {_base_url(cli, base_url)}/t/{token}")


@invites.command("task-link")
@click.option("--worker", "worker_id", required=True, help="The worker's id on the crowd platform (its workerId).")
@click.option("--hit", "hit_id", default="", help="A HIT's public id to pin the link to (default: any open HIT).")
@click.option("--base-url", default=None, help="How workers reach the server [annotate.base_url].")
@pass_cli
def invites_task_link(cli: CliContext, worker_id: str, hit_id: str, base_url: str | None) -> None:
    """Print a crowd platform worker's signed /task link (needs annotate.external_entry and a platform secret).

    The platform appends assignmentId and turkSubmitTo; the link's sig proves the workerId is ours to give.

    \b
    Example:
      CURATE_PLATFORM_SECRET=… curate invites task-link --worker A1B2C3
    """
    from urllib.parse import urlencode

    from annotate_ui.app import resolve_platform_secret
    from annotate_ui.security import platform_signature
    from curation.errors import CurateError

    worker_id = worker_id.strip()
    if not worker_id:
        raise CurateError("--worker must not be blank")
    secret = resolve_platform_secret(cli.settings())
    if not secret:
        raise CurateError("no platform secret: set CURATE_PLATFORM_SECRET or platform_secret in secrets.toml")
    query = {"workerId": worker_id, "sig": platform_signature(secret, worker_id)}
    if hit_id:
        query["hitId"] = hit_id
    click.echo(f"{_base_url(cli, base_url)}/task?{urlencode(query)}")


def _invite_shown(row: tuple) -> tuple:
    code, uses_left, expires, note = row
    return code, "∞" if uses_left is None else uses_left, expires or "", note


list_command(invites, "List invites with their remaining uses.", "invites", ["code", "uses left", "expires", "note"],
             "annotate_ui.accounts:invite_rows", _invite_shown)
