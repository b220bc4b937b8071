"""The cockpit shows an invoice's claim itemised: principal, statutory interest to date and collection costs."""

from datetime import timedelta
from decimal import Decimal

from portal.law.charges import charges_for_step, record_charges
from portal.scenarios.models import Step
from tests.factories import make_debtor, make_invoice


def _charged(db_session, org, kind):
    org.law_business = org.law_consumer = "nl"
    debtor = make_debtor(db_session, org, name="Klant", kind=kind)
    invoice = make_invoice(db_session, debtor, "1210.00", days_overdue=10)
    step = Step(position=1, adds_costs=True, adds_interest=True)
    charges = charges_for_step(org, debtor, step, [invoice], org.today() - timedelta(days=2), "email")
    record_charges(db_session, org.id, debtor.id, charges, [invoice], reminder_id=0)
    db_session.commit()
    return debtor, invoice


def test_an_invoice_page_itemises_interest_and_costs(client, db_session, org, signed_in):
    _, invoice = _charged(db_session, org, "business")
    page = client.get(f"/cockpit/invoices/{invoice.id}").get_data(as_text=True)
    # 1,210.00 x 10.15% x 10 days / 365 = 3.36; WIK 15% of 1,210.00 = 181.50; 1,394.86 in all.
    assert 'id="claim-interest"' in page and "3,36" in page
    assert 'id="claim-costs"' in page and "181,50" in page
    assert 'id="claim-total"' in page and "1.394,86" in page
    assert "Collection costs of" in page  # the timeline line


def test_a_consumers_invoice_shows_the_costs_announced_by_the_14_day_letter(client, db_session, org, signed_in):
    debtor, invoice = _charged(db_session, org, "consumer")
    page = client.get(f"/cockpit/invoices/{invoice.id}").get_data(as_text=True)
    # Announced, not owed yet: the costs card says 0.00, the notice names the 181.50 and the day.
    assert 'id="claim-notice"' in page and "181,50" in page and "14-day letter" in page
    assert "1.211,33" in page  # 1,210.00 + 4% consumer interest for 10 days (1.33), no costs yet
    # The timeline writes the letter's last day as the organisation's locale writes dates, not as ISO text.
    pay_by = invoice.costs_notice_until
    assert f"if not paid by {pay_by.day} " in page and pay_by.isoformat() not in page
    debtor.waive_costs, debtor.waive_costs_reason = True, "good customer"
    db_session.commit()
    page = client.get(f"/cockpit/invoices/{invoice.id}").get_data(as_text=True)
    assert 'id="claim-notice"' not in page and "waived for this debtor: good customer" in page


def test_costs_announced_to_a_consumer_who_paid_in_time_are_shown_as_lapsed(client, db_session, org, signed_in):
    from portal.ledger.service import record_payment

    debtor, invoice = _charged(db_session, org, "consumer")
    # Within the 14 days: the principal and the interest to that day (1.33, as above), costs first in line but
    # not owed yet, so the whole payment goes to interest and principal.
    record_payment(
        db_session, org.id, debtor.id, invoice.open_amount + Decimal("1.33"), "EUR", org.today(),
        allocations=[(invoice.id, invoice.open_amount + Decimal("1.33"))],
    )  # fmt: skip
    db_session.commit()
    page = client.get(f"/cockpit/invoices/{invoice.id}").get_data(as_text=True)
    assert "lapsed: paid within the 14 days" in page and 'id="claim-notice"' not in page
    assert 'id="claim-costs"' in page and "1,33 paid" in page


def test_the_payments_page_says_what_a_payment_paid_part_by_part(client, db_session, org, signed_in):
    from portal.ledger.service import record_payment

    debtor, invoice = _charged(db_session, org, "business")
    plain = make_invoice(db_session, debtor, "50.00", number="PLAIN-1", days_overdue=1)
    # Costs 181.50 first, then interest 3.36, then 15.14 of the principal; the plain invoice all principal.
    record_payment(
        db_session, org.id, debtor.id, Decimal("250.00"), "EUR", org.today(),
        allocations=[(invoice.id, Decimal("200.00")), (plain.id, Decimal("50.00"))],
    )  # fmt: skip
    db_session.commit()
    text = client.get("/cockpit/payments").text.replace("\xa0", " ")
    assert f'{invoice.number} <small class="muted">(costs € 181,50, interest € 3,36, principal € 15,14)</small>' in text
    assert "; PLAIN-1</td>" in text
