"""Planning: for every debtor, the next contact and the invoices it covers, as a handful of set-based statements.

Each open invoice walks its debtor's scenario on its own (``Invoice.last_step``). Its next step falls due on the
step's anchor plus offset, not before the first day planning may use, moved to the next day a reminder may go out
(weekends and public holidays: the ``send_days`` calendar). A debtor's next contact is the earliest of those dates,
but not within ``min_gap_days`` of its last contact; it covers every invoice whose next step is due by then, in the
tone of the highest step among them. Planning keeps one unpinned scheduled reminder per debtor and kind and brings
it in line with that plan; what the supplier pinned, and what a worker holds, it leaves alone. Run twice, it
changes nothing the second time.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, case, delete, func, insert, literal, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import Date

from portal.arrangements.models import Arrangement, ArrangementInvoice
from portal.debtors.models import Debtor
from portal.invoices.models import Invoice
from portal.organisations.calendar import send_days
from portal.organisations.models import Organisation
from portal.reminders.models import (
    CONTACT_STATUSES,
    HELD_STATUSES,
    PlanDebtor,
    PlanRow,
    Reminder,
    ReminderItem,
    SendDay,
)
from portal.scenarios.defaults import default_scenario_id
from portal.scenarios.models import Step
from portal.types import UTCDateTime, utcnow

CALENDAR_DAYS = 400  # how far ahead planning looks; a step further out is planned when it comes into range


class add_days(FunctionElement):  # noqa: N801 - used like a SQL function
    """``date + n days`` in the database's own dialect (the two spell it differently)."""

    type = Date()
    inherit_cache = True


@compiles(add_days, "postgresql")
def _add_days_pg(element, compiler, **kw):
    day, days = list(element.clauses)
    return f"CAST(({compiler.process(day, **kw)}) + ({compiler.process(days, **kw)}) AS DATE)"


@compiles(add_days, "sqlite")
def _add_days_sqlite(element, compiler, **kw):
    day, days = list(element.clauses)
    return f"date({compiler.process(day, **kw)}, printf('%+d days', {compiler.process(days, **kw)}))"


@dataclass
class PlanResult:
    created: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.removed} removed, {self.unchanged} left alone"


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
        _analyze(session, SendDay.__table__)
    return key


