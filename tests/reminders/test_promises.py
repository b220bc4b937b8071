"""Promises and disputes in the engine: planning and the send-time check wait for a promise's date plus the grace and
for a dispute's resolution; check_promises settles promises; broken ones weigh in the payment-behaviour profile."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.debtors.models import Debtor
from portal.disputes import service as disputes
from portal.invoices.models import Invoice
from portal.ledger.service import record_payment
from portal.promises import service as promises
from portal.promises.models import Promise
from portal.reminders.behaviour import BROKEN_PROMISE_DAYS, Settings, choose, effective_scenario, evaluate, profile
from portal.reminders.dispatch import recheck, why_not
from portal.reminders.models import Reminder
from portal.reminders.planning import plan
from tests.factories import make_debtor, make_invoice_due, make_organisation, scheduled_invoice_ids

MONDAY = date(2026, 6, 1)


def _setup(session, **org):
    organisation = make_organisation(session, business_days_only=False, promise_grace_days=3, **org)
    debtor = make_debtor(session, organisation, email="ap@example.com")
    return organisation, debtor


def test_a_promise_pauses_planning_until_its_date_plus_the_grace_then_reminders_resume(db_session):
    organisation, debtor = _setup(db_session)
    promised = make_invoice_due(db_session, debtor, MONDAY - timedelta(days=20))
    other = make_invoice_due(db_session, debtor, MONDAY - timedelta(days=20))
    day = MONDAY + timedelta(days=5)
    promises.promise(db_session, organisation, debtor, [promised.id], day, MONDAY)

    plan(db_session, organisation.id, today=MONDAY)
    assert scheduled_invoice_ids(db_session, debtor) == {other.id}

    for waiting in (day, day + timedelta(days=3)):  # the promised day and the last day of the grace
        plan(db_session, organisation.id, today=waiting)
        assert promised.id not in scheduled_invoice_ids(db_session, debtor), waiting

    plan(db_session, organisation.id, today=day + timedelta(days=4))
    assert scheduled_invoice_ids(db_session, debtor) == {other.id, promised.id}


def test_the_send_time_check_honours_the_grace_and_disputes(db_session):
    organisation, debtor = _setup(db_session)
    promised = make_invoice_due(db_session, debtor, MONDAY - timedelta(days=20))
    disputed = make_invoice_due(db_session, debtor, MONDAY - timedelta(days=20))
    free = make_invoice_due(db_session, debtor, MONDAY - timedelta(days=20))
    plan(db_session, organisation.id, today=MONDAY)
    [reminder] = db_session.scalars(select(Reminder).where(Reminder.debtor_id == debtor.id)).all()
    assert {item.invoice_id for item in reminder.items} == {promised.id, disputed.id, free.id}

    # After planning, the debtor promises one and disputes another: the reminder still lists them, the check drops them.
    promises.promise(db_session, organisation, debtor, [promised.id], MONDAY + timedelta(days=2), MONDAY)
    disputes.open_dispute(db_session, organisation, debtor, disputed.id, "wrong_amount", "We agreed 80")
    send_day = MONDAY + timedelta(days=5)  # the promised day has passed, its grace (3 days) has not

    kept, status, _ = recheck(reminder, send_day)  # the grace read from the reminder's organisation (the dry run)
    assert (status, [item.invoice_id for item in kept]) == ("", [free.id])
    dropped = {item.invoice_id: item.dropped for item in reminder.items if item.dropped}
    assert dropped == {promised.id: "payment promised by 2026-06-03", disputed.id: "disputed"}

    assert why_not(promised, send_day, grace_days=3).startswith("payment promised")
    assert why_not(promised, send_day, grace_days=2) == ""  # 3 June + 2 days < 6 June: reminded again
    assert why_not(promised, MONDAY + timedelta(days=6), grace_days=3) == ""


def test_a_disputed_invoice_stays_out_of_planning_until_resolved(db_session):
    organisation, debtor = _setup(db_session)
    invoice = make_invoice_due(db_session, debtor, MONDAY - timedelta(days=20))
    dispute = disputes.open_dispute(db_session, organisation, debtor, invoice.id, "not_received", "")
    for day in range(0, 60, 20):
        plan(db_session, organisation.id, today=MONDAY + timedelta(days=day))
        assert scheduled_invoice_ids(db_session, debtor) == set()

    disputes.resolve_dispute(db_session, dispute.id, "rejected", "It was delivered on 2 May.", None)
    plan(db_session, organisation.id, today=MONDAY)
    assert scheduled_invoice_ids(db_session, debtor) == {invoice.id}


def _paid_on_time(session, debtor, count: int):
    for n in range(count):
        settled = MONDAY - timedelta(days=10 + 7 * n)
        invoice = make_invoice_due(session, debtor, settled)
        record_payment(
            session,
            debtor.organisation_id,
            debtor.id,
            Decimal("100.00"),
            "EUR",
            settled,
            allocations=[(invoice.id, Decimal("100.00"))],
        )


def _broken_promise(session, organisation, debtor, promised_on: date):
    invoice = make_invoice_due(session, debtor, promised_on - timedelta(days=20))
    promises.promise(session, organisation, debtor, [invoice.id], promised_on, promised_on - timedelta(days=1))
    promises.check_promises(session, organisation.id, promised_on + timedelta(days=10))
    return invoice


def test_broken_promises_count_in_the_profile_and_push_toward_strict(db_session):
    organisation, debtor = _setup(db_session)
    _paid_on_time(db_session, debtor, 4)
    _broken_promise(db_session, organisation, debtor, MONDAY - timedelta(days=400))  # over a year ago: forgotten
    for days_ago in (90, 60, 30):
        _broken_promise(db_session, organisation, debtor, MONDAY - timedelta(days=days_ago))
    late = make_invoice_due(db_session, debtor, MONDAY - timedelta(days=5))
    disputes.open_dispute(db_session, organisation, debtor, late.id, "quality", "")

    found = profile(db_session, organisation.id, [debtor.id], MONDAY)[debtor.id]
    assert (found.broken_promises, found.disputes, found.weighted_days_late) == (3, 1, 0)

    # A punctual payer on the default (standard) scenario: three broken promises weigh 30 days, past strict (20)
    # by its margin (3); two (20 days) would not be.
    evaluate(db_session, organisation.id, MONDAY)
    evaluate(db_session, organisation.id, MONDAY + timedelta(days=1))
    assert effective_scenario(db_session, debtor, MONDAY).key == "strict"
    assert debtor.scenario_reason == (
        "strict: 0 of the last 4 invoices paid more than 20 days late (on average 0 days late); "
        "3 promises to pay broken in the last year (count as 30 days late)"
    )


@pytest.mark.parametrize(
    ("broken", "paid_count", "key"),
    [(0, 6, "friendly"), (1, 6, "standard"), (2, 6, "strict"), (0, 1, "standard"), (2, 1, "strict")],
)
def test_each_broken_promise_weighs_as_days_late(broken, paid_count, key):
    from portal.reminders.behaviour import Profile

    found = Profile(1, paid_count=paid_count, weighted_days_late=0, broken_promises=broken)
    chosen, reason = choose(found, Settings())
    assert chosen == key
    assert BROKEN_PROMISE_DAYS == 10
    if broken:
        assert "broken in the last year" in reason
    if paid_count < Settings().min_paid:
        assert "new customer" in reason


def test_a_broken_promise_keeps_a_strict_debtor_strict_within_the_margin():
    # 16 days late on average would take a strict debtor back to standard (below 20 - 3); one broken promise does not.
    from portal.reminders.behaviour import Profile

    assert choose(Profile(1, paid_count=6, weighted_days_late=16), Settings(), "strict")[0] == "standard"
    assert (
        choose(Profile(1, paid_count=6, weighted_days_late=16, broken_promises=1), Settings(), "strict")[0] == "strict"
    )


@pytest.mark.parametrize("job", ["plan_reminders", "plan_organisation"])
def test_both_planning_jobs_check_promises_before_they_plan(app, live_db, monkeypatch, job):
    """The clock's round over every organisation and the one rung for a single organisation after an action are
    one service (portal.reminders.service): both settle promises first."""
    import workers
    from workers import jobs

    monkeypatch.setattr(workers, "_app", app)  # the job's app is this test's app, not one built from os.environ
    organisation = make_organisation(live_db, business_days_only=False, promise_grace_days=2)
    debtor = make_debtor(live_db, organisation, email="ap@example.com")
    today = organisation.today()
    invoice = make_invoice_due(live_db, debtor, today - timedelta(days=30))
    # A promise made ten days ago for three days ago: past its grace, so broken by now.
    promise = Promise(
        organisation_id=organisation.id, debtor_id=debtor.id, promised_on=today - timedelta(days=3), status="open"
    )
    live_db.add(promise)
    live_db.flush()
    invoice.promise_id, invoice.promised_on = promise.id, promise.promised_on
    organisation_id, debtor_id, promise_id, invoice_id = organisation.id, debtor.id, promise.id, invoice.id
    live_db.commit()
    # Reading an expired attribute would open a transaction, and on SQLite every transaction begins IMMEDIATE
    # (portal/db.py): the job's own session would then wait for this one's lock and time out.
    live_db.close()

    if job == "plan_reminders":
        jobs.plan_reminders()
    else:
        assert jobs.plan_organisation(organisation_id).startswith("1 created")

    assert live_db.get(Promise, promise_id).status == "broken"
    assert live_db.get(Invoice, invoice_id).promised_on is None
    assert invoice_id in scheduled_invoice_ids(live_db, live_db.get(Debtor, debtor_id))  # the same run planned it
