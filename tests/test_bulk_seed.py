from collections import Counter
from decimal import Decimal

from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from portal.bulk_seed import seed_bulk
from portal.debtors.models import Debtor
from portal.invoices.models import Invoice
from portal.invoices.references import betalingskenmerk, is_valid_betalingskenmerk
from portal.ledger.models import Allocation, Payment
from portal.ledger.service import ledger_discrepancies
from portal.money import ZERO
from portal.organisations.models import User


def test_bulk_seed_builds_a_balanced_ledger(db_session):
    organisation = seed_bulk(db_session, slug="bulk-test", debtors=200, invoices=2_000)
    org_id = organisation.id
    today = organisation.today()
    assert organisation.name == "Bench bulk-test"
    assert organisation.reference_scheme == "nl"
    owner = db_session.scalar(select(User).where(User.organisation_id == org_id))
    assert owner.email == "owner@bulk-test.duly.test" and owner.role == "owner"
    assert check_password_hash(owner.password_hash, "bench")

    debtor_numbers = list(db_session.scalars(select(Debtor.number).where(Debtor.organisation_id == org_id)))
    assert len(debtor_numbers) == 200
    assert len(set(debtor_numbers)) == 200 and None not in debtor_numbers

    documents = list(db_session.scalars(select(Invoice).where(Invoice.organisation_id == org_id)))
    invoices = [i for i in documents if i.kind == "invoice"]
    credit_notes = [i for i in documents if i.kind == "credit_note"]
    assert len(invoices) == 2_000
    assert len(credit_notes) == 10  # one for every 200th invoice
    assert max(Counter((i.kind, i.number) for i in documents).values()) == 1

    # References are the organisation's scheme over the invoice id, as create_invoice makes them.
    assert all(i.payment_reference == betalingskenmerk(i.id) for i in invoices)
    assert all(is_valid_betalingskenmerk(i.payment_reference) for i in invoices)
    assert all(i.payment_reference == "" for i in credit_notes)

    # About 70 % paid; the open rest is mostly overdue, some not due yet, some partly paid.
    paid = [i for i in invoices if i.status == "paid"]
    open_ = [i for i in invoices if i.status == "open"]
    assert 0.6 < len(paid) / len(invoices) < 0.8
    assert all(i.open_amount == ZERO and i.settled_on is not None for i in paid)
    assert all(i.open_amount > ZERO and i.settled_on is None for i in open_)
    overdue = [i for i in open_ if i.due_date < today]
    assert overdue and len(overdue) < len(open_)  # some are not due yet
    assert any(ZERO < i.open_amount < i.total for i in overdue)  # partial payments
    assert all(i.issue_date <= today for i in documents)
    assert (today - min(i.issue_date for i in documents)).days >= 700  # 24 months of history
    assert all(i.settled_on <= today and i.settled_on >= i.issue_date for i in paid)

    # Credit notes: negative, their open amount is the unused credit; some used, some not.
    assert all(c.total < ZERO and c.due_date is None for c in credit_notes)
    assert {c.status for c in credit_notes} == {"open", "paid"}
    assert all(c.open_amount in (ZERO, -c.total) for c in credit_notes)
    used = db_session.scalar(
        select(func.count(Allocation.id)).where(
            Allocation.organisation_id == org_id, Allocation.credit_note_id.is_not(None)
        )
    )
    assert used == sum(c.status == "paid" for c in credit_notes)

    payments = list(db_session.scalars(select(Payment).where(Payment.organisation_id == org_id)))
    assert len(payments) >= len(paid) - used
    assert all(p.amount > ZERO and p.unallocated_amount >= ZERO for p in payments)
    assert all(p.reference and is_valid_betalingskenmerk(p.reference) for p in payments)

    assert ledger_discrepancies(db_session, org_id) == []


def test_bulk_seed_is_repeatable_and_keeps_organisations_apart(db_session):
    first = seed_bulk(db_session, slug="bulk-a", debtors=20, invoices=150, seed=7)
    second = seed_bulk(db_session, slug="bulk-b", debtors=20, invoices=150, seed=7)

    def shape(org_id):
        return [
            (i.number, i.kind, i.total, i.open_amount, i.status, i.issue_date)
            for i in db_session.scalars(select(Invoice).where(Invoice.organisation_id == org_id).order_by(Invoice.id))
        ]

    assert shape(first.id) == shape(second.id)  # same seed, same data; ids (and so references) differ
    totals = db_session.scalar(select(func.sum(Invoice.total)).where(Invoice.organisation_id == first.id))
    assert totals > Decimal("0")
    for org in (first, second):
        assert ledger_discrepancies(db_session, org.id) == []
