"""A reminder about several invoices asks for a transfer quoting each one's reference; a transfer that does so is
booked on all of them, not on the first with the rest as credit."""

from datetime import date
from decimal import Decimal

from portal.bank.generate import Credit, camt053
from portal.bank.service import import_statement
from portal.reminders.placeholders import placeholder_values
from tests.factories import make_debtor, make_invoice, make_organisation


def test_a_transfer_quoting_a_reminders_references_pays_every_invoice(db_session):
    organisation = make_organisation(db_session, iban="NL91ABNA0417164300", reference_scheme="nl")
    debtor = make_debtor(db_session, organisation, name="Klant B.V.")
    first = make_invoice(db_session, debtor, "100.00", days_overdue=20)
    second = make_invoice(db_session, debtor, "50.00", days_overdue=10)
    values, _ = placeholder_values(db_session, organisation, debtor, [first, second], "nl", "")
    assert values["payment_reference"] == f"{first.payment_reference}, {second.payment_reference}"

    statement = camt053(
        organisation.iban,
        date(2026, 11, 20),
        [Credit(Decimal("150.00"), name="Klant", text=values["payment_reference"])],
    )
    summary = import_statement(db_session, organisation.id, statement, filename="s.xml")

    assert summary.line().startswith("entries=1 booked=1")
    db_session.refresh(first)
    db_session.refresh(second)
    assert (first.status, second.status) == ("paid", "paid")
