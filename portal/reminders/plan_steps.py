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
    plan_rows = PlanRow.__table__
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        # The join to the next step goes through an expression PostgreSQL cannot estimate (it guesses a few dozen
        # rows of hundreds of thousands) and picks a nested loop of index lookups; hashing is six times faster.
        session.execute(text("SET LOCAL enable_nestloop = off"))
    for query in candidates(session, organisation, today, first, calendar):
        session.execute(insert(plan_rows).from_select(_COLUMNS, query))
    if postgres:
        session.execute(text("SET LOCAL enable_nestloop = on"))
    analyze(session, plan_rows)


def candidates(
    session: Session, organisation: Organisation, today: date, first: date, calendar: str
) -> list[tuple[int, object]]:
    """(kind, SELECT) of every invoice's next step: (invoice, debtor, scenario, step position, due on)."""
    invoices, debtors, steps, send_days = Invoice.__table__, Debtor.__table__, Step.__table__, SendDay.__table__
    scenario = _scenario(debtors, default_scenario_id(session, organisation.id), today)
    remindable = _remindable(organisation, today)

    def clamp(day):
        return case((day < first, first), else_=day)

    anchor = case(
        (steps.c.anchor == "issue_date", invoices.c.issue_date),
        else_=func.coalesce(invoices.c.due_date, invoices.c.issue_date),
    )
    next_steps = (
        select(
            literal(organisation.id),
            invoices.c.id,
            invoices.c.debtor_id,
            literal("reminder"),
            scenario,
            steps.c.position,
            send_days.c.send_on,
        )
        .select_from(invoices)
        .join(debtors, debtors.c.id == invoices.c.debtor_id)
        .join(steps, and_(steps.c.scenario_id == scenario, steps.c.position == invoices.c.last_step + 1))
        .join(
            send_days,
            and_(send_days.c.calendar == calendar, send_days.c.day == clamp(add_days(anchor, steps.c.offset_days))),
        )
        .where(remindable, invoices.c.last_step >= 0)
    )
    deliveries = (
        select(
            literal(organisation.id),
            invoices.c.id,
            invoices.c.debtor_id,
            literal("delivery"),
            literal(None),
            literal(0),
            send_days.c.send_on,
        )
        .select_from(invoices)
        .join(debtors, debtors.c.id == invoices.c.debtor_id)
        .join(send_days, and_(send_days.c.calendar == calendar, send_days.c.day == clamp(invoices.c.issue_date)))
        .where(remindable, invoices.c.last_step == -1)
    )
    return [next_steps, deliveries] if organisation.deliver_invoices else [next_steps]


def _scenario(debtors, default_id: int, today: date):
    """The debtor's scenario: the supplier's override while it lasts, else the one chosen from its behaviour, else
    the organisation's default."""
    override_active = and_(
        debtors.c.override_scenario_id.isnot(None),
        or_(debtors.c.override_until.is_(None), debtors.c.override_until >= today),
    )
    return func.coalesce(case((override_active, debtors.c.override_scenario_id)), debtors.c.scenario_id, default_id)


def _remindable(organisation: Organisation, today: date):
    """The invoices planning may remind of today: open, owing, not held, promised, disputed, in a pinned or a
    held reminder, or in a running payment plan."""
    invoices, debtors = Invoice.__table__, Debtor.__table__
    reminders, reminder_items = Reminder.__table__, ReminderItem.__table__
    held_by_reminder = (
        select(reminder_items.c.invoice_id)
        .join(reminders, reminders.c.id == reminder_items.c.reminder_id)
        .where(
            reminder_items.c.invoice_id == invoices.c.id,
            or_(reminders.c.status.in_(HELD_STATUSES), and_(reminders.c.status == "scheduled", reminders.c.pinned)),
        )
        .exists()
    )
    # A running payment plan has its own reminders, per installment.
    arrangement_invoices, arrangements = ArrangementInvoice.__table__, Arrangement.__table__
    in_active_plan = (
        select(arrangement_invoices.c.invoice_id)
        .join(arrangements, arrangements.c.id == arrangement_invoices.c.arrangement_id)
        .where(arrangement_invoices.c.invoice_id == invoices.c.id, arrangements.c.status == "active")
        .exists()
    )
    return and_(
        invoices.c.organisation_id == organisation.id,
        invoices.c.kind == "invoice",
        invoices.c.status == "open",
        invoices.c.open_amount > 0,
        or_(debtors.c.hold_until.is_(None), debtors.c.hold_until < today),
        or_(invoices.c.hold_until.is_(None), invoices.c.hold_until < today),
        # A promise holds its invoices until the promised date plus the organisation's grace has passed (the
        # same as add_days(promised_on, grace) < today, but one constant to compare rather than a sum per row).
        or_(
            invoices.c.promised_on.is_(None),
            invoices.c.promised_on < today - timedelta(days=organisation.promise_grace_days),
        ),
        invoices.c.disputed_at.is_(None),
        ~held_by_reminder,
        ~in_active_plan,
    )
