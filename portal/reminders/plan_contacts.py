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
    pr, pd = PlanRow.__table__, PlanDebtor.__table__
    org = organisation.id
    contact = _next_contact(organisation, calendar)
    # One INSERT computes all of it: filling the table and then updating every row twice more rewrote each row (and
    # its index entry) three times.
    session.execute(
        insert(pd).from_select(
            ["organisation_id", "debtor_id", "kind", "scenario_id", "send_on", "send_at", "step_position"],
            select(
                literal(org),
                contact.c.debtor_id,
                contact.c.kind,
                contact.c.scenario_id,
                contact.c.send_on,
                contact.c.send_at,
                func.max(pr.c.step_position),
            )
            .select_from(contact)
            .join(
                pr,
                and_(
                    pr.c.organisation_id == org,
                    pr.c.debtor_id == contact.c.debtor_id,
                    pr.c.kind == contact.c.kind,
                    pr.c.due_on <= contact.c.send_on,
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
    analyze(session, pd)
    _drop_uncovered(session, org)


def _next_contact(organisation: Organisation, calendar: str):
    """(debtor, kind, scenario, send on, send at) of each debtor's next contact, as a subquery."""
    pr, c, r = PlanRow.__table__, SendDay.__table__, Reminder.__table__
    org = organisation.id
    earliest = (
        select(
            pr.c.debtor_id,
            pr.c.kind,
            func.max(pr.c.scenario_id).label("scenario_id"),
            func.min(pr.c.due_on).label("due_on"),
        )
        .where(pr.c.organisation_id == org)
        .group_by(pr.c.debtor_id, pr.c.kind)
        .subquery()
    )
    contacted = (
        select(r.c.debtor_id, func.max(r.c.send_on).label("last"))
        .where(
            r.c.organisation_id == org,
            r.c.kind == "reminder",
            or_(r.c.status.in_(CONTACT_STATUSES), and_(r.c.status == "scheduled", r.c.pinned)),
        )
        .group_by(r.c.debtor_id)
        .subquery()
    )
    gap_ends = add_days(contacted.c["last"], max(organisation.min_gap_days, 1))
    wanted = case(
        (and_(earliest.c.kind == "reminder", gap_ends > earliest.c.due_on), gap_ends), else_=earliest.c.due_on
    )
    return (
        select(earliest.c.debtor_id, earliest.c.kind, earliest.c.scenario_id, c.c.send_on, c.c.send_at)
        .select_from(earliest)
        .outerjoin(contacted, contacted.c.debtor_id == earliest.c.debtor_id)
        .join(c, and_(c.c.calendar == calendar, c.c.day == wanted))
        .subquery()
    )


def _drop_uncovered(session: Session, org: int) -> None:
    """The scratch rows of invoices whose next step is due after their debtor's next contact go: that contact
    does not remind of them."""
    pr, pd = PlanRow.__table__, PlanDebtor.__table__
    session.execute(
        delete(pr).where(
            pr.c.organisation_id == org,
            ~select(pd.c.debtor_id)
            .where(
                pd.c.organisation_id == org,
                pd.c.debtor_id == pr.c.debtor_id,
                pd.c.kind == pr.c.kind,
                pd.c.send_on >= pr.c.due_on,
            )
            .exists(),
        )
    )
