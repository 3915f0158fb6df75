"""Reviewer and admin accounts (hashed passwords), invite links and worker tokens."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from curation.db.models import Invite, User, Worker, utcnow
from curation.errors import CurateError

ROLES = ("reviewer", "admin")
MIN_PASSWORD = 10
# A valid hash to compare against when the user does not exist, so timing does not reveal names.
_DUMMY_HASH: list[str] = []


def create_user(session: Session, username: str, password: str, role: str = "reviewer",
                worker_external_id: str | None = None) -> User:
    """A new account; ``worker_external_id`` links the worker identity they labeled under, if any."""
    from werkzeug.security import generate_password_hash

    if role not in ROLES:
        raise CurateError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")
    if not username or len(username) > 100 or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise CurateError("user names are 1-100 letters, digits, '.', '-' or '_'")
    if len(password) < MIN_PASSWORD:
        raise CurateError(f"passwords need at least {MIN_PASSWORD} characters")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise CurateError(f"user {username!r} exists; pick another name")
    worker_id = None
    if worker_external_id:
        worker = session.scalar(select(Worker).where(Worker.external_id == worker_external_id))
        if worker is None:
            raise CurateError(f"no worker {worker_external_id!r}; see the worker table on the admin dashboard")
        worker_id = worker.id
    user = User(username=username, password_hash=generate_password_hash(password), role=role, worker_id=worker_id)
    session.add(user)
    session.flush()
    return user


def check_password(session: Session, username: str, password: str) -> User | None:
    """The user if the password matches, else None (in about the same time either way)."""
    from werkzeug.security import check_password_hash, generate_password_hash

    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(generate_password_hash(secrets.token_hex(8)))
        check_password_hash(_DUMMY_HASH[0], password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def create_invite(session: Session, uses: int | None = None, days: float | None = None, note: str = "") -> Invite:
    """An invite code: each use creates a new worker. ``uses``/``days`` of None mean no limit."""
    import math

    if uses is not None and uses < 1:
        raise CurateError("--uses must be at least 1")
    if days is not None and (not math.isfinite(days) or days <= 0 or days > 3650):
        raise CurateError("--days must be a number of days above 0 (at most 3650); leave it out for no expiry")
    expires = utcnow() + dt.timedelta(days=days) if days is not None else None
    invite = Invite(code=secrets.token_urlsafe(18), uses_left=uses, expires_at=expires, note=note)
    session.add(invite)
    session.flush()
    return invite


def revoke_invite(session: Session, invite_id: int, now: dt.datetime | None = None) -> bool:
    """End an invite now (it expires; the workers who joined keep working)."""
    return bool(session.execute(update(Invite).where(Invite.id == invite_id)
                                .values(expires_at=now or utcnow(), uses_left=0)).rowcount)


def redeem_invite(session: Session, code: str, now: dt.datetime | None = None) -> Worker | None:
    """A new worker for a valid invite (its use count drops atomically), or None."""
    now = now or utcnow()
    invite = session.scalar(select(Invite).where(Invite.code == code))
    if invite is None or (invite.expires_at is not None and invite.expires_at < now):
        return None
    if invite.uses_left is not None:
        won = session.execute(update(Invite).where(Invite.id == invite.id, Invite.uses_left > 0)
                              .values(uses_left=Invite.uses_left - 1)).rowcount
        if not won:
            return None
    worker = Worker(external_id=f"w-{secrets.token_hex(6)}", token=secrets.token_urlsafe(24), invite=code)
    session.add(worker)
    session.flush()
    return worker


def create_worker_token(session: Session, external_id: str | None = None) -> Worker:
    """A worker with a personal login token (new, or an existing worker given a fresh token)."""
    worker = None
    if external_id is not None and not external_id.strip():
        raise CurateError("--worker must not be blank; leave it out for a new worker")
    if external_id:
        worker = session.scalar(select(Worker).where(Worker.external_id == external_id))
    if worker is None:
        worker = Worker(external_id=external_id or f"w-{secrets.token_hex(6)}")
        session.add(worker)
    worker.token = secrets.token_urlsafe(24)
    session.flush()
    return worker


def worker_by_token(session: Session, token: str) -> Worker | None:
    if not token or len(token) > 128:
        return None
    worker = session.scalar(select(Worker).where(Worker.token == token))
    return worker if worker is not None and hmac.compare_digest(worker.token or "", token) else None


def external_worker(session: Session, external_id: str) -> Worker:
    """The worker a crowd platform names with ``workerId`` (created on first visit)."""
    external_id = external_id.strip()[:200]
    if not external_id:
        raise CurateError("a crowd platform worker id must not be blank")
    worker = session.scalar(select(Worker).where(Worker.external_id == f"ext-{external_id}"))
    if worker is None:
        worker = Worker(external_id=f"ext-{external_id}")
        session.add(worker)
        session.flush()
    return worker


def user_rows(session: Session) -> list[tuple[str, str, str | None, dt.datetime]]:
    """(username, role, worker's external id, created) per account, by name."""
    stmt = (select(User.username, User.role, Worker.external_id, User.created_at)
            .outerjoin(Worker, Worker.id == User.worker_id).order_by(User.username))
    return [tuple(row) for row in session.execute(stmt)]


def invite_rows(session: Session) -> list[tuple[str, int | None, dt.datetime | None, str]]:
    """(code, uses left or None for unlimited, expiry, note) per invite, oldest first."""
    stmt = select(Invite.code, Invite.uses_left, Invite.expires_at, Invite.note).order_by(Invite.id)
    return [tuple(row) for row in session.execute(stmt)]
