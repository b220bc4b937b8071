"""Importing statements: certain matches booked (reference, invoice numbers, known account and amount), the rest
suggested or unmatched; returns reopen; the same transaction never twice; a bad file leaves nothing."""

import gc
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.bank.generate import Credit, camt053
from portal.bank.models import BankStatement, BankTransaction, DebtorAccount
from portal.bank.parse import StatementError
from portal.bank.service import import_statement
from portal.events import Event
from portal.ledger import batch
from portal.ledger.models import Payment
from portal.ledger.service import ledger_discrepancies
from portal.reminders.models import Reminder, ReminderItem
from portal.reminders.planning import plan
from tests.bank.test_parse import _sample
from tests.factories import make_debtor, make_invoice, make_organisation

ACCOUNT = "NL91ABNA0417164300"
DAY = date(2026, 11, 20)


@pytest.fixture
def books(db_session):
    organisation = make_organisation(db_session, iban=ACCOUNT, business_days_only=False)
    ann = make_debtor(db_session, organisation, name="Ann B.V.")
    bob = make_debtor(db_session, organisation, name="Bob B.V.")
    invoices = {
        "A-1": make_invoice(db_session, ann, "121.00", number="A-1", days_overdue=10),
        "A-2": make_invoice(db_session, ann, "50.00", number="A-2", days_overdue=5),
        "A-3": make_invoice(db_session, ann, "80.00", number="A-3", days_overdue=2),
        "B-1": make_invoice(db_session, bob, "300.00", number="B-1", days_overdue=20),
        "B-2": make_invoice(db_session, bob, "99.99", number="B-2", days_overdue=1),
    }
    return organisation, ann, bob, invoices


def _import(db_session, organisation, credits, **kw):
    return import_statement(db_session, organisation.id, camt053(ACCOUNT, DAY, credits, **kw), filename="s.xml")


def test_certain_matches_are_booked_and_the_rest_queued(db_session, books):
    organisation, ann, bob, inv = books
    credits = [
        Credit(Decimal("121.00"), name="Ann", iban="NL02INGB0002447973", reference=inv["A-1"].payment_reference),
        Credit(Decimal("130.00"), name="Ann", text="Betaling facturen A-2 en A-3"),  # two numbers, 130 of 130
        Credit(Decimal("100.00"), name="Bob", text="B-1 deel"),  # partial: 200.00 stays open
        Credit(Decimal("99.99"), name="Someone", text="thanks"),  # the amount of B-2 only: a suggestion
        Credit(Decimal("12.34"), name="Stranger", text="??"),
        Credit(Decimal("40.00"), name="Rent", debit=True, text="office rent"),
    ]

    summary = _import(db_session, organisation, credits)

    assert summary.line() == "entries=6 booked=3 suggested=1 unmatched=1 returned=0 ignored=1"
    for number, open_amount in [("A-1", "0.00"), ("A-2", "0.00"), ("A-3", "0.00"), ("B-1", "200.00")]:
        db_session.refresh(inv[number])
        assert inv[number].open_amount == Decimal(open_amount), number
    suggested = db_session.scalar(select(BankTransaction).where(BankTransaction.status == "suggested"))
    assert suggested.candidates == [inv["B-2"].id] and suggested.how == "same amount"
    assert (
        db_session.scalar(select(DebtorAccount.debtor_id).where(DebtorAccount.iban == "NL02INGB0002447973")) == ann.id
    )
    assert ledger_discrepancies(db_session, organisation.id) == []
    kinds = db_session.scalars(select(Event.kind).where(Event.organisation_id == organisation.id)).all()
    assert "payment:bank:booked" in kinds and "bank:statement:imported" in kinds
    # Each invoice's timeline says how the payment was found to be for it.
    hows = {
        number: db_session.scalar(
            select(Event.data["how"].as_string()).where(
                Event.kind == "invoice:payment:allocated", Event.invoice_id == inv[number].id
            )
        )
        for number in ("A-1", "A-2", "B-1")
    }
    assert hows["A-1"] == f"bank: payment reference {inv['A-1'].payment_reference}"
    assert hows["A-2"] == "bank: invoice number A-2, A-3" and hows["B-1"] == "bank: invoice number B-1"


