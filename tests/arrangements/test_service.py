"""Payment arrangements: the rules, automatic approval or the supplier's decision, progress, misses and reminders."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from portal.arrangements import service
from portal.arrangements.models import InstallmentNotice
from portal.errors import DomainError
from portal.events import Event
from portal.ledger.service import ledger_discrepancies, record_payment
from portal.mail.models import MailMessage
from portal.reminders.behaviour import profile
from portal.reminders.models import Reminder
from portal.reminders.planning import plan
from portal.scenarios.models import Scenario
from tests.factories import make_debtor, make_invoice, make_organisation, make_user

MAIL_FROM = "Duly <no-reply@duly.test>"


@pytest.fixture
def shop(db_session):
    organisation = make_organisation(
        db_session,
        business_days_only=False,
        holiday_country="",
        sender_email="ar@shop.example",
        arrangement_auto_installments=4,
        arrangement_auto_total=Decimal("1000.00"),
    )
    debtor = make_debtor(db_session, organisation, email="ap@debtor.example", language="en")
    first = make_invoice(db_session, debtor, "300.00", number="A-1", days_overdue=20)
    second = make_invoice(db_session, debtor, "300.00", number="A-2", days_overdue=10)
    return organisation, debtor, first, second


def _propose(db_session, shop, count=3, frequency="monthly", invoices=None, first_due=None):
    organisation, debtor, first, second = shop
    today = organisation.today()
    return service.propose(
        db_session,
        organisation,
        debtor,
        [i.id for i in (invoices or (first, second))],
        count,
        frequency,
        first_due or today + timedelta(days=7),
        today,
        note="Short of cash until the spring",
        mail_from=MAIL_FROM,
    )


def _in_running_plan(db_session, *invoices):
    for invoice in invoices:
        db_session.expire(invoice, ["in_running_plan"])
    return [invoice.in_running_plan for invoice in invoices]


def _kinds(db_session, organisation):
    return [e.kind for e in db_session.scalars(select(Event).where(Event.organisation_id == organisation.id))]


def _mails(db_session, template):
    return db_session.scalars(select(MailMessage).where(MailMessage.template == template)).all()


def test_a_proposal_within_the_limits_runs_at_once_and_its_invoices_leave_their_scenario(db_session, shop):
    organisation, debtor, first, second = shop
    today = organisation.today()
    plan(db_session, organisation.id, today=today, first=today)
    assert db_session.scalar(select(Reminder).where(Reminder.debtor_id == debtor.id)) is not None

    arrangement = _propose(db_session, shop)

    assert (arrangement.status, arrangement.auto_approved) == ("active", True)
    assert [i.amount for i in arrangement.installments] == [Decimal("200.00")] * 3
    first_due = arrangement.first_due
    assert [i.due_on for i in arrangement.installments] == [first_due + relativedelta(months=n) for n in range(3)]
    assert [item.invoice.number for item in arrangement.items] == ["A-1", "A-2"]  # oldest due first
    assert "arrangement:proposed" in _kinds(db_session, organisation)
    assert "arrangement:approved" in _kinds(db_session, organisation)
    [mail] = _mails(db_session, "arrangement_confirmation")
    assert mail.to_address == "ap@debtor.example" and "200.00" in mail.body_text and "is agreed" in mail.body_text
    plan(db_session, organisation.id, today=today, first=today)
    assert (
        db_session.scalar(select(Reminder).where(Reminder.debtor_id == debtor.id, Reminder.kind == "reminder")) is None
    )
    assert _in_running_plan(db_session, first, second) == [True, True]


def test_a_proposal_outside_the_automatic_limits_waits_for_the_supplier(db_session, shop):
    organisation, debtor, *_ = shop
    owner = make_user(db_session, organisation)
    arrangement = _propose(db_session, shop, count=6)

    assert arrangement.status == "proposed" and "6 installments" in arrangement.review_reason
    organisation.arrangement_auto_total = Decimal("500.00")
    third = make_invoice(db_session, debtor, "600.00", number="A-3", days_overdue=5)
    larger = _propose(db_session, shop, count=4, invoices=[third])
    # Amounts and dates as the supplier reads them, not as Python prints them.
    assert "EUR 600.00 (more than EUR 500.00)" in larger.review_reason
    assert "we will get back to you" in _mails(db_session, "arrangement_confirmation")[0].subject.lower()
    with pytest.raises(DomainError):
        service.decide(
            db_session, organisation.id, arrangement.id, "reject", actor_user_id=owner.id, mail_from=MAIL_FROM
        )
    service.decide(db_session, organisation.id, arrangement.id, "approve", actor_user_id=owner.id, mail_from=MAIL_FROM)
    assert arrangement.status == "active" and arrangement.decided_by_user_id == owner.id
    assert "approved" in _mails(db_session, "arrangement_decided")[0].subject


def test_a_rejection_says_why_and_frees_the_invoices(db_session, shop):
    organisation, debtor, first, second = shop
    owner = make_user(db_session, organisation)
    arrangement = _propose(db_session, shop, count=6)
    service.decide(
        db_session,
        organisation.id,
        arrangement.id,
        "reject",
        actor_user_id=owner.id,
        message="Pay A-1 first, please.",
        mail_from=MAIL_FROM,
    )
    assert arrangement.status == "rejected"
    assert "Pay A-1 first" in _mails(db_session, "arrangement_decided")[0].body_text
    assert _propose(db_session, shop, count=2).status == "active"  # the invoices may go into a new plan


@pytest.mark.parametrize(
    "count, frequency, days, field",
    [
        (13, "monthly", 7, "installments"),  # more than the maximum (12)
        (1, "monthly", 7, "installments"),  # a plan has at least two
        (25, "weekly", 7, "installments"),  # 600.00 / 25 = 24.00, below the 25.00 minimum
        (3, "monthly", -1, "first_due"),  # in the past
        (3, "monthly", 40, "first_due"),  # the first installment more than a month ahead
        (3, "daily", 7, "frequency"),
    ],
)
def test_proposals_outside_the_rules_are_refused_with_the_field(db_session, shop, count, frequency, days, field):
    organisation, *_ = shop
    with pytest.raises(DomainError) as refused:
        _propose(
            db_session, shop, count=count, frequency=frequency, first_due=organisation.today() + timedelta(days=days)
        )
    assert refused.value.field == field
    assert not _mails(db_session, "arrangement_confirmation")


def test_the_last_installment_within_the_longest_period(db_session, shop):
    organisation, *_ = shop
    organisation.arrangement_max_days = 60
    with pytest.raises(DomainError, match="must be due by"):
        _propose(db_session, shop, count=4, frequency="monthly")
    assert _propose(db_session, shop, count=4, frequency="weekly").status == "active"


def test_an_invoice_goes_into_one_plan_at_a_time_and_strict_debtors_do_not_propose(db_session, shop):
    organisation, debtor, first, second = shop
    _propose(db_session, shop, count=2, invoices=[first])
    with pytest.raises(DomainError, match="already in a payment plan"):
        _propose(db_session, shop, count=2, invoices=[first, second])
    strict = db_session.scalar(
        select(Scenario).where(Scenario.organisation_id == organisation.id, Scenario.key == "strict")
    )
    debtor.scenario_id = strict.id
    assert service.proposal_refused(db_session, organisation, debtor, organisation.today())
    with pytest.raises(DomainError):
        _propose(db_session, shop, count=2, invoices=[second])


def test_payments_fill_the_installments_in_order_and_an_overpayment_pays_ahead(db_session, shop):
    organisation, debtor, first, second = shop
    arrangement = _propose(db_session, shop)
    today = organisation.today()

    def pay(amount):
        record_payment(db_session, organisation.id, debtor.id, Decimal(amount), "EUR", today, auto_allocate=True)
        db_session.flush()
        return service.progress(arrangement, today)

    state = pay("150.00")
    assert [(r.paid, r.status) for r in state.rows] == [
        (Decimal("150.00"), "part"),
        (Decimal("0.00"), "coming"),
        (Decimal("0.00"), "coming"),
    ]
    state = pay("330.00")  # finishes the first, pays the second, and 80.00 of the third
    assert [r.paid for r in state.rows] == [Decimal("200.00"), Decimal("200.00"), Decimal("80.00")]
    assert state.next.installment.position == 3 and state.next.remaining == Decimal("120.00")
    assert state.percent == 80
    pay("500.00")  # more than is left: the rest is the debtor's credit
    assert service.check(db_session, organisation.id, today, mail_from=MAIL_FROM) == {"completed": 1, "broken": 0}
    assert arrangement.status == "completed"
    assert ledger_discrepancies(db_session, organisation.id) == []


def test_a_missed_installment_breaks_the_plan_after_the_grace(db_session, shop):
    organisation, debtor, first, second = shop
    arrangement = _propose(db_session, shop)
    due = arrangement.installments[0].due_on
    grace = organisation.arrangement_grace_days

    assert service.check(db_session, organisation.id, due + timedelta(days=grace), mail_from=MAIL_FROM)["broken"] == 0
    counts = service.check(db_session, organisation.id, due + timedelta(days=grace + 1), mail_from=MAIL_FROM)

    assert counts == {"completed": 0, "broken": 1} and arrangement.status == "broken"
    assert "arrangement:broken" in _kinds(db_session, organisation)
    [to_debtor] = _mails(db_session, "arrangement_broken")
    [to_supplier] = _mails(db_session, "arrangement_broken_supplier")
    assert "Installment 1" in to_debtor.body_text and to_supplier.to_address == "ar@shop.example"
    assert _in_running_plan(db_session, first, second) == [False, False]  # back into their scenario
    day = due + timedelta(days=grace + 1)
    plan(db_session, organisation.id, today=day, first=day)
    assert db_session.scalar(select(Reminder).where(Reminder.debtor_id == debtor.id, Reminder.kind == "reminder"))
    assert service.check(db_session, organisation.id, day, mail_from=MAIL_FROM)["broken"] == 0  # once
    assert profile(db_session, organisation.id, [debtor.id], day)[debtor.id].broken_plans == 1


def test_installments_are_reminded_before_and_on_their_date_once_each(db_session, shop):
    organisation, debtor, *_ = shop
    arrangement = _propose(db_session, shop)
    due = arrangement.installments[0].due_on
    # Noon of the organisation's today (at 00:30 in Amsterdam, UTC's date is still yesterday's).
    noon = datetime.combine(organisation.today(), time(12), organisation.tz).astimezone(UTC)

    def remind(day):
        return service.remind(
            db_session,
            organisation.id,
            day,
            noon + (day - organisation.today()) * 1,
            base_url="http://localhost",
            mail_from=MAIL_FROM,
        )

    assert remind(due - timedelta(days=4)) == 0
    assert remind(due - timedelta(days=3)) == 1
    assert remind(due - timedelta(days=2)) == 0  # the "before" one went already
    assert remind(due) == 1
    assert remind(due + timedelta(days=1)) == 0
    mails = _mails(db_session, "installment_reminder")
    assert len(mails) == 2 and all("http://localhost/s/" in m.body_text for m in mails)
    assert "is due today" in mails[1].subject
    assert db_session.scalar(select(InstallmentNotice).where(InstallmentNotice.stage == "due")).mail_message_id


def test_a_counter_proposal_is_accepted_by_the_debtor(db_session, shop):
    organisation, debtor, *_ = shop
    owner = make_user(db_session, organisation)
    proposal = _propose(db_session, shop, count=8, frequency="weekly")
    offer = service.counter(
        db_session,
        organisation.id,
        proposal.id,
        4,
        "monthly",
        organisation.today() + timedelta(days=3),
        actor_user_id=owner.id,
        message="Four months is what we can do.",
        mail_from=MAIL_FROM,
    )
    assert (proposal.status, offer.status, offer.counter_of_id) == ("countered", "offered", proposal.id)
    assert "accept or decline" in _mails(db_session, "arrangement_decided")[0].body_text
    other = make_debtor(db_session, organisation)
    with pytest.raises(LookupError):
        service.answer_offer(db_session, organisation, other, offer.id, True, mail_from=MAIL_FROM)
    service.answer_offer(db_session, organisation, debtor, offer.id, True, mail_from=MAIL_FROM)
    assert offer.status == "active"
    with pytest.raises(DomainError):
        service.answer_offer(db_session, organisation, debtor, offer.id, False, mail_from=MAIL_FROM)
