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
    names = [*columns, *fixed]
    compiled = insert(table).compile(dialect=dialect, column_keys=names)
    unbound = [name for name in names if name not in compiled.binds]
    if unbound:
        raise ValueError(f"insert_rows: {table.name} has no column(s) {', '.join(unbound)}")

    def processor(name: str):
        return table.c[name].type._cached_bind_processor(dialect)  # the processor SQLAlchemy itself runs

    fixed_values = {}
    for name, value in fixed.items():
        process = processor(name)
        fixed_values[name] = process(value) if process else value
    per_row = [(i, process) for i, name in enumerate(columns) if (process := processor(name)) is not None]
    index = {name: i for i, name in enumerate(columns)}
    data: list[Any] = []
    if compiled.positional:
        slots = [(index[name], None) if name in index else (None, fixed_values[name])
                 for name in compiled.positiontup]
    for row in rows:
        values = list(row)
        for i, process in per_row:
            values[i] = process(values[i])  # as SQLAlchemy does: None too (a JSON None is stored as null)
        if compiled.positional:
            data.append(tuple(values[i] if i is not None else v for i, v in slots))
        else:
            item = dict(fixed_values)
            item.update(zip(columns, values))
            data.append(item)
    conn.exec_driver_sql(compiled.string, data)
