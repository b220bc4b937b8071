"""A late invoice with statutory interest and collection costs, paid online: the self-service page itemises the
claim, Mollie is asked for the whole of it, and the booking splits it over costs, interest and principal."""

from decimal import Decimal

from sqlalchemy import select

from portal.invoices.models import Invoice
from portal.law.charges import charges_for_step, record_charges
from portal.ledger.models import Allocation
from portal.mail.models import MailMessage
from portal.payments.models import MolliePayment
from portal.scenarios.models import Step
from tests.factories import make_debtor, make_invoice, make_organisation
from tests.payments.conftest import API_KEY
from tests.payments.test_mollie_payments import balanced, committed, every, one, pay, visitor, webhook


def test_a_late_invoice_is_paid_online_with_its_interest_and_costs_in_the_legal_order(app, live_db, mollie_sim):
    organisation = make_organisation(
        live_db, name="Winkel B.V.", mollie_api_key=API_KEY, law_business="nl", law_consumer="nl"
    )
    debtor = make_debtor(live_db, organisation, name="Klant B.V.", email="klant@example.com", language="en")
    invoice = make_invoice(live_db, debtor, "1210.00", number="F-1", days_overdue=10)
    charges = charges_for_step(
        organisation, debtor, Step(adds_costs=True, adds_interest=True), [invoice], organisation.today(), "email"
    )
    record_charges(live_db, organisation.id, debtor.id, charges, [invoice], reminder_id=0)
    organisation, debtor, invoice = committed(live_db, organisation, debtor, invoice)
    client = visitor(app, live_db, debtor)

    page = client.get("/s/").text
    # 10 days at 10.15% on 1,210.00 = 3.36; WIK costs 15% = 181.50; to pay 1,394.86.
    assert "principal €1,210.00 · statutory interest €3.36 · collection costs €181.50" in page
    assert "€1,394.86" in page
    assert "F-1 · €1,394.86" in page  # the pay form's choice says what paying it costs
    for form in ("/s/promise", "/s/paid"):  # the debtor's other forms name the same amount
        assert "€1,394.86</span>" in client.get(form).text, form
    single = client.get(f"/s/invoices/{invoice.id}").text
    assert "€1,394.86" in single and "collection costs €181.50" in single

    pay(client, invoice.id)
    mp = one(live_db, select(MolliePayment))
    assert mp.amount == Decimal("1394.86")
    mollie_sim.set_status(mp.mollie_id, "paid")
    assert webhook(client, mp.mollie_id).status_code == 200

    parts = {a.component: a.amount for a in every(live_db, select(Allocation))}
    assert parts == {"costs": Decimal("181.50"), "interest": Decimal("3.36"), "principal": Decimal("1210.00")}
    paid = one(live_db, select(Invoice))
    assert (paid.status, paid.costs_paid, paid.interest_paid) == ("paid", Decimal("181.50"), Decimal("3.36"))
    assert balanced(live_db, organisation.id)
    # The receipt says what the payment paid, as booked: the invoice, split in the legal order.
    receipt = one(live_db, select(MailMessage).where(MailMessage.template == "payment_receipt"))
    assert (
        "F-1: €1,394.86 (collection costs €181.50, statutory interest €3.36, principal €1,210.00)" in receipt.body_text
    )
    assert "collection costs" in receipt.body_html and "€181.50" in receipt.body_html
    assert "credit" not in receipt.body_text
