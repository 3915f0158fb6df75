"""Inserting many rows at once with little work per row: one driver-level ``executemany``.

SQLAlchemy's Core ``insert`` with a list of dicts runs every value of every row through its column's bind
processor (a JSON column serialises its dict once per row, a SQLite date once per row) and evaluates
Python-side defaults per row; for the tens of thousands of rows an import or a filter run writes, that is
most of the time spent in the database. :func:`insert_rows` compiles the statement once for the engine's
dialect (so PostgreSQL keeps its casts), binds the values that are the same in every row (``constants``,
and the columns' Python-side defaults) once, runs a bind processor per row only for the columns whose type
has one, and hands the driver plain tuples or dicts.
"""

from __future__ import annotations

from functools import lru_cache
from operator import itemgetter
from typing import Any, Mapping, Sequence

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                constants: Mapping[str, Any] | None = None) -> None:
    """Insert ``rows`` (tuples of values for ``columns``) into ``table`` in the session's transaction.

    ``constants`` gives values shared by every row; a column in neither with a Python-side default (a
    value or a function of nothing, like ``created_at``) gets that default, evaluated once for the batch.
    """
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    fixed = dict(constants or {})
    for column in table.columns:
        default = column.default
        if column.key in fixed or column.key in columns or default is None or not default.is_scalar and \
                not default.is_callable:
            continue
        fixed[column.key] = default.arg if default.is_scalar else default.arg(None)
    names = (*columns, *fixed)
    sql, positional, order = _plan(table, names, dialect)
    fixed_values = []
    for name, value in fixed.items():
        process = _processor(table, name, dialect)
        fixed_values.append(process(value) if process else value)
    fixed_tail = tuple(fixed_values)
    per_row = [(i, process) for i, name in enumerate(columns)
               if (process := _processor(table, name, dialect)) is not None]
    pick = itemgetter(*order) if len(order) > 1 else (lambda values: (values[order[0]],))
    data: list[Any] = []
    for row in rows:
        if per_row:
            row = list(row)
            for i, process in per_row:
                row[i] = process(row[i])  # as SQLAlchemy does: None too (a JSON None is stored as null)
        values = (*row, *fixed_tail)
        data.append(pick(values) if positional else dict(zip(names, values)))
    conn.exec_driver_sql(sql, data)


def _processor(table: Table, name: str, dialect):
    return table.c[name].type._cached_bind_processor(dialect)  # the processor SQLAlchemy itself runs


@lru_cache(maxsize=256)
def _plan(table: Table, names: tuple[str, ...], dialect) -> tuple[str, bool, tuple[int, ...]]:
    """The statement for ``names`` compiled once for ``dialect``: its SQL, whether its parameters are
    positional, and for positional ones the index in ``names`` of each parameter in order."""
    compiled = insert(table).compile(dialect=dialect, column_keys=list(names))
    unbound = [name for name in names if name not in compiled.binds]
    if unbound:
        raise ValueError(f"insert_rows: {table.name} has no column(s) {', '.join(unbound)}")
    if not compiled.positional:
        return compiled.string, False, ()
    where = {name: i for i, name in enumerate(names)}
    return compiled.string, True, tuple(where[name] for name in compiled.positiontup)
