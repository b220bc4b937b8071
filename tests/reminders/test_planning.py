"""Planning: one reminder per debtor and send date, on days a reminder may go out, the same plan when run again."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from portal.ledger.service import record_payment
from portal.organisations.calendar import first_day
from portal.reminders.models import Reminder
from portal.reminders.planning import plan
from portal.scenarios.models import Scenario
from tests.factories import make_debtor, make_invoice, make_organisation

MONDAY = date(2026, 6, 1)


def _scheduled(session, debtor):
    return list(
        session.scalars(
            select(Reminder)
            .where(Reminder.debtor_id == debtor.id, Reminder.status == "scheduled")
            .order_by(Reminder.id)
        )
    )


def _invoice(session, debtor, due: date, **values):
    return make_invoice(
        session, debtor, values.pop("total", "100.00"), issue_date=due - timedelta(days=30), due_date=due, **values
    )


def test_an_open_invoice_gets_its_first_step_on_a_business_day(db_session):
    organisation = make_organisation(db_session)
    debtor = make_debtor(db_session, organisation, email="ap@example.com")
    # Standard: first reminder 3 days after the due date. Due Wednesday 3 June -> Saturday 6 -> Monday 8 June.
    invoice = _invoice(db_session, debtor, date(2026, 6, 3))

    result = plan(db_session, organisation.id, today=MONDAY)

    assert (result.created, result.updated, result.removed) == (1, 0, 0)
    [reminder] = _scheduled(db_session, debtor)
    assert reminder.send_on == date(2026, 6, 8)
    assert reminder.step_position == 1 and reminder.scenario.key == "standard"
    assert [(i.invoice_id, i.step_position) for i in reminder.items] == [(invoice.id, 1)]
    # 09:00 in Amsterdam, summer time.
    assert reminder.send_at == datetime(2026, 6, 8, 7, 0, tzinfo=UTC)


def test_planning_again_changes_nothing(db_session):
    organisation = make_organisation(db_session)
    for n in range(3):
        debtor = make_debtor(db_session, organisation, email=f"d{n}@example.com")
        _invoice(db_session, debtor, MONDAY - timedelta(days=10 * n))
        _invoice(db_session, debtor, MONDAY + timedelta(days=n))

    first = plan(db_session, organisation.id, today=MONDAY)
    before = [
        (r.id, r.send_on, r.step_position, [(i.invoice_id, i.step_position) for i in r.items])
        for r in db_session.scalars(select(Reminder).order_by(Reminder.id))
    ]
    second = plan(db_session, organisation.id, today=MONDAY)
    after = [
        (r.id, r.send_on, r.step_position, [(i.invoice_id, i.step_position) for i in r.items])
        for r in db_session.scalars(select(Reminder).order_by(Reminder.id))
    ]

    assert first.created == 3
    assert (second.created, second.updated, second.removed, second.unchanged) == (0, 0, 0, 3)
    assert before == after


def test_one_reminder_covers_every_invoice_due_by_its_date_in_the_tone_of_the_highest_step(db_session):
    organisation = make_organisation(db_session)
    debtor = make_debtor(db_session, organisation, email="ap@example.com")
    old = _invoice(db_session, debtor, MONDAY - timedelta(days=40))
    old.last_step = 1  # its first reminder went out; next: the second, 14 days after due
    overdue = _invoice(db_session, debtor, MONDAY - timedelta(days=5))
    later = _invoice(db_session, debtor, MONDAY + timedelta(days=20))

    plan(db_session, organisation.id, today=MONDAY)

    [reminder] = _scheduled(db_session, debtor)
    assert reminder.send_on == MONDAY
    assert {(i.invoice_id, i.step_position) for i in reminder.items} == {(old.id, 2), (overdue.id, 1)}
    assert later.id not in {i.invoice_id for i in reminder.items}
    assert reminder.step_position == 2 and reminder.step.tone == "neutral"


def test_a_new_invoice_starts_at_the_first_step_even_when_older_ones_are_further(db_session):
    organisation = make_organisation(db_session)
    debtor = make_debtor(db_session, organisation, email="ap@example.com")
    old = _invoice(db_session, debtor, MONDAY - timedelta(days=40))
    old.last_step = 3
    new = _invoice(db_session, debtor, MONDAY - timedelta(days=4))

    plan(db_session, organisation.id, today=MONDAY)

    [reminder] = _scheduled(db_session, debtor)
    assert {(i.invoice_id, i.step_position) for i in reminder.items} == {(old.id, 4), (new.id, 1)}


def test_the_minimum_gap_folds_a_step_into_the_next_contact(db_session):
    organisation = make_organisation(db_session, min_gap_days=7)
    debtor = make_debtor(db_session, organisation, email="ap@example.com")
    invoice = _invoice(db_session, debtor, MONDAY - timedelta(days=10))
    contacted = Reminder(
        organisation_id=organisation.id,
        debtor_id=debtor.id,
        send_on=MONDAY - timedelta(days=2),
        send_at=datetime(2026, 5, 30, 7, tzinfo=UTC),
        status="sent",
        step_position=1,
    )
    db_session.add(contacted)
    db_session.flush()

    plan(db_session, organisation.id, today=MONDAY)

    [reminder] = _scheduled(db_session, debtor)
    assert reminder.send_on == MONDAY + timedelta(days=7)  # Saturday 30 May + 7 = Saturday 6 June -> Monday 8
    assert [i.invoice_id for i in reminder.items] == [invoice.id]


def test_public_holidays_and_weekends_are_skipped_unless_allowed(db_session):
    dutch = make_organisation(db_session)
    every_day = make_organisation(db_session, business_days_only=False, holiday_country="")
    # King's Day, Monday 27 April 2026: due Friday 24 April + 3 = Monday 27 -> Tuesday 28 April.
    a = make_debtor(db_session, dutch, email="a@example.com")
    b = make_debtor(db_session, every_day, email="b@example.com")
    _invoice(db_session, a, date(2026, 4, 24))
    _invoice(db_session, b, date(2026, 4, 23))  # + 3 = Sunday 26 April, allowed

    plan(db_session, dutch.id, today=date(2026, 4, 20))
    plan(db_session, every_day.id, today=date(2026, 4, 20))

    assert _scheduled(db_session, a)[0].send_on == date(2026, 4, 28)
    assert _scheduled(db_session, b)[0].send_on == date(2026, 4, 26)


def test_send_window_follows_daylight_saving_time(db_session):
    organisation = make_organisation(db_session, business_days_only=False)
    winter = make_debtor(db_session, organisation, email="w@example.com")
    summer = make_debtor(db_session, organisation, email="s@example.com")
    _invoice(db_session, winter, date(2026, 3, 25))  # + 3 = Saturday 28 March, CET
    _invoice(db_session, summer, date(2026, 3, 26))  # + 3 = Sunday 29 March, CEST from 02:00

    plan(db_session, organisation.id, today=date(2026, 3, 20))

    assert _scheduled(db_session, winter)[0].send_at == datetime(2026, 3, 28, 8, tzinfo=UTC)
    assert _scheduled(db_session, summer)[0].send_at == datetime(2026, 3, 29, 7, tzinfo=UTC)


def test_first_day_is_tomorrow_once_the_send_window_has_closed(db_session):
    organisation = make_organisation(db_session, send_until_hour=17)
    assert first_day(organisation, datetime(2026, 6, 1, 14, 59, tzinfo=UTC)) == date(2026, 6, 1)  # 16:59 local
    assert first_day(organisation, datetime(2026, 6, 1, 15, 0, tzinfo=UTC)) == date(2026, 6, 2)  # 17:00 local


def test_holds_promises_and_disputes_keep_invoices_out_until_they_end(db_session):
    organisation = make_organisation(db_session, promise_grace_days=0)  # the grace: tests/reminders/test_promises.py
    held_debtor = make_debtor(db_session, organisation, email="h@example.com", hold_until=MONDAY)
    _invoice(db_session, held_debtor, MONDAY - timedelta(days=10))
    debtor = make_debtor(db_session, organisation, email="d@example.com")
    held = _invoice(db_session, debtor, MONDAY - timedelta(days=10))
    held.hold_until = MONDAY + timedelta(days=1)
    promised = _invoice(db_session, debtor, MONDAY - timedelta(days=10))
    promised.promised_on = MONDAY
    disputed = _invoice(db_session, debtor, MONDAY - timedelta(days=10))
    disputed.disputed_at = datetime(2026, 5, 30, tzinfo=UTC)
    free = _invoice(db_session, debtor, MONDAY - timedelta(days=10))

    plan(db_session, organisation.id, today=MONDAY)
    assert _scheduled(db_session, held_debtor) == []
    assert [i.invoice_id for i in _scheduled(db_session, debtor)[0].items] == [free.id]

    # The day after: the debtor's hold and the promise have ended (a broken promise), the invoice's hold not yet.
    plan(db_session, organisation.id, today=MONDAY + timedelta(days=1))
    assert len(_scheduled(db_session, held_debtor)) == 1
    items = {i.invoice_id for i in _scheduled(db_session, debtor)[0].items}
    assert items == {free.id, promised.id}
    assert held.id not in items and disputed.id not in items


def test_a_paid_invoice_leaves_the_plan(db_session):
    organisation = make_organisation(db_session)
    debtor = make_debtor(db_session, organisation, email="ap@example.com")
    invoice = _invoice(db_session, debtor, MONDAY - timedelta(days=10))
    plan(db_session, organisation.id, today=MONDAY)
    record_payment(
        db_session,
        organisation.id,
        debtor.id,
        Decimal("100.00"),
        "EUR",
        MONDAY,
        allocations=[(invoice.id, Decimal("100.00"))],
    )

    result = plan(db_session, organisation.id, today=MONDAY)

    assert result.removed == 1
    assert _scheduled(db_session, debtor) == []


def test_pinned_reminders_and_their_invoices_are_left_alone(db_session):
    organisation = make_organisation(db_session)
    debtor = make_debtor(db_session, organisation, email="ap@example.com")
    pinned_invoice = _invoice(db_session, debtor, MONDAY - timedelta(days=10))
    plan(db_session, organisation.id, today=MONDAY)
    [reminder] = _scheduled(db_session, debtor)
    reminder.pinned, reminder.send_on = True, MONDAY + timedelta(days=21)
    db_session.flush()
    other = _invoice(db_session, debtor, MONDAY - timedelta(days=3))

    plan(db_session, organisation.id, today=MONDAY)

    db_session.refresh(reminder)
    assert reminder.send_on == MONDAY + timedelta(days=21)
    assert [i.invoice_id for i in reminder.items] == [pinned_invoice.id]
    [planned] = [r for r in _scheduled(db_session, debtor) if not r.pinned]
    assert [i.invoice_id for i in planned.items] == [other.id]
    assert planned.send_on > reminder.send_on  # the minimum gap counts from the pinned contact


def test_the_override_scenario_is_followed(db_session):
    organisation = make_organisation(db_session)
    plan(db_session, organisation.id, today=MONDAY)  # gives the organisation its scenarios
    strict = db_session.scalar(select(Scenario).filter_by(organisation_id=organisation.id, key="strict"))
    debtor = make_debtor(db_session, organisation, email="ap@example.com")
    debtor.override_scenario_id = strict.id
    _invoice(db_session, debtor, MONDAY - timedelta(days=1))  # strict: 1 day after due

    plan(db_session, organisation.id, today=MONDAY)

    [reminder] = _scheduled(db_session, debtor)
    assert reminder.scenario_id == strict.id and reminder.send_on == MONDAY
