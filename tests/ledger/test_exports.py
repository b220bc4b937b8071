"""The accountant's exports: every journal entry balances (debits equal credits), and the export reads the ledger in a
fixed number of queries however many payments there are."""

from collections import defaultdict
from contextlib import contextmanager
from decimal import Decimal

from sqlalchemy import event

from portal.ledger import exports
from portal.ledger.service import record_payment, reverse_payment
from tests.factories import make_debtor, make_invoice, make_organisation, today_of

D = Decimal


def _payments(session, organisation, count: int) -> None:
    """``count`` rounds of: an exact payment, an overpayment (credit left on account), a payment with nothing to
    pay, and one part of which went back."""
    today = today_of(session, organisation.id)
    for n in range(count):
        debtor = make_debtor(session, organisation, name=f"Klant {n}")
        first = make_invoice(session, debtor, "100.00")
        second = make_invoice(session, debtor, "50.00")
        third = make_invoice(session, debtor, "80.00")
        record_payment(
            session, organisation.id, debtor.id, D("100.00"), "EUR", today, allocations=[(first.id, D("100.00"))]
        )
        record_payment(
            session,
            organisation.id,
            debtor.id,
            D("70.00"),
            "EUR",
            today,
            method="bank",
            allocations=[(second.id, D("50.00"))],
        )
        record_payment(session, organisation.id, debtor.id, D("12.34"), "EUR", today, method="mollie")
        back = record_payment(
            session,
            organisation.id,
            debtor.id,
            D("80.00"),
            "EUR",
            today,
            method="bank",
            allocations=[(third.id, D("80.00"))],
        )
        reverse_payment(session, back.id, D("30.00"), why="returned transfer")
    session.flush()


@contextmanager
def _counting(session):
    statements = []

    def count(*_):
        statements.append(1)

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_every_journal_entry_balances(db_session):
    organisation = make_organisation(db_session)
    _payments(db_session, organisation, 3)

    lines = list(exports.journal_lines(db_session, organisation.id))

    by_entry = defaultdict(lambda: [D("0.00"), D("0.00")])
    for line in lines:
        row = dict(zip(exports.JOURNAL_HEADER, line, strict=True))
        by_entry[row["entry"]][0] += row["debit"] or D("0.00")
        by_entry[row["entry"]][1] += row["credit"] or D("0.00")
    assert len(by_entry) == 12
    assert all(debit == credit for debit, credit in by_entry.values()), by_entry
    # What came in was 262.34 a round; 30.00 of it went back (debit Debtors, credit the bank).
    assert sum(debit for debit, _ in by_entry.values()) == 3 * (D("262.34") + D("30.00"))
    accounts = {line[4] for line in lines}
    assert accounts == {"Bank", "Mollie", "Debtors"}


def test_the_exports_read_a_fixed_number_of_queries_whatever_the_payments(db_session):
    few, many = make_organisation(db_session), make_organisation(db_session)
    _payments(db_session, few, 1)
    _payments(db_session, many, 6)

    counts = {}
    for name, organisation in (("few", few), ("many", many)):
        with _counting(db_session) as statements:
            journal = list(exports.journal_lines(db_session, organisation.id))
            payments = list(exports.payment_rows(db_session, organisation.id))
        counts[name] = len(statements)
        assert journal and payments
    assert counts["few"] == counts["many"]
