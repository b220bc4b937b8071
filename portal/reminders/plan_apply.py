"""Planning's last step: the organisation's unpinned scheduled reminders made to match the plan (the scratch
``PlanDebtor`` and ``PlanRow`` rows), created, updated, removed or left alone, and counted. What the supplier
pinned, and what a worker holds, is left alone."""

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, delete, func, literal, or_, select, text, update
from sqlalchemy.orm import Session

from portal.reminders.models import PlanDebtor, PlanRow, Reminder, ReminderItem
from portal.reminders.plan_sql import dialect_insert
from portal.types import UTCDateTime, utcnow

_PLANNED = "status = 'scheduled' AND NOT pinned"  # the predicate of ux_reminders_planned
_REMINDER_COLUMNS = [
    "organisation_id",
    "debtor_id",
    "kind",
    "scenario_id",
    "step_position",
    "send_on",
    "send_at",
    "status",
    "pinned",
    "reason",
    "todo",
    "attempts",
    "created_at",
    "updated_at",
]


@dataclass
class PlanResult:
    created: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.removed} removed, {self.unchanged} left alone"


class _Match(NamedTuple):
    """Conditions the statements share, built once: a statement that uses one twice binds its value once."""

    planned: object  # the organisation's unpinned scheduled reminders
    same_debtor: object  # the debtor's planned contact, of the reminder's kind
    fields_differ: object  # ... planned for another day, time, step or scenario than the reminder has


def _match(org: int) -> _Match:
    pd, r = PlanDebtor.__table__, Reminder.__table__
    return _Match(
        planned=and_(r.c.organisation_id == org, r.c.status == "scheduled", ~r.c.pinned),
        same_debtor=and_(pd.c.organisation_id == org, pd.c.debtor_id == r.c.debtor_id, pd.c.kind == r.c.kind),
        fields_differ=or_(
            pd.c.send_on != r.c.send_on,
            pd.c.send_at != r.c.send_at,
            pd.c.step_position != r.c.step_position,
            func.coalesce(pd.c.scenario_id, 0) != func.coalesce(r.c.scenario_id, 0),
        ),
    )


def apply_plan(session: Session, org: int) -> PlanResult:
    """Make the organisation's unpinned scheduled reminders match the plan; count what that took."""
    match = _match(org)
    result = PlanResult()
    before = session.scalar(select(func.count()).select_from(Reminder.__table__).where(match.planned))
    result.updated = _count_changed(session, org, match)
    result.removed = _remove_unplanned(session, match)
    now = utcnow()
    _update_changed(session, match, now)
    result.created = _create_new(session, org, now)
    _bring_items_in_line(session, org, match.planned)
    result.unchanged = before - result.removed - result.updated
    session.expire_all()
    return result


def _remove_unplanned(session: Session, match: _Match) -> int:
    """The planned reminders of debtors with no contact planned go; returns how many."""
    pd, r = PlanDebtor.__table__, Reminder.__table__
    return session.execute(
        delete(r).where(match.planned, ~select(pd.c.debtor_id).where(match.same_debtor).exists())
    ).rowcount


def _update_changed(session: Session, match: _Match, now: datetime) -> None:
    """The planned reminders whose contact moved, or changed step or scenario, take the plan's."""
    pd, r = PlanDebtor.__table__, Reminder.__table__
    session.execute(
        update(r)
        .where(match.planned, match.same_debtor, match.fields_differ)
        .values(
            send_on=pd.c.send_on,
            send_at=pd.c.send_at,
            step_position=pd.c.step_position,
            scenario_id=pd.c.scenario_id,
            updated_at=now,
        )
    )


