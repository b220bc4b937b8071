"""Thousands of rows at once (a bank statement's payments, allocations, events, transactions): COPY and one array
parameter on PostgreSQL, executemany and IN lists of a thousand on SQLite."""

import gc
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import JSON, Table, any_, bindparam, insert, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

CHUNK = 1000  # SQLite allows 32,766 parameters a statement; a thousand keeps the statements short


def postgres(session: Session) -> bool:
    return session.connection().dialect.name == "postgresql"


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows that name every column they set (COPY applies no Python-side defaults), in the caller's
    transaction. On PostgreSQL a COPY, streamed, where psycopg's executemany sends one INSERT a row: for a
    statement's payments, allocations, events and transactions, half the time; most of what is left is the
    foreign-key checks, made a row at a time either way."""
    if not rows:
        return
    if not postgres(session):
        session.execute(insert(table), list(rows))
        return
    columns = list(rows[0])
    as_json = {name for name in columns if isinstance(table.c[name].type, JSON)}
    connection = session.connection().connection.driver_connection
    with connection.cursor() as cursor, cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([json.dumps(row[c]) if c in as_json else row[c] for c in columns])


def new_ids(session: Session, table: Table, count: int) -> list[int]:
    """Primary keys for rows to COPY in (PostgreSQL): taken from the table's sequence, so no other insert can have
    them; ascending, so that the rows keep the order they were given in."""
    return sorted(
        session.scalars(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
            {"table": table.name, "count": count},
        )
    )


def among(session: Session, column, values: Sequence) -> Iterator[ColumnElement]:
    """Conditions that together say "column is one of values": on PostgreSQL one ``= ANY(array)`` (one parameter:
    psycopg and the planner see a short statement however many values), elsewhere IN lists of CHUNK values."""
    if not values:
        return
    if postgres(session):
        yield column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
        return
    for start in range(0, len(values), CHUNK):
        yield column.in_(values[start : start + CHUNK])


@contextmanager
def collector_paused():
    """Python's cycle collector off for a bulk job, and on again after it, also after an error.

    A statement's import keeps a few hundred thousand small objects alive to its end (entries, rows read, rows to
    write) and leaves no cycles worth collecting, yet its growth sets off full passes of the collector, each over
    every object of the process: three at 10,000 entries, half a second in all, finding nothing. Used as a decorator
    too. The state is the process's: another thread's objects wait as well, for the seconds the job takes.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
