"""Planning: for every debtor, the next contact and the invoices it covers, as a handful of set-based statements.

Each open invoice walks its debtor's scenario on its own (``Invoice.last_step``). Its next step falls due on the
step's anchor plus offset, not before the first day planning may use, moved to the next day a reminder may go out
(weekends and public holidays: the ``send_days`` calendar). A debtor's next contact is the earliest of those dates,
but not within ``min_gap_days`` of its last contact; it covers every invoice whose next step is due by then, in the
tone of the highest step among them. Planning keeps one unpinned scheduled reminder per debtor and kind and brings
it in line with that plan; what the supplier pinned, and what a worker holds, it leaves alone. Run twice, it
changes nothing the second time.

The steps live beside this module: plan_steps (each invoice's next step), plan_contacts (each debtor's next
contact), plan_apply (the reminders brought in line), plan_sql (what their statements share).
"""

from datetime import date, timedelta

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from portal.organisations.calendar import send_days
from portal.organisations.models import Organisation
from portal.reminders.models import PlanDebtor, PlanRow, SendDay
from portal.reminders.plan_apply import PlanResult, apply_plan
from portal.reminders.plan_contacts import stage_contacts
from portal.reminders.plan_sql import analyze
from portal.reminders.plan_steps import stage_steps

CALENDAR_DAYS = 400  # how far ahead planning looks; a step further out is planned when it comes into range


def calendar_key(organisation: Organisation) -> str:
    days = "weekdays" if organisation.business_days_only else "all"
    return f"{organisation.holiday_country}:{days}:{organisation.timezone}:{organisation.send_hour}"


def ensure_calendar(session: Session, organisation: Organisation, first: date) -> str:
    """Fill the organisation's calendar from ``first`` for CALENDAR_DAYS; returns its key."""
    key = calendar_key(organisation)
    last = first + timedelta(days=CALENDAR_DAYS)
    have = session.scalar(
        select(func.count()).where(SendDay.calendar == key, SendDay.day >= first, SendDay.day <= last)
    )
    if have == CALENDAR_DAYS + 1:
        return key
    known = set(session.scalars(select(SendDay.day).where(SendDay.calendar == key, SendDay.day >= first)))
    rows = [
        {"calendar": key, "day": day, "send_on": on, "send_at": at}
        for day, on, at in send_days(organisation, first, last)
        if day not in known
    ]
    if rows:
        session.execute(insert(SendDay), rows)
        analyze(session, SendDay.__table__)
    return key


def _lock(session: Session, organisation_id: int) -> None:
    """One planning run per organisation at a time: two clocks may both ring (RQ's cron has no leader)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(4243, :org)"), {"org": organisation_id})
    # SQLite: every transaction begins IMMEDIATE, which already makes writers take turns.


def plan(session: Session, organisation_id: int, *, today: date | None = None, first: date | None = None) -> PlanResult:
    """Bring the organisation's scheduled reminders in line with its open invoices. The caller commits."""
    organisation = session.get(Organisation, organisation_id)
    today = today or organisation.today()
    first = first or today
    _lock(session, organisation_id)
    calendar = ensure_calendar(session, organisation, first)
    _clear_scratch(session, organisation_id)
    stage_steps(session, organisation, today, first, calendar)
    stage_contacts(session, organisation, calendar)
    result = apply_plan(session, organisation_id)
    _clear_scratch(session, organisation_id)
    return result


def _clear_scratch(session: Session, organisation_id: int) -> None:
    """Scratch rows are the run's own: none from an earlier run count, none outlive this one."""
    plan_rows, plan_debtors = PlanRow.__table__, PlanDebtor.__table__
    session.execute(delete(plan_rows).where(plan_rows.c.organisation_id == organisation_id))
    session.execute(delete(plan_debtors).where(plan_debtors.c.organisation_id == organisation_id))
