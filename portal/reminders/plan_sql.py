"""SQL that planning's statements share and the two databases spell differently: adding days to a date, an INSERT
that skips rows a unique index turns away, and fresh statistics for the scratch tables a run just filled."""

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import Date


class add_days(FunctionElement):  # noqa: N801 - used like a SQL function
    """``date + n days`` in the database's own dialect (the two spell it differently)."""

    type = Date()
    inherit_cache = True


@compiles(add_days, "postgresql")
def _add_days_pg(element, compiler, **kw):
    day, days = list(element.clauses)
    return f"CAST(({compiler.process(day, **kw)}) + ({compiler.process(days, **kw)}) AS DATE)"


@compiles(add_days, "sqlite")
def _add_days_sqlite(element, compiler, **kw):
    day, days = list(element.clauses)
    return f"date({compiler.process(day, **kw)}, printf('%+d days', {compiler.process(days, **kw)}))"


def dialect_insert(session: Session, table):
    """INSERT in the database's own dialect, for its ON CONFLICT DO NOTHING (both spell it the same way)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def analyze(session: Session, *tables) -> None:
    """Fresh statistics for tables this run just filled: PostgreSQL would otherwise plan the next statements for
    the empty tables autovacuum last saw."""
    if session.get_bind().dialect.name == "postgresql":
        for table in tables:
            session.execute(text(f"ANALYZE {table.name}"))
