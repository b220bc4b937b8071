"""Test data built through the same services the app uses, so that tests see real invariants."""

import itertools
from datetime import timedelta

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from portal.debtors.service import create_debtor
from portal.ledger.invoices import create_invoice
from portal.organisations.calendar import next_send_day, window_opens
from portal.organisations.models import Organisation, User
from portal.reminders.models import Reminder

PASSWORD = "correct horse battery"
_seq = itertools.count(1)


def make_organisation(session, **values) -> Organisation:
    n = next(_seq)
    organisation = Organisation(
        slug=values.pop("slug", f"org-{n}"),
        name=values.pop("name", f"Supplier {n} B.V."),
        **values,
    )
    session.add(organisation)
    session.flush()
    return organisation


def make_user(session, organisation, *, role="owner", email=None, password=PASSWORD, **values) -> User:
    n = next(_seq)
    user = User(
        organisation_id=organisation.id,
        email=email or f"user{n}@example.com",
        name=values.pop("name", f"User {n}"),
        role=role,
        password_hash=generate_password_hash(password) if password else None,
        **values,
    )
    session.add(user)
    session.flush()
    return user


def make_debtor(session, organisation, **values):
    n = next(_seq)
    values.setdefault("name", f"Debtor {n}")
    values.setdefault("number", f"D{n}")
    return create_debtor(session, organisation.id, **values)


def make_invoice(session, debtor, total="100.00", *, days_overdue=None, **values):
    n = next(_seq)
    today = session.get(Organisation, debtor.organisation_id).today()
    issue = values.pop("issue_date", today - timedelta(days=30))
    due = values.pop("due_date", issue + timedelta(days=14))
    if days_overdue is not None:
        due = today - timedelta(days=days_overdue)
        issue = min(issue, due)
    if values.get("kind") == "credit_note":
        due = values.pop("due_date", None)
    return create_invoice(
        session,
        debtor.organisation_id,
        debtor.id,
        number=values.pop("number", f"INV-{n}"),
        issue_date=issue,
        due_date=due,
        total=total,
        **values,
    )


def make_invoice_due(session, debtor, due, total="100.00"):
    """An invoice issued 30 days before the day it is due."""
    return make_invoice(session, debtor, total, issue_date=due - timedelta(days=30), due_date=due)


def scheduled_invoice_ids(session, debtor) -> set[int]:
    """The debtor's invoices on a scheduled reminder: what planning put on the schedule."""
    reminders = session.scalars(
        select(Reminder).where(Reminder.debtor_id == debtor.id, Reminder.status == "scheduled")
    ).all()
    return {item.invoice_id for reminder in reminders for item in reminder.items}


def today_of(session, organisation_id: int):
    """The organisation's today: what a test means by "today" (never the machine's date.today())."""
    return session.get(Organisation, organisation_id).today()


def open_send_window(clock, organisation, minutes: int = 1):
    """Move the clock (time-machine's fixture) into the next send window of the organisation: a weekday that is not
    a public holiday, ``minutes`` after its send hour. Returns that day, the test's today from then on.

    For tests of what a reminder sent "today" says: on a Saturday, a holiday or after the send window, planning puts
    it on the next sending day, with that day's interest."""
    day = next_send_day(organisation)
    clock.move_to(window_opens(organisation, day) + timedelta(minutes=minutes), tick=True)
    assert organisation.today() == day
    return day
