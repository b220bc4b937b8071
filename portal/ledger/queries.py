"""Read-side queries for the cockpit's invoice lists, ageing and top debtors. Every one filters by organisation."""

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from portal.debtors.models import Debtor
from portal.invoices.models import Invoice
from portal.invoices.references import normalise
from portal.ledger.models import DebtorBalance, OpenInvoiceTotal

# (key, label, lowest and highest number of days past the due date; None = open-ended)
AGE_BUCKETS = (
    ("not_due", "Not yet due", None, 0),
    ("1_30", "1-30 days", 1, 30),
    ("31_60", "31-60 days", 31, 60),
    ("61_90", "61-90 days", 61, 90),
    ("91_plus", "91+ days", 91, None),
)
STATUS_FILTERS = ("open", "overdue", "paid", "credit_notes", "all")


def _age_condition(key: str, today: date, due_date=Invoice.due_date):
    """Days past due as date comparisons, so that the due-date index serves them on both databases."""
    for bucket, _, low, high in AGE_BUCKETS:
        if bucket == key:
            if low is None:  # not yet due: due today or later
                return due_date >= today
            condition = due_date <= today - timedelta(days=low)
            if high is not None:
                condition = and_(condition, due_date >= today - timedelta(days=high))
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


def _age_bucket(due_date, today: date):
    return case(*[(_age_condition(key, today, due_date), key) for key, _, _, _ in AGE_BUCKETS], else_="not_due")


def ageing(session: Session, organisation_id: int, today: date) -> dict[str, list[tuple[str, str, Decimal, int]]]:
    """Open invoice amounts per currency in the five age buckets: {currency: [(key, label, amount, count)]}.

    Read from the trigger-kept totals per due date: a few hundred rows however many invoices are open.
    """
    bucket = _age_bucket(OpenInvoiceTotal.due_date, today).label("bucket")
    rows = session.execute(
        select(
            OpenInvoiceTotal.currency,
            bucket,
            func.sum(OpenInvoiceTotal.open_amount),
            func.sum(OpenInvoiceTotal.invoice_count),
        )
        .where(OpenInvoiceTotal.organisation_id == organisation_id, OpenInvoiceTotal.invoice_count > 0)
        .group_by(OpenInvoiceTotal.currency, "bucket")
    ).all()
    found = {(currency, key): (amount, int(count)) for currency, key, amount, count in rows}
    result: dict[str, list] = {}
    for currency in sorted({currency for currency, _ in found}):
        result[currency] = [
            (key, label, *found.get((currency, key), (Decimal("0.00"), 0))) for key, label, _, _ in AGE_BUCKETS
        ]
    return result


def totals(ageing_by_currency: dict) -> dict[str, dict]:
    """Open and overdue amounts and counts per currency, from the ageing buckets."""
    result = {}
    for currency, buckets in ageing_by_currency.items():
        overdue = [b for b in buckets if b[0] != "not_due"]
        result[currency] = {
            "open": sum((b[2] for b in buckets), Decimal("0.00")),
            "open_count": sum(b[3] for b in buckets),
            "overdue": sum((b[2] for b in overdue), Decimal("0.00")),
            "overdue_count": sum(b[3] for b in overdue),
        }
    return result


def _overdue_by_debtor(session: Session, organisation_id: int, debtor_ids: list[int], today: date) -> dict:
    """Overdue amounts of a handful of debtors: {(debtor_id, currency): amount}."""
    rows = session.execute(
        select(Invoice.debtor_id, Invoice.currency, func.sum(Invoice.open_amount))
        .where(
            Invoice.organisation_id == organisation_id,
            Invoice.debtor_id.in_(debtor_ids),
            Invoice.kind == "invoice",
            Invoice.status == "open",
            Invoice.due_date < today,
        )
        .group_by(Invoice.debtor_id, Invoice.currency)
    ).all()
    return {(debtor_id, currency): amount for debtor_id, currency, amount in rows}


def top_debtors(
    session: Session, organisation_id: int, today: date, currencies: list[str], limit: int = 8
) -> list[dict]:
    """The debtors owing most in each currency, with what of it is overdue.

    One index range scan per currency on the trigger-kept balances (organisation, currency, open amount).
    """
    rows = []
    for currency in currencies:
        rows += session.execute(
            select(DebtorBalance, Debtor.name)
            .join(Debtor, Debtor.id == DebtorBalance.debtor_id)
            .where(DebtorBalance.organisation_id == organisation_id, DebtorBalance.currency == currency)
            .order_by(DebtorBalance.open_amount.desc())
            .limit(limit)
        ).all()
    rows = [(balance, name) for balance, name in rows if balance.invoice_count > 0]
    overdue = _overdue_by_debtor(session, organisation_id, [b.debtor_id for b, _ in rows], today)
    return [
        {
            "id": balance.debtor_id,
            "name": name,
            "currency": balance.currency,
            "open": balance.open_amount,
            "overdue": overdue.get((balance.debtor_id, balance.currency), Decimal("0.00")),
            "count": balance.invoice_count,
        }
        for balance, name in rows
    ]


def balances(session: Session, organisation_id: int, debtor_ids: list[int], today: date) -> dict[int, list]:
    """Open and overdue amounts per currency for a page of debtors: {debtor_id: [(currency, open, overdue)]}."""
    if not debtor_ids:
        return {}
    rows = session.scalars(
        select(DebtorBalance).where(
            DebtorBalance.organisation_id == organisation_id,
            DebtorBalance.debtor_id.in_(debtor_ids),
            DebtorBalance.invoice_count > 0,
        )
    ).all()
    overdue = _overdue_by_debtor(session, organisation_id, debtor_ids, today)
    result: dict[int, list] = {}
    for balance in sorted(rows, key=lambda b: b.currency):
        result.setdefault(balance.debtor_id, []).append(
            (balance.currency, balance.open_amount, overdue.get((balance.debtor_id, balance.currency), Decimal("0.00")))
        )
    return result
