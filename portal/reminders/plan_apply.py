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
    plan_debtors, reminders = PlanDebtor.__table__, Reminder.__table__
    return _Match(
        planned=and_(reminders.c.organisation_id == org, reminders.c.status == "scheduled", ~reminders.c.pinned),
        same_debtor=and_(
            plan_debtors.c.organisation_id == org,
            plan_debtors.c.debtor_id == reminders.c.debtor_id,
            plan_debtors.c.kind == reminders.c.kind,
        ),
        fields_differ=or_(
            plan_debtors.c.send_on != reminders.c.send_on,
            plan_debtors.c.send_at != reminders.c.send_at,
            plan_debtors.c.step_position != reminders.c.step_position,
            func.coalesce(plan_debtors.c.scenario_id, 0) != func.coalesce(reminders.c.scenario_id, 0),
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
    plan_debtors, reminders = PlanDebtor.__table__, Reminder.__table__
    return session.execute(
        delete(reminders).where(match.planned, ~select(plan_debtors.c.debtor_id).where(match.same_debtor).exists())
    ).rowcount


def _update_changed(session: Session, match: _Match, now: datetime) -> None:
    """The planned reminders whose contact moved, or changed step or scenario, take the plan's."""
    plan_debtors, reminders = PlanDebtor.__table__, Reminder.__table__
    session.execute(
        update(reminders)
        .where(match.planned, match.same_debtor, match.fields_differ)
        .values(
            send_on=plan_debtors.c.send_on,
            send_at=plan_debtors.c.send_at,
            step_position=plan_debtors.c.step_position,
            scenario_id=plan_debtors.c.scenario_id,
            updated_at=now,
        )
    )


def _count_changed(session: Session, org: int, match: _Match) -> int:
    """The planned reminders that stay but change: another day, time, step or scenario, or other invoices."""
    plan_rows, plan_debtors = PlanRow.__table__, PlanDebtor.__table__
    reminders, reminder_items = Reminder.__table__, ReminderItem.__table__
    item_planned = (
        select(plan_rows.c.invoice_id)
        .where(
            plan_rows.c.organisation_id == org,
            plan_rows.c.invoice_id == reminder_items.c.invoice_id,
            plan_rows.c.step_position == reminder_items.c.step_position,
            plan_rows.c.debtor_id == reminders.c.debtor_id,
            plan_rows.c.kind == reminders.c.kind,
        )
        .correlate(reminder_items, reminders)
        .exists()
    )
    stale_item = (
        select(reminder_items.c.invoice_id)
        .where(reminder_items.c.reminder_id == reminders.c.id, ~item_planned)
        .correlate(reminders)
        .exists()
    )
    missing_item = (
        select(plan_rows.c.invoice_id)
        .where(
            plan_rows.c.organisation_id == org,
            plan_rows.c.debtor_id == reminders.c.debtor_id,
            plan_rows.c.kind == reminders.c.kind,
            ~select(reminder_items.c.invoice_id)
            .where(
                reminder_items.c.reminder_id == reminders.c.id, reminder_items.c.invoice_id == plan_rows.c.invoice_id
            )
            .correlate(reminders, plan_rows)
            .exists(),
        )
        .correlate(reminders)
        .exists()
    )
    changed = (
        select(plan_debtors.c.debtor_id).where(match.same_debtor, match.fields_differ).exists()
        | stale_item
        | missing_item
    )
    return session.scalar(
        select(func.count())
        .select_from(reminders)
        .where(match.planned, changed)
        .where(select(plan_debtors.c.debtor_id).where(match.same_debtor).exists())
    )


def _create_new(session: Session, org: int, now: datetime) -> int:
    """New debtors' reminders; returns how many. The partial unique index (one unpinned scheduled reminder per
    debtor and kind) turns away those that exist: an anti-join against the table being filled would rescan what it
    just wrote."""
    plan_debtors, reminders = PlanDebtor.__table__, Reminder.__table__
    # In debtor order: the foreign key's lookups and the two indexes that start with the debtor then go in order.
    new = (
        select(
            literal(org),
            plan_debtors.c.debtor_id,
            plan_debtors.c.kind,
            plan_debtors.c.scenario_id,
            plan_debtors.c.step_position,
            plan_debtors.c.send_on,
            plan_debtors.c.send_at,
        )
        .where(plan_debtors.c.organisation_id == org)
        .order_by(plan_debtors.c.debtor_id, plan_debtors.c.kind)
    )
    stamp = literal(now, UTCDateTime())
    new = new.add_columns(literal("scheduled"), literal(False), literal(""), literal(""), literal(0), stamp, stamp)
    created = session.execute(
        dialect_insert(session, reminders)
        .from_select(_REMINDER_COLUMNS, new)
        .on_conflict_do_nothing(index_elements=["debtor_id", "kind"], index_where=text(_PLANNED))
        .returning(reminders.c.id)
    ).all()
    return len(created)


def _bring_items_in_line(session: Session, org: int, planned) -> None:
    """The planned reminders' invoices: those no longer planned at their step go, the newly planned come in."""
    plan_rows, reminders, reminder_items = PlanRow.__table__, Reminder.__table__, ReminderItem.__table__
    session.execute(
        delete(reminder_items).where(
            reminder_items.c.reminder_id.in_(select(reminders.c.id).where(planned)),
            ~select(plan_rows.c.invoice_id)
            .where(
                plan_rows.c.organisation_id == org,
                plan_rows.c.invoice_id == reminder_items.c.invoice_id,
                plan_rows.c.step_position == reminder_items.c.step_position,
            )
            .exists(),
        )
    )
    session.execute(
        dialect_insert(session, reminder_items)
        .from_select(
            ["reminder_id", "invoice_id", "step_position", "dropped"],
            select(reminders.c.id, plan_rows.c.invoice_id, plan_rows.c.step_position, literal(""))
            .select_from(plan_rows)
            .join(
                reminders,
                and_(planned, reminders.c.debtor_id == plan_rows.c.debtor_id, reminders.c.kind == plan_rows.c.kind),
            )
            .where(plan_rows.c.organisation_id == org)
            # In invoice order: the foreign key locks each invoice, and then walks the invoices' pages in order
            # rather than jumping between them (a fifth faster on the bench's first run, when every item is new).
            .order_by(plan_rows.c.invoice_id),
        )
        .on_conflict_do_nothing(index_elements=["reminder_id", "invoice_id"])  # items already there stay
    )
