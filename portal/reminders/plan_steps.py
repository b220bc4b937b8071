"""Planning's first step: each open invoice's next step and the day it falls due, into the scratch rows
(``PlanRow``). An invoice walks its debtor's scenario on its own (``Invoice.last_step``); its next step falls due on
the step's anchor plus offset, not before the first day planning may use, moved to the next day a reminder may go
out (the ``send_days`` calendar)."""

from datetime import date, timedelta

from sqlalchemy import and_, case, func, insert, literal, or_, select, text
from sqlalchemy.orm import Session

from portal.arrangements.models import Arrangement, ArrangementInvoice
from portal.debtors.models import Debtor
from portal.invoices.models import Invoice
from portal.organisations.models import Organisation
from portal.reminders.models import HELD_STATUSES, PlanRow, Reminder, ReminderItem, SendDay
from portal.reminders.plan_sql import add_days, analyze
from portal.scenarios.defaults import default_scenario_id
from portal.scenarios.models import Step

_COLUMNS = ["organisation_id", "invoice_id", "debtor_id", "kind", "scenario_id", "step_position", "due_on"]


def stage_steps(session: Session, organisation: Organisation, today: date, first: date, calendar: str) -> None:
    """Fill the scratch rows with every remindable invoice's next step (and, when the organisation delivers its
    invoices, every invoice still to deliver)."""
    pr = PlanRow.__table__
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        # The join to the next step goes through an expression PostgreSQL cannot estimate (it guesses a few dozen
        # rows of hundreds of thousands) and picks a nested loop of index lookups; hashing is six times faster.
        session.execute(text("SET LOCAL enable_nestloop = off"))
    for query in candidates(session, organisation, today, first, calendar):
        session.execute(insert(pr).from_select(_COLUMNS, query))
    if postgres:
        session.execute(text("SET LOCAL enable_nestloop = on"))
    analyze(session, pr)


def candidates(
    session: Session, organisation: Organisation, today: date, first: date, calendar: str
) -> list[tuple[int, object]]:
    """(kind, SELECT) of every invoice's next step: (invoice, debtor, scenario, step position, due on)."""
    i, d, s, c = Invoice.__table__, Debtor.__table__, Step.__table__, SendDay.__table__
    scenario = _scenario(d, default_scenario_id(session, organisation.id), today)
    remindable = _remindable(organisation, today)

    def clamp(day):
        return case((day < first, first), else_=day)

    anchor = case((s.c.anchor == "issue_date", i.c.issue_date), else_=func.coalesce(i.c.due_date, i.c.issue_date))
    steps = (
        select(
            literal(organisation.id),
            i.c.id,
            i.c.debtor_id,
            literal("reminder"),
            scenario,
            s.c.position,
            c.c.send_on,
        )
        .select_from(i)
        .join(d, d.c.id == i.c.debtor_id)
        .join(s, and_(s.c.scenario_id == scenario, s.c.position == i.c.last_step + 1))
        .join(c, and_(c.c.calendar == calendar, c.c.day == clamp(add_days(anchor, s.c.offset_days))))
        .where(remindable, i.c.last_step >= 0)
    )
    deliveries = (
        select(
            literal(organisation.id),
            i.c.id,
            i.c.debtor_id,
            literal("delivery"),
            literal(None),
            literal(0),
            c.c.send_on,
        )
        .select_from(i)
        .join(d, d.c.id == i.c.debtor_id)
        .join(c, and_(c.c.calendar == calendar, c.c.day == clamp(i.c.issue_date)))
        .where(remindable, i.c.last_step == -1)
    )
    return [steps, deliveries] if organisation.deliver_invoices else [steps]


def _scenario(d, default_id: int, today: date):
    """The debtor's scenario: the supplier's override while it lasts, else the one chosen from its behaviour, else
    the organisation's default."""
    override_active = and_(
        d.c.override_scenario_id.isnot(None), or_(d.c.override_until.is_(None), d.c.override_until >= today)
    )
    return func.coalesce(case((override_active, d.c.override_scenario_id)), d.c.scenario_id, default_id)


def _remindable(organisation: Organisation, today: date):
    """The invoices planning may remind of today: open, owing, not held, promised, disputed, in a pinned or a
    held reminder, or in a running payment plan."""
    i, d = Invoice.__table__, Debtor.__table__
    r, ri = Reminder.__table__, ReminderItem.__table__
    held_by_reminder = (
        select(ri.c.invoice_id)
        .join(r, r.c.id == ri.c.reminder_id)
        .where(
            ri.c.invoice_id == i.c.id,
            or_(r.c.status.in_(HELD_STATUSES), and_(r.c.status == "scheduled", r.c.pinned)),
        )
        .exists()
    )
    # A running payment plan has its own reminders, per installment.
    ai, a = ArrangementInvoice.__table__, Arrangement.__table__
    in_active_plan = (
        select(ai.c.invoice_id)
        .join(a, a.c.id == ai.c.arrangement_id)
        .where(ai.c.invoice_id == i.c.id, a.c.status == "active")
        .exists()
    )
    return and_(
        i.c.organisation_id == organisation.id,
        i.c.kind == "invoice",
        i.c.status == "open",
        i.c.open_amount > 0,
        or_(d.c.hold_until.is_(None), d.c.hold_until < today),
        or_(i.c.hold_until.is_(None), i.c.hold_until < today),
        # A promise holds its invoices until the promised date plus the organisation's grace has passed (the
        # same as add_days(promised_on, grace) < today, but one constant to compare rather than a sum per row).
        or_(i.c.promised_on.is_(None), i.c.promised_on < today - timedelta(days=organisation.promise_grace_days)),
        i.c.disputed_at.is_(None),
        ~held_by_reminder,
        ~in_active_plan,
    )
