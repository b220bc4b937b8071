"""The late-payment law through the reminder engine and the payment paths: a business debtor's reminder claims
interest and costs that match a hand calculation; a consumer first gets the 14-day letter; a bank payment of the
whole claim is split over costs, interest and principal."""

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from portal.bank.generate import Credit, camt053
from portal.bank.service import import_statement
from portal.invoices.models import Invoice
from portal.law.calculate import collection_costs
from portal.ledger.claims import claims
from portal.ledger.models import Allocation
from portal.ledger.service import ledger_discrepancies
from portal.reminders.dispatch import dispatch
from portal.reminders.models import Reminder
from portal.reminders.planning import plan
from portal.scenarios.models import Scenario, Step
from tests.factories import make_debtor, make_invoice, make_organisation, open_send_window

D = Decimal


def _setup(session, clock, kind: str, language: str = "en"):
    """An organisation under Dutch law whose first overdue step adds costs and interest, one debtor of ``kind``
    with one invoice 10 days overdue, and its reminder planned for today, in today's send window (the clock is moved
    to the next one); committed."""
    organisation = make_organisation(
        session, name="Acme Supplies B.V.", iban="NL91ABNA0417164300", law_business="nl", law_consumer="nl"
    )
    today = open_send_window(clock, organisation)
    debtor = make_debtor(session, organisation, name="Klant", kind=kind, language=language, email="ap@example.com")
    invoice = make_invoice(session, debtor, "1210.00", days_overdue=10)
    plan(session, organisation.id, today=today, first=today)  # (makes the default scenarios)
    for step in session.scalars(
        select(Step).join(Scenario).where(Scenario.organisation_id == organisation.id, Step.offset_days > 0)
    ):
        step.adds_costs = step.adds_interest = True
    session.commit()
    return organisation, debtor, invoice


def _send(app, session, smtpd, organisation):
    send_at = session.scalar(select(Reminder.send_at).where(Reminder.organisation_id == organisation.id))
    return dispatch(session, smtp_url=smtpd.url, config=app.config, now=send_at + timedelta(minutes=1))


def test_a_business_debtors_reminder_claims_interest_and_costs_as_worked_out_by_hand(app, live_db, time_machine, smtpd):
    organisation, debtor, invoice = _setup(live_db, time_machine, "business")
    today = organisation.today()
    assert _send(app, live_db, smtpd, organisation)["sent"] == 1

    [message] = smtpd.messages
    body = message.get_body(("plain",)).get_content()
    # Interest: 10 days overdue, so the 10 days from the day after the due date up to today, at 10.15% (the rate
    # in force since 1 Jan 2026): 1,210.00 x 0.1015 x 10 / 365 = 3.3648 -> 3.36.
    # Costs (WIK): 15% of 1,210.00 = 181.50, between the minimum 40 and the maximum 6,775.
    # Total: 1,210.00 + 3.36 + 181.50 = 1,394.86.
    assert today - timedelta(days=10) >= date(2026, 1, 1)  # the hand calculation's rate is the one in force
    assert "Principal" in body and "Interest" in body and "Costs" in body
    assert "€1,210.00" in body and "€3.36" in body and "€181.50" in body and "€1,394.86" in body
    live_db.expire_all()
    stored = live_db.get(Invoice, invoice.id)
    assert stored.costs_charged == D("181.50") and stored.interest_from == stored.due_date + timedelta(days=1)
    assert stored.costs_from == today
    owed = claims(live_db, organisation, stored.debtor, [stored], today)[stored.id]
    assert owed.total == D("1394.86")


