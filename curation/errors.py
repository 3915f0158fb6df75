"""Errors meant for users: each message says what went wrong and what to do next."""

from __future__ import annotations


class CurateError(Exception):
    """An error a user can act on. The CLI prints it without a traceback and exits 1."""


class WorkspaceNotFound(CurateError):
    pass


class DatabaseUnreachable(CurateError):
    pass
