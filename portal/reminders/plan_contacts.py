"""Planning's second step: each debtor's next contact (``PlanDebtor``), from the scratch rows of its invoices' next
steps, and those rows cut down to the invoices the contact covers."""

from sqlalchemy import and_, case, delete, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from portal.organisations.models import Organisation
from portal.reminders.models import CONTACT_STATUSES, PlanDebtor, PlanRow, Reminder, SendDay
from portal.reminders.plan_sql import add_days, analyze


def stage_contacts(session: Session, organisation: Organisation, calendar: str) -> None:
    """Each debtor's next contact: its earliest step, not within the minimum gap of its last contact, on a day a
    reminder may go out, at the opening of that day's send window (none beyond the calendar). It covers every
    invoice whose next step is due by then, in the tone of the highest step among them; the scratch rows of the
    invoices it does not cover are removed."""
    plan_rows, plan_debtors = PlanRow.__table__, PlanDebtor.__table__
    org = organisation.id
    contact = _next_contact(organisation, calendar)
    # One INSERT computes all of it: filling the table and then updating every row twice more rewrote each row (and
    # its index entry) three times.
    session.execute(
        insert(plan_debtors).from_select(
            ["organisation_id", "debtor_id", "kind", "scenario_id", "send_on", "send_at", "step_position"],
            select(
                literal(org),
                contact.c.debtor_id,
                contact.c.kind,
                contact.c.scenario_id,
                contact.c.send_on,
                contact.c.send_at,
                func.max(plan_rows.c.step_position),
            )
            .select_from(contact)
            .join(
                plan_rows,
                and_(
                    plan_rows.c.organisation_id == org,
                    plan_rows.c.debtor_id == contact.c.debtor_id,
                    plan_rows.c.kind == contact.c.kind,
                    plan_rows.c.due_on <= contact.c.send_on,
                ),
            )
            .group_by(
                contact.c.debtor_id,
                contact.c.kind,
                contact.c.scenario_id,
                contact.c.send_on,
                contact.c.send_at,
            ),
        )
    )
    analyze(session, plan_debtors)
    _drop_uncovered(session, org)


def _next_contact(organisation: Organisation, calendar: str):
    """(debtor, kind, scenario, send on, send at) of each debtor's next contact, as a subquery."""
    plan_rows, send_days, reminders = PlanRow.__table__, SendDay.__table__, Reminder.__table__
    org = organisation.id
    earliest = (
        select(
            plan_rows.c.debtor_id,
            plan_rows.c.kind,
            func.max(plan_rows.c.scenario_id).label("scenario_id"),
            func.min(plan_rows.c.due_on).label("due_on"),
        )
        .where(plan_rows.c.organisation_id == org)
        .group_by(plan_rows.c.debtor_id, plan_rows.c.kind)
        .subquery()
    )
    contacted = (
        select(reminders.c.debtor_id, func.max(reminders.c.send_on).label("last"))
        .where(
            reminders.c.organisation_id == org,
            reminders.c.kind == "reminder",
            or_(reminders.c.status.in_(CONTACT_STATUSES), and_(reminders.c.status == "scheduled", reminders.c.pinned)),
        )
        .group_by(reminders.c.debtor_id)
        .subquery()
    )
    gap_ends = add_days(contacted.c["last"], max(organisation.min_gap_days, 1))
    wanted = case(
        (and_(earliest.c.kind == "reminder", gap_ends > earliest.c.due_on), gap_ends), else_=earliest.c.due_on
    )
    return (
        select(earliest.c.debtor_id, earliest.c.kind, earliest.c.scenario_id, send_days.c.send_on, send_days.c.send_at)
        .select_from(earliest)
        .outerjoin(contacted, contacted.c.debtor_id == earliest.c.debtor_id)
        .join(send_days, and_(send_days.c.calendar == calendar, send_days.c.day == wanted))
        .subquery()
    )


def _drop_uncovered(session: Session, org: int) -> None:
    """The scratch rows of invoices whose next step is due after their debtor's next contact go: that contact
    does not remind of them."""
    plan_rows, plan_debtors = PlanRow.__table__, PlanDebtor.__table__
    session.execute(
        delete(plan_rows).where(
            plan_rows.c.organisation_id == org,
            ~select(plan_debtors.c.debtor_id)
            .where(
                plan_debtors.c.organisation_id == org,
                plan_debtors.c.debtor_id == plan_rows.c.debtor_id,
                plan_debtors.c.kind == plan_rows.c.kind,
                plan_debtors.c.send_on >= plan_rows.c.due_on,
            )
            .exists(),
        )
    )