def _lock(session: Session, organisation_id: int) -> None:
    """One planning run per organisation at a time: two clocks may both ring (RQ's cron has no leader)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(4243, :org)"), {"org": organisation_id})
    # SQLite: every transaction begins IMMEDIATE, which already makes writers take turns.


def candidates(
    session: Session, organisation: Organisation, today: date, first: date, calendar: str
) -> list[tuple[int, object]]:
    """(kind, SELECT) of every invoice's next step: (invoice, debtor, scenario, step position, due on)."""
    i, d, s, c = Invoice.__table__, Debtor.__table__, Step.__table__, SendDay.__table__
    r, ri = Reminder.__table__, ReminderItem.__table__
    default_id = default_scenario_id(session, organisation.id)
    override_active = and_(
        d.c.override_scenario_id.isnot(None), or_(d.c.override_until.is_(None), d.c.override_until >= today)
    )
    scenario = func.coalesce(case((override_active, d.c.override_scenario_id)), d.c.scenario_id, default_id)
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
    remindable = and_(
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


def plan(session: Session, organisation_id: int, *, today: date | None = None, first: date | None = None) -> PlanResult:
    """Bring the organisation's scheduled reminders in line with its open invoices. The caller commits."""
    organisation = session.get(Organisation, organisation_id)
    today = today or organisation.today()
    first = first or today
    _lock(session, organisation_id)
    calendar = ensure_calendar(session, organisation, first)
    pr, pd, c = PlanRow.__table__, PlanDebtor.__table__, SendDay.__table__
    r = Reminder.__table__
    org = organisation_id
    columns = ["organisation_id", "invoice_id", "debtor_id", "kind", "scenario_id", "step_position", "due_on"]
    session.execute(delete(pr).where(pr.c.organisation_id == org))
    session.execute(delete(pd).where(pd.c.organisation_id == org))
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        # The join to the next step goes through an expression PostgreSQL cannot estimate (it guesses a few dozen
        # rows of hundreds of thousands) and picks a nested loop of index lookups; hashing is six times faster.
        session.execute(text("SET LOCAL enable_nestloop = off"))
    for query in candidates(session, organisation, today, first, calendar):
        session.execute(insert(pr).from_select(columns, query))
    if postgres:
        session.execute(text("SET LOCAL enable_nestloop = on"))
    _analyze(session, pr)

    # Each debtor's next contact: its earliest step, not within the minimum gap of its last contact, on a day a
    # reminder may go out, at the opening of that day's send window (none beyond the calendar). It covers every
    # invoice whose next step is due by then, in the tone of the highest step among them. One INSERT computes all
    # of it: filling the table and then updating every row twice more rewrote each row (and its index entry)
    # three times.
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
    contact = (
        select(earliest.c.debtor_id, earliest.c.kind, earliest.c.scenario_id, c.c.send_on, c.c.send_at)
        .select_from(earliest)
        .outerjoin(contacted, contacted.c.debtor_id == earliest.c.debtor_id)
        .join(c, and_(c.c.calendar == calendar, c.c.day == wanted))
        .subquery()
    )
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
    _analyze(session, pd)
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

    result = _apply(session, org)
    session.execute(delete(pr).where(pr.c.organisation_id == org))
    session.execute(delete(pd).where(pd.c.organisation_id == org))
    return result


_PLANNED = "status = 'scheduled' AND NOT pinned"  # the predicate of ux_reminders_planned


def _insert(session: Session, table):
    """INSERT in the database's own dialect, for its ON CONFLICT DO NOTHING (both spell it the same way)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _analyze(session: Session, *tables) -> None:
    """Fresh statistics for tables this run just filled: PostgreSQL would otherwise plan the next statements for
    the empty tables autovacuum last saw."""
    if session.get_bind().dialect.name == "postgresql":
        for table in tables:
            session.execute(text(f"ANALYZE {table.name}"))


def _apply(session: Session, org: int) -> PlanResult:
    """Make the organisation's unpinned scheduled reminders match the plan; count what that took."""
    pr, pd = PlanRow.__table__, PlanDebtor.__table__
    r, ri = Reminder.__table__, ReminderItem.__table__
    planned = and_(r.c.organisation_id == org, r.c.status == "scheduled", ~r.c.pinned)
    same_debtor = and_(pd.c.organisation_id == org, pd.c.debtor_id == r.c.debtor_id, pd.c.kind == r.c.kind)
    fields_differ = or_(
        pd.c.send_on != r.c.send_on,
        pd.c.send_at != r.c.send_at,
        pd.c.step_position != r.c.step_position,
        func.coalesce(pd.c.scenario_id, 0) != func.coalesce(r.c.scenario_id, 0),
    )
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
    result = PlanResult()
    before = session.scalar(select(func.count()).select_from(r).where(planned))
    result.updated = session.scalar(
        select(func.count())
        .select_from(r)
        .where(planned, select(pd.c.debtor_id).where(same_debtor, fields_differ).exists() | stale_item | missing_item)
        .where(select(pd.c.debtor_id).where(same_debtor).exists())
    )
    result.removed = session.execute(
        delete(r).where(planned, ~select(pd.c.debtor_id).where(same_debtor).exists())
    ).rowcount
    now = utcnow()
    session.execute(
        update(r)
        .where(planned, same_debtor, fields_differ)
        .values(
            send_on=pd.c.send_on,
            send_at=pd.c.send_at,
            step_position=pd.c.step_position,
            scenario_id=pd.c.scenario_id,
            updated_at=now,
        )
    )
    # New debtors' reminders. The partial unique index (one unpinned scheduled reminder per debtor and kind) turns
    # away those that exist: an anti-join against the table being filled would rescan what it just wrote.
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
        _insert(session, r)
        .from_select(
            [
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
            ],
            new,
        )
        .on_conflict_do_nothing(index_elements=["debtor_id", "kind"], index_where=text(_PLANNED))
        .returning(r.c.id)
    ).all()
    result.created = len(created)
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
        _insert(session, ri)
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
    result.unchanged = before - result.removed - result.updated
    session.expire_all()
    return result
