"""An invoice's claim under the legal profiles: what a step adds, what is owed on a day, and how money is split.

Amounts are worked out by hand from the published rules (DOMAIN.md) and written next to each assertion.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.events import Event, EventKind
from portal.law.calculate import received_on
from portal.law.charges import charges_for_step, record_charges
from portal.ledger.claims import claims, in_legal_order
from portal.ledger.models import Allocation
from portal.ledger.service import ledger_discrepancies, record_payment, reverse_payment
from portal.money import pro_rata
from portal.scenarios.models import Step
from tests.factories import make_debtor, make_invoice, make_organisation

D = Decimal


def _step(**flags) -> Step:
    return Step(position=1, adds_costs=flags.get("costs", False), adds_interest=flags.get("interest", False))


def _org(session, **values):
    values.setdefault("law_business", "nl")
    values.setdefault("law_consumer", "nl")
    return make_organisation(session, **values)


def _invoice(session, debtor, total, due):
    return make_invoice(session, debtor, total, issue_date=due - timedelta(days=14), due_date=due)


def _charge(session, organisation, debtor, invoices, on, step, channel="email"):
    charges = charges_for_step(organisation, debtor, step, invoices, on, channel)
    record_charges(session, organisation.id, debtor.id, charges, invoices, reminder_id=0)
    session.flush()
    for invoice in invoices:
        session.refresh(invoice)
    return charges


def test_wik_costs_are_reckoned_over_the_invoices_of_one_letter_and_shared_out(db_session):
    organisation = _org(db_session)
    debtor = make_debtor(db_session, organisation, kind="business")
    today = date(2026, 11, 20)
    # 3,000.00 together: 15% of 2,500 = 375.00 + 10% of 500 = 50.00 -> 425.00, shared 2:1 by principal.
    a = _invoice(db_session, debtor, "2000.00", date(2026, 10, 1))
    b = _invoice(db_session, debtor, "1000.00", date(2026, 10, 1))

    _charge(db_session, organisation, debtor, [a, b], today, _step(costs=True))

    assert (a.costs_charged, b.costs_charged) == (D("283.33"), D("141.67"))
    assert a.costs_from == today and a.costs_notice_until is None
    owed = claims(db_session, organisation, debtor, [a, b], today)
    assert owed[a.id].costs + owed[b.id].costs == D("425.00")
    assert owed[a.id].interest == D("0.00")  # this step adds no interest


def test_per_invoice_costs_apply_the_minimum_to_each(db_session):
    organisation = _org(db_session, costs_basis="per_invoice")
    debtor = make_debtor(db_session, organisation, kind="business")
    a = _invoice(db_session, debtor, "100.00", date(2026, 10, 1))
    b = _invoice(db_session, debtor, "100.00", date(2026, 10, 1))
    _charge(db_session, organisation, debtor, [a, b], date(2026, 11, 20), _step(costs=True))
    # 15% of 100 = 15.00, below the minimum of 40.00: 40.00 each (together it would be 40.00 for both).
    assert (a.costs_charged, b.costs_charged) == (D("40.00"), D("40.00"))


def test_vat_is_added_only_when_the_organisation_cannot_reclaim_it(db_session):
    organisation = _org(db_session, costs_add_vat=True, costs_vat_rate=21)
    debtor = make_debtor(db_session, organisation, kind="business")
    invoice = _invoice(db_session, debtor, "1000.00", date(2026, 10, 1))
    _charge(db_session, organisation, debtor, [invoice], date(2026, 11, 20), _step(costs=True))
    # 15% of 1,000 = 150.00; 21% VAT = 31.50 -> 181.50.
    assert (invoice.costs_charged, invoice.costs_vat) == (D("181.50"), D("31.50"))


def test_the_eu_profile_charges_40_per_invoice_to_businesses_and_nothing_to_consumers(db_session):
    organisation = _org(db_session, law_business="eu", law_consumer="eu")
    business = make_debtor(db_session, organisation, kind="business")
    consumer = make_debtor(db_session, organisation, kind="consumer")
    a = _invoice(db_session, business, "5000.00", date(2026, 10, 1))
    b = _invoice(db_session, business, "10.00", date(2026, 10, 1))
    c = _invoice(db_session, consumer, "5000.00", date(2026, 10, 1))
    step = _step(costs=True, interest=True)
    _charge(db_session, organisation, business, [a, b], date(2026, 11, 20), step)
    nothing = _charge(db_session, organisation, consumer, [c], date(2026, 11, 20), step)
    assert (a.costs_charged, b.costs_charged) == (D("40.00"), D("40.00"))
    assert nothing.changes == {} and c.costs_charged == D("0.00") and c.interest_from is None


def test_interest_runs_from_the_day_after_the_due_date_at_the_organisations_rates(db_session):
    organisation = _org(db_session)
    debtor = make_debtor(db_session, organisation, kind="business")
    invoice = _invoice(db_session, debtor, "10000.00", date(2026, 6, 30))
    _charge(db_session, organisation, debtor, [invoice], date(2026, 7, 10), _step(interest=True))
    assert invoice.interest_from == date(2026, 7, 1)
    # 1 Jul - 31 Jul 2026 inclusive: 31 days at 10.15%: 10,000 x 0.1015 x 31 / 365 = 86.205... -> 86.21.
    owed = claims(db_session, organisation, debtor, [invoice], date(2026, 7, 31))[invoice.id]
    assert owed.interest == D("86.21") and owed.total == D("10086.21")


def test_a_part_payment_stops_earning_interest_after_the_day_it_came_in(db_session):
    organisation = _org(db_session, legal_order=False)
    debtor = make_debtor(db_session, organisation, kind="business")
    invoice = _invoice(db_session, debtor, "10000.00", date(2026, 6, 30))
    _charge(db_session, organisation, debtor, [invoice], date(2026, 7, 10), _step(interest=True))
    record_payment(
        db_session, organisation.id, debtor.id, D("5000.00"), "EUR", date(2026, 7, 10),
        allocations=[(invoice.id, D("5000.00"))],
    )  # fmt: skip
    # 1-10 Jul on 10,000: 10,000 x 0.1015 x 10 / 365 = 27.808 -> 27.81;
    # 11-31 Jul on 5,000: 5,000 x 0.1015 x 21 / 365 = 29.198 -> 29.20; together 57.01.
    owed = claims(db_session, organisation, debtor, [invoice], date(2026, 7, 31))[invoice.id]
    assert owed.principal == D("5000.00") and owed.interest == D("57.01")


def test_a_consumer_gets_the_14_day_notice_before_any_costs(db_session):
    organisation = _org(db_session, receipt_days_email=1)
    debtor = make_debtor(db_session, organisation, kind="consumer")
    invoice = _invoice(db_session, debtor, "250.00", date(2026, 10, 1))
    sent = date(2026, 11, 2)  # a Monday

    charges = _charge(db_session, organisation, debtor, [invoice], sent, _step(costs=True))

    # Received 3 Nov (sent + 1 day); 14 days from the day after receipt: 4-17 Nov; costs from 18 Nov.
    # WIK on 250.00: 15% = 37.50, below the minimum: 40.00.
    assert charges.notice.pay_by == date(2026, 11, 17) and charges.notice.costs == D("40.00")
    assert invoice.costs_notice_until == date(2026, 11, 17) and invoice.costs_from == date(2026, 11, 18)
    within = claims(db_session, organisation, debtor, [invoice], date(2026, 11, 17))[invoice.id]
    assert within.costs == D("0.00") and within.announced == D("40.00") and within.total == D("250.00")
    after = claims(db_session, organisation, debtor, [invoice], date(2026, 11, 18))[invoice.id]
    assert after.costs == D("40.00") and after.total == D("290.00")
    kinds = db_session.scalars(select(Event.kind).where(Event.invoice_id == invoice.id)).all()
    assert "invoice:costs:announced" in kinds and "invoice:costs:charged" not in kinds


def test_a_consumer_who_pays_within_the_14_days_owes_no_costs(db_session):
    organisation = _org(db_session)
    debtor = make_debtor(db_session, organisation, kind="consumer")
    invoice = _invoice(db_session, debtor, "250.00", date(2026, 10, 1))
    _charge(db_session, organisation, debtor, [invoice], date(2026, 11, 2), _step(costs=True))
    record_payment(
        db_session, organisation.id, debtor.id, D("250.00"), "EUR", date(2026, 11, 16),
        allocations=[(invoice.id, D("250.00"))],
    )  # fmt: skip
    db_session.refresh(invoice)
    later = claims(db_session, organisation, debtor, [invoice], date(2026, 12, 1))[invoice.id]
    assert invoice.status == "paid" and later.total == D("0.00") and later.announced == D("0.00")


def test_a_letter_is_received_after_business_days():
    class Org:
        receipt_days_email, receipt_days_letter = 1, 2

    assert received_on(Org, date(2026, 11, 27), "letter") == date(2026, 12, 1)  # Fri -> Mon, Tue
    assert received_on(Org, date(2026, 11, 27), "email") == date(2026, 11, 28)


def test_a_payment_goes_to_costs_then_interest_then_principal(db_session):
    organisation = _org(db_session)
    debtor = make_debtor(db_session, organisation, kind="business")
    invoice = _invoice(db_session, debtor, "1000.00", date(2026, 6, 30))
    _charge(db_session, organisation, debtor, [invoice], date(2026, 7, 10), _step(costs=True, interest=True))
    # Costs: 15% of 1,000 = 150.00. Interest 1-31 Jul: 1,000 x 0.1015 x 31 / 365 = 8.620... -> 8.62.
    payment = record_payment(
        db_session, organisation.id, debtor.id, D("500.00"), "EUR", date(2026, 7, 31),
        allocations=[(invoice.id, D("500.00"))],
    )  # fmt: skip
    parts = dict(
        db_session.execute(
            select(Allocation.component, Allocation.amount).where(Allocation.payment_id == payment.id)
        ).all()
    )
    assert parts == {"costs": D("150.00"), "interest": D("8.62"), "principal": D("341.38")}
    db_session.refresh(invoice)
    assert (invoice.costs_paid, invoice.interest_paid, invoice.open_amount) == (D("150.00"), D("8.62"), D("658.62"))
    assert ledger_discrepancies(db_session, organisation.id) == []

    # Taking the payment back gives each part back to where it came from.
    reverse_payment(db_session, payment.id, D("500.00"), why="returned")
    db_session.refresh(invoice)
    assert (invoice.costs_paid, invoice.interest_paid, invoice.open_amount) == (D("0.00"), D("0.00"), D("1000.00"))


def test_auto_allocation_pays_the_whole_claim(db_session):
    organisation = _org(db_session)
    debtor = make_debtor(db_session, organisation, kind="business")
    invoice = _invoice(db_session, debtor, "100.00", date(2026, 6, 30))
    _charge(db_session, organisation, debtor, [invoice], date(2026, 7, 10), _step(costs=True))
    payment = record_payment(
        db_session, organisation.id, debtor.id, D("150.00"), "EUR", date(2026, 7, 31), auto_allocate=True
    )
    db_session.refresh(invoice)
    # 100.00 principal + 40.00 costs; 10.00 stays the debtor's credit.
    assert invoice.status == "paid" and invoice.costs_paid == D("40.00") and payment.unallocated_amount == D("10.00")


def test_without_the_legal_order_a_payment_goes_to_the_principal(db_session):
    organisation = _org(db_session, legal_order=False)
    debtor = make_debtor(db_session, organisation, kind="business")
    invoice = _invoice(db_session, debtor, "1000.00", date(2026, 6, 30))
    _charge(db_session, organisation, debtor, [invoice], date(2026, 7, 10), _step(costs=True))
    record_payment(
        db_session, organisation.id, debtor.id, D("500.00"), "EUR", date(2026, 7, 31),
        allocations=[(invoice.id, D("500.00"))],
    )  # fmt: skip
    db_session.refresh(invoice)
    assert invoice.open_amount == D("500.00") and invoice.costs_paid == D("0.00")


def test_a_waiver_makes_the_unpaid_rest_nothing(db_session):
    organisation = _org(db_session)
    debtor = make_debtor(db_session, organisation, kind="business")
    invoice = _invoice(db_session, debtor, "1000.00", date(2026, 6, 30))
    _charge(db_session, organisation, debtor, [invoice], date(2026, 7, 10), _step(costs=True, interest=True))
    debtor.waive_costs, debtor.waive_interest = True, True
    owed = claims(db_session, organisation, debtor, [invoice], date(2026, 7, 31))[invoice.id]
    assert owed.total == D("1000.00") and not owed.itemised
    # ... and a later step adds nothing.
    other = _invoice(db_session, debtor, "1000.00", date(2026, 6, 30))
    assert (
        charges_for_step(
            organisation, debtor, _step(costs=True, interest=True), [other], date(2026, 8, 1), "email"
        ).changes
        == {}
    )


def test_charges_are_recorded_once(db_session):
    organisation = _org(db_session)
    debtor = make_debtor(db_session, organisation, kind="business")
    invoice = _invoice(db_session, debtor, "1000.00", date(2026, 6, 30))
    step = _step(costs=True, interest=True)
    charges = charges_for_step(organisation, debtor, step, [invoice], date(2026, 7, 10), "email")
    record_charges(db_session, organisation.id, debtor.id, charges, [invoice], reminder_id=1)
    record_charges(db_session, organisation.id, debtor.id, charges, [invoice], reminder_id=2)
    kinds = db_session.scalars(
        select(Event.kind).where(
            Event.invoice_id == invoice.id,
            Event.kind.in_([k for k in EventKind.of("invoice") if k.count(":") == 2 and k.endswith("ed")]),
        )
    ).all()
    assert sorted(k for k in kinds if k in ("invoice:costs:charged", "invoice:interest:started")) == [
        "invoice:costs:charged",
        "invoice:interest:started",
    ]


@pytest.mark.parametrize(
    ("total", "weights"),
    [("425.00", ["2000", "1000"]), ("40.00", ["1", "1", "1"]), ("0.01", ["5", "5"]), ("6775.00", ["0.01", "9e6"])],
)
def test_pro_rata_adds_up_to_the_cent(total, weights):
    parts = pro_rata(D(total), [D(w) for w in weights])
    assert sum(parts) == D(total) and all(p >= 0 for p in parts)


def test_legal_order_never_takes_more_than_the_claim():
    from portal.ledger.claims import Claim

    claim = Claim(principal=D("100.00"), interest=D("1.50"), costs=D("40.00"))
    assert in_legal_order(claim, D("20.00")) == [("costs", D("20.00"))]
    assert in_legal_order(claim, D("200.00")) == [
        ("costs", D("40.00")),
        ("interest", D("1.50")),
        ("principal", D("100.00")),
    ]


def test_an_invoice_not_yet_due_gets_nothing_even_from_a_claiming_step(db_session):
    organisation = _org(db_session)
    debtor = make_debtor(db_session, organisation, kind="consumer")
    due_later = _invoice(db_session, debtor, "250.00", date(2026, 12, 15))
    charges = charges_for_step(
        organisation, debtor, _step(costs=True, interest=True), [due_later], date(2026, 12, 3), "email"
    )
    assert charges.changes == {} and charges.notice is None


def test_an_invoice_riding_along_in_a_final_notice_is_charged_by_its_own_step(db_session):
    from portal.law.charges import step_flags
    from portal.scenarios.models import Scenario

    organisation = _org(db_session)
    debtor = make_debtor(db_session, organisation, kind="business")
    old = _invoice(db_session, debtor, "1000.00", date(2026, 10, 1))
    young = _invoice(db_session, debtor, "1000.00", date(2026, 11, 28))
    scenario = Scenario(
        steps=[
            Step(position=1),
            Step(position=2, adds_interest=True),
            Step(position=3),
            Step(position=4, adds_costs=True, adds_interest=True),
        ]
    )
    flags = step_flags(scenario, {old.id: 4, young.id: 1})
    assert flags == {old.id: (True, True), young.id: (False, False)}
    assert step_flags(scenario, {old.id: 3}) == {old.id: (False, True)}  # interest started at step 2 still counts

    charges = charges_for_step(
        organisation, debtor, scenario.steps[3], [old, young], date(2026, 12, 3), "email", flags=flags
    )
    assert set(charges.changes) == {old.id}
    # WIK on the old invoice alone: 15% of 1,000.00 = 150.00.
    assert charges.changes[old.id]["costs_charged"] == D("150.00")
