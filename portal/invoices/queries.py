"""Read-side queries for the cockpit's invoice lists, ageing and top debtors. Every one filters by organisation."""

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from portal.debtors.models import Debtor
from portal.invoices.models import Invoice
from portal.invoices.references import normalise

# (key, label, lowest and highest number of days past the due date; None = open-ended)
AGE_BUCKETS = (
    ("not_due", "Not yet due", None, 0),
    ("1_30", "1-30 days", 1, 30),
    ("31_60", "31-60 days", 31, 60),
    ("61_90", "61-90 days", 61, 90),
    ("91_plus", "91+ days", 91, None),
)
STATUS_FILTERS = ("open", "overdue", "paid", "credit_notes", "all")


def _age_condition(key: str, today: date):
    """Days past due as date comparisons, so that the due-date index serves them on both databases."""
    for bucket, _, low, high in AGE_BUCKETS:
        if bucket == key:
            if low is None:  # not yet due: due today or later
                return Invoice.due_date >= today
            condition = Invoice.due_date <= today - timedelta(days=low)
            if high is not None:
                condition = and_(condition, Invoice.due_date >= today - timedelta(days=high))
            return condition
    raise ValueError(f"unknown age bucket {key}")


def invoice_list(
    organisation_id: int,
    today: date,
    *,
    status: str = "open",
    age: str | None = None,
    q: str = "",
    debtor_id: int | None = None,
) -> Select:
    """Invoices of one organisation for a list: filtered, ordered by due date (credit notes by issue date)."""
    stmt = select(Invoice, Debtor.name).join(Debtor, Debtor.id == Invoice.debtor_id)
    stmt = stmt.where(Invoice.organisation_id == organisation_id)
    if status == "credit_notes":
        stmt = stmt.where(Invoice.kind == "credit_note").order_by(Invoice.issue_date.desc(), Invoice.id.desc())
    else:
        if status != "all":  # "all" holds credit notes too
            stmt = stmt.where(Invoice.kind == "invoice")
        if status == "open":
            stmt = stmt.where(Invoice.status == "open")
        elif status == "overdue":
            stmt = stmt.where(Invoice.status == "open", Invoice.due_date < today)
        elif status == "paid":
            stmt = stmt.where(Invoice.status == "paid")
        order = Invoice.due_date.desc() if status in ("paid", "all") else Invoice.due_date.asc()
        stmt = stmt.order_by(order, Invoice.id)
    if age:
        stmt = stmt.where(Invoice.status == "open", _age_condition(age, today))
    if debtor_id:
        stmt = stmt.where(Invoice.debtor_id == debtor_id)
    q = q.strip()
    if q:
        # Exact number or reference: both are indexed; a person searching types the whole thing or its start.
        stmt = stmt.where(
            or_(
                Invoice.number == q,
                Invoice.number.like(f"{_escape_like(q)}%", escape="\\"),
                Invoice.payment_reference == normalise(q),
            )
        )
    return stmt


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def ageing(session: Session, organisation_id: int, today: date) -> dict[str, list[tuple[str, str, Decimal, int]]]:
    """Open invoice amounts per currency in the five age buckets: {currency: [(key, label, amount, count)]}."""
    bucket = case(*[(_age_condition(key, today), key) for key, _, _, _ in AGE_BUCKETS], else_="not_due")
    rows = session.execute(
        select(Invoice.currency, bucket.label("bucket"), func.sum(Invoice.open_amount), func.count(Invoice.id))
        .where(Invoice.organisation_id == organisation_id, Invoice.kind == "invoice", Invoice.status == "open")
        .group_by(Invoice.currency, "bucket")
    ).all()
    found = {(currency, key): (amount, count) for currency, key, amount, count in rows}
    result: dict[str, list] = {}
    for currency in sorted({currency for currency, _ in found}):
        result[currency] = [
            (key, label, *found.get((currency, key), (Decimal("0.00"), 0))) for key, label, _, _ in AGE_BUCKETS
        ]
    return result


def top_debtors(session: Session, organisation_id: int, today: date, limit: int = 8) -> list:
    """The debtors owing most (per currency), with what of it is overdue."""
    overdue = func.sum(case((Invoice.due_date < today, Invoice.open_amount), else_=0))
    return session.execute(
        select(
            Debtor.id,
            Debtor.name,
            Invoice.currency,
            func.sum(Invoice.open_amount).label("open"),
            overdue.label("overdue"),
            func.count(Invoice.id).label("count"),
        )
        .join(Debtor, Debtor.id == Invoice.debtor_id)
        .where(Invoice.organisation_id == organisation_id, Invoice.kind == "invoice", Invoice.status == "open")
        .group_by(Debtor.id, Debtor.name, Invoice.currency)
        .order_by(func.sum(Invoice.open_amount).desc())
        .limit(limit)
    ).all()


def balances(session: Session, organisation_id: int, debtor_ids: list[int], today: date) -> dict[int, list]:
    """Open and overdue amounts per currency for a page of debtors: {debtor_id: [(currency, open, overdue)]}."""
    if not debtor_ids:
        return {}
    overdue = func.sum(case((Invoice.due_date < today, Invoice.open_amount), else_=0))
    rows = session.execute(
        select(Invoice.debtor_id, Invoice.currency, func.sum(Invoice.open_amount), overdue)
        .where(
            Invoice.organisation_id == organisation_id,
            Invoice.debtor_id.in_(debtor_ids),
            Invoice.kind == "invoice",
            Invoice.status == "open",
        )
        .group_by(Invoice.debtor_id, Invoice.currency)
    ).all()
    result: dict[int, list] = {}
    for debtor_id, currency, open_amount, overdue_amount in rows:
        result.setdefault(debtor_id, []).append((currency, open_amount, overdue_amount))
    return result
