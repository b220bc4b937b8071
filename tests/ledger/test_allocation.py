from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.events import Event
from portal.invoices.service import InvoiceError
from portal.ledger.models import Allocation
from portal.ledger.service import (
    LedgerError,
    allocate_credit_note,
    allocate_payment,
    debtor_credit,
    ledger_discrepancies,
    record_payment,
)
from tests.factories import make_debtor, make_invoice, make_organisation, today_of


@pytest.fixture
def debtor(db_session):
    return make_debtor(db_session, make_organisation(db_session))


def test_new_invoice_is_open_for_its_total_with_a_reference(db_session, debtor):
    invoice = make_invoice(db_session, debtor, "250.10")
    assert invoice.open_amount == Decimal("250.10")
    assert invoice.status == "open"
    assert invoice.payment_reference.startswith("RF")
    kinds = db_session.scalars(select(Event.kind).where(Event.invoice_id == invoice.id)).all()
    assert kinds == ["invoice:created"]


def test_partial_then_full_payment(db_session, debtor):
    invoice = make_invoice(db_session, debtor, "100.00")
    record_payment(
        db_session,
        debtor.organisation_id,
        debtor.id,
        Decimal("40.00"),
        "EUR",
        date(2026, 11, 1),
        allocations=[(invoice.id, Decimal("40.00"))],
    )
    assert invoice.open_amount == Decimal("60.00") and invoice.status == "open"
    record_payment(
        db_session, debtor.organisation_id, debtor.id, Decimal("60.00"), "EUR", date(2026, 11, 5), auto_allocate=True
    )
    assert invoice.open_amount == Decimal("0.00")
    assert invoice.status == "paid"
    assert invoice.settled_on == date(2026, 11, 5)
    assert ledger_discrepancies(db_session, debtor.organisation_id) == []


def test_overpayment_becomes_debtor_credit(db_session, debtor):
    invoice = make_invoice(db_session, debtor, "100.00")
    payment = record_payment(
        db_session,
        debtor.organisation_id,
        debtor.id,
        Decimal("130.00"),
        "EUR",
        date(2026, 11, 1),
        auto_allocate=True,
    )
    assert invoice.open_amount == Decimal("0.00")
    assert payment.unallocated_amount == Decimal("30.00")
    assert debtor_credit(db_session, debtor.organisation_id, debtor.id) == {"EUR": Decimal("30.00")}
    # The credit pays the next invoice.
    later = make_invoice(db_session, debtor, "20.00")
    allocate_payment(db_session, payment.id, later.id, Decimal("20.00"))
    assert later.status == "paid"
    assert debtor_credit(db_session, debtor.organisation_id, debtor.id) == {"EUR": Decimal("10.00")}


def test_allocation_cannot_exceed_open_amount_or_payment(db_session, debtor):
    invoice = make_invoice(db_session, debtor, "50.00")
    payment = record_payment(
        db_session,
        debtor.organisation_id,
        debtor.id,
        Decimal("80.00"),
        "EUR",
        today_of(db_session, debtor.organisation_id),
    )
    with pytest.raises(LedgerError, match="less than 60.00 open"):
        allocate_payment(db_session, payment.id, invoice.id, Decimal("60.00"))
    allocate_payment(db_session, payment.id, invoice.id, Decimal("50.00"))
    other = make_invoice(db_session, debtor, "100.00")
    with pytest.raises(LedgerError, match="unallocated"):
        allocate_payment(db_session, payment.id, other.id, Decimal("31.00"))
    assert ledger_discrepancies(db_session, debtor.organisation_id) == []


def test_amounts_are_never_summed_across_currencies(db_session, debtor):
    usd = make_invoice(db_session, debtor, "10.00", currency="USD")
    payment = record_payment(
        db_session,
        debtor.organisation_id,
        debtor.id,
        Decimal("10.00"),
        "EUR",
        today_of(db_session, debtor.organisation_id),
    )
    with pytest.raises(LedgerError, match="in USD, not EUR"):
        allocate_payment(db_session, payment.id, usd.id, Decimal("10.00"))


def test_payment_for_another_debtor_is_refused(db_session, debtor):
    other = make_debtor(db_session, make_organisation(db_session))
    foreign = make_invoice(db_session, other, "10.00")
    payment = record_payment(
        db_session,
        debtor.organisation_id,
        debtor.id,
        Decimal("10.00"),
        "EUR",
        today_of(db_session, debtor.organisation_id),
    )
    with pytest.raises(LedgerError):
        allocate_payment(db_session, payment.id, foreign.id, Decimal("10.00"))


