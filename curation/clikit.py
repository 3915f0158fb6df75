"""What every command module shares: ``pass_cli``, ``print_table``, and ``list_command`` for ``X list``.

Command modules (``curation/commands.py``, ``*/cli.py``) import these from here, never from each other.
A list command prints the rows of one query function of its package (one query, plain values).
"""

from __future__ import annotations

import importlib
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


def print_findings(report: object, kinds: Sequence[str]) -> None:
    """A line ``kind item`` for every item of the list attributes ``kinds`` of a check's report."""
    width = max(map(len, kinds))
    for kind in kinds:
        for item in getattr(report, kind):
            click.echo(f"{kind:{width}} {item}")


def query_rows(cli: CliContext, query: Callable[[Any], list[tuple]]) -> list[tuple]:
    """The rows ``query(session)`` returns, read in one unit of work on the workspace database."""
    from curation.db.session import session_scope

    with session_scope(cli.engine()) as session:
        return query(session)


def list_command(group: click.Group, summary: str, title: str, headers: Sequence[str], query: str,
                 shown: Callable[[tuple], tuple] | None = None, width: int | None = None) -> click.Command:
    """Add ``list`` to ``group``: a table of the rows of ``query`` ("module:function", imported when run,
    so ``--help`` stays fast), each passed through ``shown`` when given."""
    def run(cli: CliContext) -> None:
        module, name = query.split(":")
        rows = query_rows(cli, getattr(importlib.import_module(module), name))
        print_table(title, headers, [shown(row) for row in rows] if shown else rows, width)

    run.__doc__ = f"{summary}\n\n\b\nExample:\n  curate {group.name} list"
    return group.command("list")(pass_cli(run))
