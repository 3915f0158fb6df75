"""CLI commands for people: ``curate users`` (reviewers, admins) and ``curate invites`` (workers)."""

from __future__ import annotations

import os

import click

from curation.cli import CliContext
from curation.commands import print_table

pass_cli = click.make_pass_decorator(CliContext)
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


@users.command("list")
@pass_cli
def users_list(cli: CliContext) -> None:
    """List accounts.

    \b
    Example:
      curate users list
    """
    from sqlalchemy import select

    from curation.db.models import User, Worker
    from curation.db.session import session_scope

    with session_scope(cli.engine()) as session:
        rows = session.execute(select(User.username, User.role, Worker.external_id, User.created_at)
                               .outerjoin(Worker, Worker.id == User.worker_id).order_by(User.username)).all()
    print_table("accounts", ["user", "role", "worker", "created"], [tuple(r) for r in rows])


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


@invites.command("list")
@pass_cli
def invites_list(cli: CliContext) -> None:
    """List invites with their remaining uses.

    \b
    Example:
      curate invites list
    """
    from sqlalchemy import select

    from curation.db.models import Invite
    from curation.db.session import session_scope

    with session_scope(cli.engine()) as session:
        rows = session.execute(select(Invite.code, Invite.uses_left, Invite.expires_at, Invite.note)
                               .order_by(Invite.id)).all()
    print_table("invites", ["code", "uses left", "expires", "note"],
                [(c, "∞" if u is None else u, e or "", n) for c, u, e, n in rows])