def test_a_consumer_gets_the_14_day_letter_and_no_costs_before_its_period_has_passed(app, live_db, time_machine, smtpd):
    organisation, debtor, invoice = _setup(live_db, time_machine, "consumer", language="nl")
    today = organisation.today()
    assert _send(app, live_db, smtpd, organisation)["sent"] == 1

    [message] = smtpd.messages
    body = " ".join(message.get_body(("plain",)).get_content().split())
    pay_by = today + timedelta(days=1 + 14)  # received the next day; 14 days counted from the day after
    costs = collection_costs("nl", "consumer", D("1210.00")).amount  # 181.50
    assert "binnen 14 dagen na ontvangst" in body
    assert "€ 181,50" in body.replace("\xa0", " ") and str(pay_by.day) in body
    # The costs are announced, not claimed: the total asked is the principal and the interest only.
    live_db.expire_all()
    stored = live_db.get(Invoice, invoice.id)
    assert stored.costs_notice_until == pay_by and stored.costs_from == pay_by + timedelta(days=1)
    before = claims(live_db, organisation, stored.debtor, [stored], pay_by)[stored.id]
    after = claims(live_db, organisation, stored.debtor, [stored], pay_by + timedelta(days=1))[stored.id]
    assert before.costs == D("0.00") and before.announced == costs
    assert after.costs == costs


def test_a_bank_payment_of_the_whole_claim_is_split_over_costs_interest_and_principal(
    app, live_db, time_machine, smtpd
):
    organisation, debtor, invoice = _setup(live_db, time_machine, "business")
    _send(app, live_db, smtpd, organisation)
    live_db.expire_all()
    stored = live_db.get(Invoice, invoice.id)
    today = organisation.today()
    owed = claims(live_db, organisation, stored.debtor, [stored], today)[stored.id]
    statement = camt053(
        organisation.iban,
        today,
        [Credit(owed.total, name="Klant", reference=stored.payment_reference)],
    )

    summary = import_statement(live_db, organisation.id, statement, filename="s.xml")
    live_db.commit()

    assert summary.line().startswith("entries=1 booked=1")
    parts = dict(
        live_db.execute(
            select(Allocation.component, Allocation.amount).where(Allocation.invoice_id == invoice.id)
        ).all()
    )
    assert parts == {"costs": owed.costs, "interest": owed.interest, "principal": D("1210.00")}
    live_db.expire_all()
    assert live_db.get(Invoice, invoice.id).status == "paid"
    assert ledger_discrepancies(live_db, organisation.id) == []


def test_a_known_account_paying_the_whole_claim_without_a_reference_is_matched_by_that_amount(
    app, live_db, time_machine, smtpd
):
    """Matching by a debtor's known account and the amount compares with what the reminder asked: the principal
    with its interest and costs, not the principal alone."""
    from portal.bank.models import DebtorAccount

    organisation, debtor, invoice = _setup(live_db, time_machine, "business")
    _send(app, live_db, smtpd, organisation)
    live_db.add(DebtorAccount(organisation_id=organisation.id, debtor_id=debtor.id, iban="NL02INGB0002447973"))
    live_db.commit()
    today = organisation.today()
    stored = live_db.get(Invoice, invoice.id)
    owed = claims(live_db, organisation, stored.debtor, [stored], today)[stored.id]
    assert owed.total == D("1394.86")
    statement = camt053(
        organisation.iban, today, [Credit(owed.total, name="Klant", iban="NL02INGB0002447973", text="betaling")]
    )

    summary = import_statement(live_db, organisation.id, statement, filename="s.xml")
    live_db.commit()

    assert summary.line().startswith("entries=1 booked=1"), summary.line()
    live_db.expire_all()
    assert live_db.get(Invoice, invoice.id).status == "paid"
    assert ledger_discrepancies(live_db, organisation.id) == []


def test_the_dry_run_states_the_claim_each_message_would_make(app, live_db, time_machine):
    from portal.reminders.dryrun import dry_run

    organisation, debtor, invoice = _setup(live_db, time_machine, "business")
    # Today, whatever the hour: after the day's sending hours the dry run would start tomorrow (a day more interest).
    today = organisation.today()
    [message] = [m for m in dry_run(live_db, organisation.id, 1, today=today) if m.debtor_id == debtor.id]
    # As sent today: 1,210.00 + 3.36 interest + 181.50 costs (worked out in the first test of this file).
    assert message.totals.replace("\xa0", " ") in ("€ 1.394,86", "€1,394.86")
    assert "181" in message.text