def test_an_overpayment_becomes_credit_and_the_paid_invoice_leaves_the_schedule(db_session, books):
    organisation, ann, bob, inv = books
    today = organisation.today()
    plan(db_session, organisation.id, today=today, first=today)
    planned = (
        select(func.count())
        .select_from(ReminderItem)
        .join(Reminder)
        .where(ReminderItem.invoice_id == inv["B-1"].id, Reminder.status == "scheduled")
    )
    assert db_session.scalar(planned) == 1

    _import(db_session, organisation, [Credit(Decimal("350.00"), reference=inv["B-1"].payment_reference)])

    payment = db_session.scalar(select(Payment).where(Payment.method == "bank"))
    assert payment.unallocated_amount == Decimal("50.00")  # the debtor's credit
    plan(db_session, organisation.id, today=today, first=today)
    assert db_session.scalar(planned) == 0


def test_the_same_statement_twice_books_nothing_twice(db_session, books):
    organisation, ann, bob, inv = books
    credits = [
        Credit(Decimal("121.00"), reference=inv["A-1"].payment_reference),
        Credit(Decimal("10.00"), text="same"),
        Credit(Decimal("10.00"), text="same"),  # two equal transactions are two, known by their place
    ]
    first = _import(db_session, organisation, credits)
    again = _import(db_session, organisation, credits)

    assert first.entries == 3 and first.known == 0
    assert again.known == 3 and again.line() == "entries=3 booked=0 suggested=0 unmatched=0 returned=0 ignored=0"
    assert db_session.scalar(select(func.count()).select_from(Payment)) == 1
    assert db_session.scalar(select(func.count()).select_from(BankTransaction)) == 3


def test_a_known_account_and_the_amount_of_its_oldest_invoices_together(db_session, books):
    organisation, ann, bob, inv = books
    _import(db_session, organisation, [Credit(Decimal("121.00"), iban="NL02INGB0002447973", text="A-1")])
    # Next time the same account pays 130.00 without a word: A-2 + A-3 together, Ann's oldest open ones.
    summary = _import(db_session, organisation, [Credit(Decimal("130.00"), iban="NL02 INGB 0002 4479 73")])
    assert summary.counts["booked"] == 1
    tx = db_session.scalar(select(BankTransaction).where(BankTransaction.amount == Decimal("130.00")))
    assert tx.status == "booked" and "2 invoices together" in tx.how and tx.debtor_id == ann.id


def test_a_returned_transfer_reopens_what_it_had_paid(db_session, books):
    organisation, ann, bob, inv = books
    _import(db_session, organisation, [Credit(Decimal("300.00"), end_to_end="E2E-77", text="B-1")])
    db_session.refresh(inv["B-1"])
    assert inv["B-1"].status == "paid"

    back = [Credit(Decimal("300.00"), end_to_end="E2E-77", debit=True, return_reason="AC04")]
    summary = import_statement(
        db_session, organisation.id, camt053(ACCOUNT, DAY + timedelta(days=2), back, statement_id="DULY-2")
    )

    assert summary.counts["returned"] == 1
    db_session.refresh(inv["B-1"])
    assert inv["B-1"].status == "open" and inv["B-1"].open_amount == Decimal("300.00")
    event = db_session.scalar(select(Event).where(Event.kind == "invoice:payment:reversed"))
    assert "returned by the bank (AC04)" in event.data["why"]
    assert ledger_discrepancies(db_session, organisation.id) == []


def test_a_bad_file_leaves_nothing(db_session, books):
    organisation, *_ = books
    with pytest.raises(StatementError):
        import_statement(db_session, organisation.id, b"<Document><broken>")
    assert db_session.scalar(select(func.count()).select_from(BankStatement)) == 0


def test_the_mt940_sample_books_two_invoices_named_in_one_payment(db_session):
    organisation = make_organisation(db_session)
    debtor = make_debtor(db_session, organisation, name="Bedrijf B.V.")
    first = make_invoice(db_session, debtor, "100.00", number="201303-111")
    second = make_invoice(db_session, debtor, "69.90", number="201303-112")

    summary = import_statement(db_session, organisation.id, _sample("sample3"), filename="sample3")

    # 12 transactions: 4 debits (ignored), the 169.90 for the two invoices, the other 7 credits unknown to us.
    assert summary.line() == "entries=12 booked=1 suggested=0 unmatched=7 returned=0 ignored=4"
    db_session.refresh(first)
    db_session.refresh(second)
    assert first.status == second.status == "paid"