def _count_changed(session: Session, org: int, match: _Match) -> int:
    """The planned reminders that stay but change: another day, time, step or scenario, or other invoices."""
    pr, pd = PlanRow.__table__, PlanDebtor.__table__
    r, ri = Reminder.__table__, ReminderItem.__table__
    item_planned = (
        select(pr.c.invoice_id)
        .where(
            pr.c.organisation_id == org,
            pr.c.invoice_id == ri.c.invoice_id,
            pr.c.step_position == ri.c.step_position,
            pr.c.debtor_id == r.c.debtor_id,
            pr.c.kind == r.c.kind,
        )
        .correlate(ri, r)
        .exists()
    )
    stale_item = select(ri.c.invoice_id).where(ri.c.reminder_id == r.c.id, ~item_planned).correlate(r).exists()
    missing_item = (
        select(pr.c.invoice_id)
        .where(
            pr.c.organisation_id == org,
            pr.c.debtor_id == r.c.debtor_id,
            pr.c.kind == r.c.kind,
            ~select(ri.c.invoice_id)
            .where(ri.c.reminder_id == r.c.id, ri.c.invoice_id == pr.c.invoice_id)
            .correlate(r, pr)
            .exists(),
        )
        .correlate(r)
        .exists()
    )
    changed = select(pd.c.debtor_id).where(match.same_debtor, match.fields_differ).exists() | stale_item | missing_item
    return session.scalar(
        select(func.count())
        .select_from(r)
        .where(match.planned, changed)
        .where(select(pd.c.debtor_id).where(match.same_debtor).exists())
    )


def _create_new(session: Session, org: int, now: datetime) -> int:
    """New debtors' reminders; returns how many. The partial unique index (one unpinned scheduled reminder per
    debtor and kind) turns away those that exist: an anti-join against the table being filled would rescan what it
    just wrote."""
    pd, r = PlanDebtor.__table__, Reminder.__table__
    # In debtor order: the foreign key's lookups and the two indexes that start with the debtor then go in order.
    new = (
        select(
            literal(org), pd.c.debtor_id, pd.c.kind, pd.c.scenario_id, pd.c.step_position, pd.c.send_on, pd.c.send_at
        )
        .where(pd.c.organisation_id == org)
        .order_by(pd.c.debtor_id, pd.c.kind)
    )
    stamp = literal(now, UTCDateTime())
    new = new.add_columns(literal("scheduled"), literal(False), literal(""), literal(""), literal(0), stamp, stamp)
    created = session.execute(
        dialect_insert(session, r)
        .from_select(_REMINDER_COLUMNS, new)
        .on_conflict_do_nothing(index_elements=["debtor_id", "kind"], index_where=text(_PLANNED))
        .returning(r.c.id)
    ).all()
    return len(created)


def _bring_items_in_line(session: Session, org: int, planned) -> None:
    """The planned reminders' invoices: those no longer planned at their step go, the newly planned come in."""
    pr, r, ri = PlanRow.__table__, Reminder.__table__, ReminderItem.__table__
    session.execute(
        delete(ri).where(
            ri.c.reminder_id.in_(select(r.c.id).where(planned)),
            ~select(pr.c.invoice_id)
            .where(
                pr.c.organisation_id == org,
                pr.c.invoice_id == ri.c.invoice_id,
                pr.c.step_position == ri.c.step_position,
            )
            .exists(),
        )
    )
    session.execute(
        dialect_insert(session, ri)
        .from_select(
            ["reminder_id", "invoice_id", "step_position", "dropped"],
            select(r.c.id, pr.c.invoice_id, pr.c.step_position, literal(""))
            .select_from(pr)
            .join(r, and_(planned, r.c.debtor_id == pr.c.debtor_id, r.c.kind == pr.c.kind))
            .where(pr.c.organisation_id == org)
            # In invoice order: the foreign key locks each invoice, and then walks the invoices' pages in order
            # rather than jumping between them (a fifth faster on the bench's first run, when every item is new).
            .order_by(pr.c.invoice_id),
        )
        .on_conflict_do_nothing(index_elements=["reminder_id", "invoice_id"])  # items already there stay
    )
