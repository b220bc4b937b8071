"""The cockpit's payments page: money received by method, and Mollie payments that need a look; one tenant only."""

from datetime import date
from decimal import Decimal

from portal.ledger.service import record_payment
from portal.payments.models import MolliePayment, MolliePaymentItem
from tests.factories import make_debtor, make_invoice, make_organisation, make_user


def test_payments_received_and_mollie_payments_to_look_at(client, db_session, auth):
    organisation = make_organisation(db_session)
    auth.login(make_user(db_session, organisation, role="viewer").email)
    debtor = make_debtor(db_session, organisation, name="Betaler B.V.")
    invoice = make_invoice(db_session, debtor, "80.00", number="P-1", days_overdue=2)
    record_payment(
        db_session,
        organisation.id,
        debtor.id,
        Decimal("50.00"),
        "EUR",
        date(2026, 11, 20),
        method="mollie",
        reference="tr_paid00001",
        allocations=[(invoice.id, Decimal("50.00"))],
    )
    record_payment(db_session, organisation.id, debtor.id, Decimal("7.00"), "EUR", date(2026, 11, 21), reference="cash")
    flagged = MolliePayment(
        organisation_id=organisation.id,
        debtor_id=debtor.id,
        mollie_id="tr_flagged01",
        status="paid",
        amount=Decimal("30.00"),
        currency="EUR",
        request_key="k1",
        flag="Mollie says EUR 31.00, we asked for EUR 30.00",
        items=[MolliePaymentItem(invoice_id=invoice.id, amount=Decimal("30.00"))],
    )
    db_session.add(flagged)
    other = make_organisation(db_session)
    record_payment(
        db_session,
        other.id,
        make_debtor(db_session, other, name="Vreemde").id,
        Decimal("999.00"),
        "EUR",
        date(2026, 11, 21),
        reference="theirs",
    )
    db_session.flush()

    page = client.get("/cockpit/payments")

    assert page.status_code == 200
    assert "Betaler B.V." in page.text and "tr_paid00001" in page.text and "cash" in page.text
    assert "tr_flagged01" in page.text and "not booked" in page.text and "EUR 31.00" in page.text
    assert "Vreemde" not in page.text and "999" not in page.text
    only_mollie = client.get("/cockpit/payments?method=mollie").text
    assert "tr_paid00001" in only_mollie and "cash" not in only_mollie