def test_the_camt_sample_returns_without_an_earlier_payment_are_left_for_the_supplier(db_session):
    organisation = make_organisation(db_session)
    summary = import_statement(db_session, organisation.id, _sample("test-camt053"))
    # The two returns took back nothing of ours (direct debits collected elsewhere): they wait to be set aside.
    assert summary.line() == "entries=4 booked=0 suggested=0 unmatched=3 returned=0 ignored=1"
    returns = db_session.scalars(select(BankTransaction).where(BankTransaction.is_return.is_(True))).all()
    assert {t.status for t in returns} == {"unmatched"} and all("no booked payment" in t.how for t in returns)


def test_the_command_line_prints_the_summary(app, db_session, books, tmp_path):
    organisation, ann, bob, inv = books
    path = tmp_path / "statement.xml"
    path.write_bytes(camt053(ACCOUNT, DAY, [Credit(Decimal("121.00"), reference=inv["A-1"].payment_reference)]))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import-statement", str(path), "--org", organisation.slug])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "entries=1 booked=1 suggested=0 unmatched=0 returned=0 ignored=0"
    bad = tmp_path / "bad.sta"
    bad.write_bytes(b":20:X\n:25:NL50RABO0123456789\n:61:26010XC12,00N122NONREF\n")
    refused = runner.invoke(args=["import-statement", str(bad), "--org", organisation.slug])
    assert refused.exit_code == 1 and "line 3" in refused.output


def test_a_transfer_naming_several_references_as_the_qr_code_writes_them(db_session, books):
    organisation, ann, bob, inv = books
    text = " ".join(inv[n].payment_reference for n in ("A-2", "A-1"))  # as the self-service page's QR code says
    summary = _import(db_session, organisation, [Credit(Decimal("171.00"), name="Ann", text=text)])
    assert summary.counts["booked"] == 1
    for number in ("A-1", "A-2"):
        db_session.refresh(inv[number])
        assert inv[number].status == "paid"


def test_a_reference_written_in_groups_is_found(db_session, books):
    organisation, ann, bob, inv = books
    reference = inv["B-2"].payment_reference
    spaced = " ".join(reference[i : i + 4] for i in range(0, len(reference), 4))
    summary = _import(db_session, organisation, [Credit(Decimal("99.99"), text=spaced)])
    assert summary.counts["booked"] == 1


def test_a_return_that_takes_back_nothing_of_ours_can_be_set_aside(db_session, books):
    from portal.bank.service import MatchError, dismiss, match_by_hand

    organisation, ann, bob, inv = books
    _import(db_session, organisation, [Credit(Decimal("12.00"), debit=True, return_reason="MD06", end_to_end="X")])
    tx = db_session.scalar(select(BankTransaction))
    assert (tx.status, tx.is_return) == ("unmatched", True)
    with pytest.raises(MatchError, match="set it aside"):
        match_by_hand(db_session, organisation.id, tx.id, [inv["A-1"].id], actor_user_id=None)
    dismiss(db_session, organisation.id, tx.id, actor_user_id=None, why="direct debit elsewhere")
    assert tx.status == "dismissed"


def test_same_amount_suggests_the_five_oldest_due_and_not_what_the_statement_paid(db_session, books):
    organisation, ann, bob, inv = books
    same = [make_invoice(db_session, bob, "77.00", number=f"S-{n}", days_overdue=n) for n in range(8)]
    dollars = make_invoice(db_session, ann, "77.00", number="S-USD", currency="USD", days_overdue=30)
    credits = [
        Credit(Decimal("77.00"), name="Bob", text="S-7"),  # the oldest, paid by its number first
        Credit(Decimal("77.00"), name="Someone", text="thanks"),
    ]

    _import(db_session, organisation, credits)

    suggested = db_session.scalar(select(BankTransaction).where(BankTransaction.status == "suggested"))
    # The five oldest due in euros, of which the statement itself paid the oldest.
    assert suggested.candidates == [i.id for i in same[6:2:-1]] and dollars.id not in suggested.candidates
    assert ledger_discrepancies(db_session, organisation.id) == []


def test_the_cycle_collector_waits_for_the_import_and_runs_again_after(db_session, books, monkeypatch):
    organisation, ann, bob, inv = books
    seen = []
    record_payments = batch.record_payments
    monkeypatch.setattr(
        batch, "record_payments", lambda *a, **kw: seen.append(gc.isenabled()) or record_payments(*a, **kw)
    )

    _import(db_session, organisation, [Credit(Decimal("121.00"), name="Ann", text="A-1")])
    with pytest.raises(StatementError):
        import_statement(db_session, organisation.id, b"<Document><x>", filename="bad.xml")

    assert seen == [False] and gc.isenabled()
