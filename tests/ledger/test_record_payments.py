"""Booking many payments at once keeps the ledger's rules: the same outcome as one by one, or nothing at all."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.events import Event
from portal.ledger.models import Allocation, Payment
from portal.ledger.service import LedgerError, NewPayment, ledger_discrepancies, record_payments
from tests.factories import make_debtor, make_invoice, make_organisation

DAY = date(2026, 11, 20)


def test_many_payments_at_once_pay_in_order_and_keep_the_books(db_session):
    organisation = make_organisation(db_session)
    ann, bob = make_debtor(db_session, organisation), make_debtor(db_session, organisation)
    a1 = make_invoice(db_session, ann, "100.00")
    a2 = make_invoice(db_session, ann, "50.00")
    b1 = make_invoice(db_session, bob, "80.00")

    ids = record_payments(
        db_session,
        organisation.id,
        [
            NewPayment(ann.id, Decimal("60.00"), "EUR", DAY, "first", [(a1.id, Decimal("60.00"))]),
            NewPayment(
                ann.id, Decimal("100.00"), "EUR", DAY, "second", [(a1.id, Decimal("40.00")), (a2.id, Decimal("50.00"))]
            ),
            NewPayment(bob.id, Decimal("30.00"), "EUR", DAY, "part", [(b1.id, Decimal("30.00"))]),
        ],
        method="bank",
    )

    payments = [db_session.get(Payment, i) for i in ids]
    assert [p.reference for p in payments] == ["first", "second", "part"]
    assert [p.unallocated_amount for p in payments] == [Decimal("0.00"), Decimal("10.00"), Decimal("0.00")]
    for invoice in (a1, a2, b1):
        db_session.refresh(invoice)
    assert (a1.status, a1.open_amount, a1.settled_on) == ("paid", Decimal("0.00"), DAY)
    assert (a2.status, b1.status, b1.open_amount) == ("paid", "open", Decimal("50.00"))
    assert db_session.scalar(select(func.count()).select_from(Allocation)) == 4
    kinds = db_session.scalars(select(Event.kind).where(Event.organisation_id == organisation.id)).all()
    assert kinds.count("payment:bank:booked") == 3 and kinds.count("invoice:payment:allocated") == 4
    assert ledger_discrepancies(db_session, organisation.id) == []


@pytest.mark.parametrize("why", ["too much for the invoice", "another debtor's invoice", "more than the payment"])
def test_anything_wrong_books_nothing(db_session, why):
    organisation = make_organisation(db_session)
    ann, bob = make_debtor(db_session, organisation), make_debtor(db_session, organisation)
    a1 = make_invoice(db_session, ann, "100.00")
    b1 = make_invoice(db_session, bob, "80.00")
    bad = {
        "too much for the invoice": NewPayment(ann.id, Decimal("70.00"), "EUR", DAY, "", [(a1.id, Decimal("70.00"))]),
        "another debtor's invoice": NewPayment(ann.id, Decimal("10.00"), "EUR", DAY, "", [(b1.id, Decimal("10.00"))]),
        "more than the payment": NewPayment(ann.id, Decimal("10.00"), "EUR", DAY, "", [(a1.id, Decimal("20.00"))]),
    }[why]
    good = NewPayment(ann.id, Decimal("40.00"), "EUR", DAY, "", [(a1.id, Decimal("40.00"))])
    with pytest.raises(LedgerError):
        record_payments(db_session, organisation.id, [good, bad], method="bank")
    assert db_session.scalar(select(func.count()).select_from(Payment)) == 0
    db_session.refresh(a1)
    assert a1.open_amount == Decimal("100.00")