def test_credit_note_is_negative_and_allocated_to_the_invoice_it_corrects(db_session, debtor):
    invoice = make_invoice(db_session, debtor, "1656.25", number="Snippet1")
    credit = make_invoice(
        db_session, debtor, "1656.25", kind="credit_note", number="CN1", corrects_invoice_id=invoice.id
    )
    assert credit.total == Decimal("-1656.25")
    assert credit.open_amount == Decimal("0.00") and credit.status == "paid"
    assert invoice.open_amount == Decimal("0.00") and invoice.status == "paid"
    allocation = db_session.scalar(select(Allocation).where(Allocation.credit_note_id == credit.id))
    assert allocation.amount == Decimal("1656.25") and allocation.payment_id is None
    assert ledger_discrepancies(db_session, debtor.organisation_id) == []


def test_unused_credit_note_is_credit_and_can_be_allocated_later(db_session, debtor):
    credit = make_invoice(db_session, debtor, "-30.00", kind="credit_note")
    assert credit.open_amount == Decimal("30.00")
    assert debtor_credit(db_session, debtor.organisation_id, debtor.id) == {"EUR": Decimal("30.00")}
    invoice = make_invoice(db_session, debtor, "20.00")
    allocate_credit_note(db_session, credit.id, invoice.id, Decimal("20.00"))
    assert credit.open_amount == Decimal("10.00") and invoice.status == "paid"
    with pytest.raises(LedgerError):
        allocate_credit_note(db_session, credit.id, make_invoice(db_session, debtor, "50.00").id, Decimal("11.00"))


@pytest.mark.parametrize(
    ("total", "message"),
    [
        ("-5.00", "not negative"),
        ("1.005", "two decimals"),
        ("10000000000000.00", "too large"),
        ("1e20", "not an amount"),
        ("abc", "not an amount"),
    ],
)
def test_bad_invoice_amounts_are_refused(db_session, debtor, total, message):
    with pytest.raises(InvoiceError, match=message):
        make_invoice(db_session, debtor, total)


def test_duplicate_number_is_refused_per_kind_only(db_session, debtor):
    make_invoice(db_session, debtor, "1.00", number="2026-1")
    with pytest.raises(InvoiceError, match="already exists"):
        make_invoice(db_session, debtor, "1.00", number="2026-1")
    make_invoice(db_session, debtor, "1.00", number="2026-1", kind="credit_note")  # another kind: allowed


def test_money_columns_refuse_floats(db_session, debtor):
    invoice = make_invoice(db_session, debtor, "1.00")
    invoice.total = 1.1
    with pytest.raises(Exception, match="float"):
        db_session.flush()
    db_session.rollback()


def test_imported_payment_reference_is_kept(db_session, debtor):
    invoice = make_invoice(db_session, debtor, "1.00", payment_reference="5000 0567 8901 2345")
    assert invoice.payment_reference == "5000056789012345"


def test_dutch_scheme_generates_valid_betalingskenmerk(db_session):
    from portal.invoices.references import is_valid_betalingskenmerk

    debtor = make_debtor(db_session, make_organisation(db_session, reference_scheme="nl"))
    references = {make_invoice(db_session, debtor, "1.00").payment_reference for _ in range(5)}
    assert len(references) == 5
    assert all(len(r) == 16 and is_valid_betalingskenmerk(r) for r in references)


def test_refused_payment_leaves_nothing_behind_after_commit(live_db):
    """The savepoints really undo work on both databases (pysqlite needs SQLAlchemy's transaction recipe)."""
    from sqlalchemy import func

    from portal.ledger.models import Payment

    debtor = make_debtor(live_db, make_organisation(live_db))
    small = make_invoice(live_db, debtor, "10.00")
    other = make_invoice(live_db, debtor, "10.00")
    live_db.commit()
    with pytest.raises(LedgerError):
        record_payment(
            live_db,
            debtor.organisation_id,
            debtor.id,
            Decimal("30.00"),
            "EUR",
            today_of(live_db, debtor.organisation_id),
            allocations=[(other.id, Decimal("10.00")), (small.id, Decimal("20.00"))],
        )
    live_db.commit()  # whatever the failed call left in the transaction would be kept now
    assert live_db.scalar(select(func.count(Payment.id))) == 0
    # And a payment that succeeded inside its savepoint is undone by rolling back the outer transaction.
    live_db.commit()
    record_payment(
        live_db, debtor.organisation_id, debtor.id, Decimal("5.00"), "EUR", today_of(live_db, debtor.organisation_id)
    )
    live_db.rollback()
    assert live_db.scalar(select(func.count(Payment.id))) == 0
    assert live_db.scalar(select(func.count(Allocation.id))) == 0
    assert [i.open_amount for i in (small, other)] == [Decimal("10.00"), Decimal("10.00")]
    assert ledger_discrepancies(live_db, debtor.organisation_id) == []
