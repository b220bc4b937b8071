"""Migration 0017 on a database that has lived: the paid claims kept as events become claims of their own, and the
status and kind columns refuse what their vocabulary does not hold (both databases)."""

import json
import uuid
from datetime import UTC, date, datetime

import psycopg
import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from portal import create_app
from tests.conftest import DB_BACKEND, PG_ADMIN_DSN

BEFORE = "a6c41e0b7d2f"  # 0016


@pytest.fixture
def database_url(tmp_path):
    if DB_BACKEND == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    name = f"duly_migrations_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate(url: str, revision: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "RATELIMIT_STORAGE_URI": "memory://"})
    with app.app_context():
        upgrade(revision=revision)
        from portal.extensions import db

        db.engine.dispose()


def _insert(conn, table: str, **values) -> None:
    """A row as the schema of the day takes it: what is not given but required gets a plain filler."""
    now = datetime(2026, 12, 1, 10, tzinfo=UTC).replace(tzinfo=None)
    for column in inspect(conn).get_columns(table):
        name, kind = column["name"], str(column["type"]).upper()
        if name in values or column["nullable"] or column.get("default") is not None or column.get("autoincrement"):
            continue
        if "TIME" in kind:
            values[name] = now
        elif "DATE" in kind:
            values[name] = date(2026, 12, 1)
        elif "BOOL" in kind:
            values[name] = False
        elif "CHAR" in kind or "TEXT" in kind or "JSON" in kind:
            values[name] = "{}" if "JSON" in kind else ""
        else:
            values[name] = 0
    names = ", ".join(values)
    conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + n for n in values)})"), values)


def _seed(conn) -> None:
    """An organisation whose debtor said, before 0017, that two invoices were paid (one still held on it, one whose
    hold the supplier lifted since), as 0016's code kept it: a hold reason and a timeline event."""
    _insert(conn, "organisations", id=1, slug="o", name="O", timezone="Europe/Amsterdam", locale="nl")
    _insert(conn, "debtors", id=1, organisation_id=1, number="D1", name="Klant", kind="business", language="nl")
    held = (1, date(2026, 12, 8), "Paid, the debtor says (on 2026-11-30)")
    for invoice_id, hold_until, reason in (held, (2, None, "")):
        _insert(
            conn,
            "invoices",
            id=invoice_id,
            organisation_id=1,
            debtor_id=1,
            kind="invoice",
            number=f"F-{invoice_id}",
            issue_date=date(2026, 10, 1),
            due_date=date(2026, 10, 31),
            currency="EUR",
            total=100,
            open_amount=100,
            status="open",
            source="manual",
            hold_until=hold_until,
            hold_reason=reason,
        )
    data = {"invoice_ids": "1,2", "paid_on": "2026-11-30", "comment": "Overgemaakt", "until": "2026-12-08"}
    _insert(conn, "events", organisation_id=1, kind="invoice:paid:claimed", debtor_id=1, data=json.dumps(data))
    _insert(conn, "users", organisation_id=1, email="a@example.com", name="A", role="owner", active=True)


def test_paid_claims_from_before_become_claims_and_the_vocabulary_is_checked(database_url):
    _migrate(database_url, BEFORE)
    engine = create_engine(database_url)
    with engine.begin() as conn:
        _seed(conn)
    engine.dispose()

    _migrate(database_url, "head")

    engine = create_engine(database_url)
    with engine.begin() as conn:
        [claim] = conn.execute(text("SELECT id, debtor_id, paid_on, comment, until FROM paid_claims")).all()
        assert (claim.debtor_id, str(claim.paid_on), claim.comment, str(claim.until)) == (
            1,
            "2026-11-30",
            "Overgemaakt",
            "2026-12-08",
        )
        named = conn.execute(text("SELECT invoice_id FROM paid_claim_invoices ORDER BY invoice_id")).scalars().all()
        assert named == [1, 2]
        holding = dict(conn.execute(text("SELECT id, paid_claim_id FROM invoices")).all())
        assert holding == {1: claim.id, 2: None}  # the lifted hold no longer rests on the claim
        # SQLite copied the invoices table to add its constraints: the open totals' triggers came along.
        if DB_BACKEND == "sqlite":
            triggers = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars().all()
        else:
            triggers = conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars().all()
        expected = {"invoices_open_totals_insert", "invoices_open_totals_update", "invoices_open_totals_delete"}
        assert {t for t in triggers if t.startswith("invoices_open_totals")} == (
            expected if DB_BACKEND == "sqlite" else {"invoices_open_totals"}
        )
    for statement in (
        "UPDATE invoices SET status = 'gone' WHERE id = 1",
        "UPDATE debtors SET kind = 'robot' WHERE id = 1",
        "UPDATE users SET role = 'root'",
    ):
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(statement))
    engine.dispose()
