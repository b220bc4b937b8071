"""Booking many payments at once keeps the ledger's rules: the same outcome as one by one, or nothing at all."""

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.events import Event
from portal.ledger.batch import NewPayment, record_payments
from portal.ledger.models import Allocation, DebtorBalance, OpenInvoiceTotal, Payment
from portal.ledger.service import LedgerError, change_total, ledger_discrepancies, record_payment
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
    # No refresh: what the session held is reloaded.
    assert (a1.status, a1.open_amount, a1.settled_on) == ("paid", Decimal("0.00"), DAY)
    assert (a2.status, b1.status, b1.open_amount) == ("paid", "open", Decimal("50.00"))
    assert db_session.scalar(select(func.count()).select_from(Allocation)) == 4
    kinds = db_session.scalars(select(Event.kind).where(Event.organisation_id == organisation.id)).all()
    assert kinds.count("payment:bank:booked") == 3 and kinds.count("invoice:payment:allocated") == 4
    # The timeline's words, as record_payment writes them (COPY on PostgreSQL).
    paid_a2 = db_session.scalars(
        select(Event).where(Event.invoice_id == a2.id, Event.kind == "invoice:payment:allocated")
    ).one()
    assert (paid_a2.payment_id, paid_a2.debtor_id) == (ids[1], ann.id)
    assert paid_a2.data == {"number": a2.number, "amount": "50.00", "currency": "EUR", "open_amount": "0.00"}
    assert paid_a2.created_at.tzinfo is not None and payments[0].created_at.tzinfo is not None
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


def test_a_bulk_booking_keeps_the_summaries_exact(db_session):
    """Due dates shared and not, two currencies, payments in full and in part, an invoice paid by two payments of
    the same batch, another organisation on the same days: the summaries (set-wise on PostgreSQL, by the row
    triggers on SQLite) agree with the invoices, and a booking after it in the same transaction still moves them."""
    rng = random.Random(5)
    organisation, other = make_organisation(db_session), make_organisation(db_session)
    days = [DAY - timedelta(days=n) for n in (0, 0, 3, 10, 10, 45)]
    debtors = [make_debtor(db_session, organisation) for _ in range(4)]
    invoices = [
        make_invoice(
            db_session,
            rng.choice(debtors),
            f"{rng.randint(1, 900)}.{rng.randint(0, 99):02d}",
            currency=rng.choice(["EUR", "EUR", "USD"]),
            issue_date=DAY - timedelta(days=90),
            due_date=rng.choice(days),
        )
        for _ in range(30)
    ]
    stranger = make_debtor(db_session, other)
    for day in days:
        make_invoice(db_session, stranger, "70.00", issue_date=DAY - timedelta(days=90), due_date=day)
    payments, paying = [], invoices[:24]
    for n, invoice in enumerate(paying):
        if n % 4 == 0:  # in two parts, both in this batch
            first = (invoice.open_amount / 3).quantize(Decimal("0.01"))
            parts = [first, invoice.open_amount - first]
        elif n % 4 == 1:  # in part, the rest left open
            parts = [(invoice.open_amount / 2).quantize(Decimal("0.01"))]
        else:
            parts = [invoice.open_amount]
        for part in parts:
            payments.append(
                NewPayment(invoice.debtor_id, part, invoice.currency, DAY, invoice.number, [(invoice.id, part)])
            )
    # One debtor's two invoices in one payment, with something over for the debtor's credit.
    ann_two = [
        i for i in invoices[24:] if i.debtor_id == invoices[24].debtor_id and i.currency == invoices[24].currency
    ]
    pair = ann_two[:2]
    payments.append(
        NewPayment(
            pair[0].debtor_id,
            sum((i.open_amount for i in pair), Decimal("5.00")),
            pair[0].currency,
            DAY,
            "pair",
            [(i.id, i.open_amount) for i in pair],
        )
    )
    rng.shuffle(payments)

    record_payments(db_session, organisation.id, payments, method="bank")

    assert ledger_discrepancies(db_session, organisation.id) == []
    assert ledger_discrepancies(db_session, other.id) == []
    for invoice in invoices:
        db_session.refresh(invoice)
    assert {i.status for i in invoices} == {"open", "paid"}
    balances = {
        (b.debtor_id, b.currency): (b.open_amount, b.invoice_count)
        for b in db_session.scalars(select(DebtorBalance).where(DebtorBalance.organisation_id == organisation.id))
    }
    for debtor in debtors:
        for currency in ("EUR", "USD"):
            still_open = [i for i in invoices if i.debtor_id == debtor.id and i.currency == currency and i.open_amount]
            expected = (sum((i.open_amount for i in still_open), Decimal("0.00")), len(still_open))
            assert balances.get((debtor.id, currency), (Decimal("0.00"), 0)) == expected
    totals = db_session.scalars(select(OpenInvoiceTotal).where(OpenInvoiceTotal.organisation_id == other.id)).all()
    assert sorted((t.due_date, t.open_amount, t.invoice_count) for t in totals) == sorted(
        (day, Decimal("70.00") * days.count(day), days.count(day)) for day in set(days)
    )

    # The row triggers are back for what follows in the same transaction.
    left = next(i for i in invoices if i.status == "open")
    record_payment(
        db_session,
        organisation.id,
        left.debtor_id,
        left.open_amount,
        left.currency,
        DAY,
        allocations=[(left.id, left.open_amount)],
    )
    change_total(db_session, invoices[-1].id, invoices[-1].total + Decimal("1.00"))
    assert ledger_discrepancies(db_session, organisation.id) == []
