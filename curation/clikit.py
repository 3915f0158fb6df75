"""What every command module shares: ``pass_cli``, ``print_table`` and ``query_rows`` for list commands.

Command modules (``curation/commands.py``, ``*/cli.py``) import these from here, never from each other.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import click

from curation.cli import CliContext

pass_cli = click.make_pass_decorator(CliContext)


def _numeric(value: object) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def print_table(title: str, headers: Sequence[str], rows: Iterable[Sequence[object]], width: int | None = None) -> None:
    """A rich table on stdout; a column whose every value is a number is right-aligned.

    ``width`` fixes the console width (wide tables stay unwrapped when output is not a terminal).
    """
    from rich.console import Console
    from rich.table import Table

    rows = [tuple(row) for row in rows]
    table = Table(title=title)
    for i, header in enumerate(headers):
        numeric = bool(rows) and all(_numeric(row[i]) for row in rows)
        table.add_column(header, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    Console(width=width).print(table)


def query_rows(cli: CliContext, query: Callable[[Any], list[tuple]]) -> list[tuple]:
    """The rows ``query(session)`` returns, read in one unit of work on the workspace database.

    A list command is ``print_table(title, headers, query_rows(cli, some_rows))`` where ``some_rows``
    is the package's query function (one query, plain values).
    """
    from curation.db.session import session_scope

    with session_scope(cli.engine()) as session:
        return query(session)
