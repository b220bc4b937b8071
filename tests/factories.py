"""Test data built through the same services the app uses, so that tests see real invariants."""

import itertools
from datetime import date, timedelta

from werkzeug.security import generate_password_hash

from portal.debtors.service import create_debtor
from portal.invoices.service import create_invoice
from portal.organisations.models import Organisation, User

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
    today = date.today()
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
