"""What the supplier changes about the late-payment law: a debtor's waivers and the organisation's rate tables."""

from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import events
from portal.debtors.models import Debtor
from portal.errors import DomainError
from portal.events import EventKind
from portal.law.models import RATE_TABLES, LawRate
from portal.law.rates import SEEDS

PARTS = ("costs", "interest")
MAX_REASON = 300
MAX_RATE = Decimal("100")


class LawError(DomainError):
    """A change that cannot be made; the message is fit for the form."""


def _debtor(session: Session, organisation_id: int, debtor_id: int) -> Debtor:
    debtor = session.scalar(select(Debtor).where(Debtor.id == debtor_id, Debtor.organisation_id == organisation_id))
    if debtor is None:
        raise LawError("No such debtor.")
    return debtor


def _part(part: str) -> str:
    if part not in PARTS:
        raise LawError(f"Waive one of {', '.join(PARTS)}.")
    return part


def waive(
    session: Session, organisation_id: int, debtor_id: int, part: str, reason: str, actor_user_id: int | None
) -> Debtor:
    """Stop claiming collection costs or statutory interest from a debtor. The reason is required: a waiver is a
    concession someone may have to account for later. Waiving again replaces the reason."""
    debtor = _debtor(session, organisation_id, debtor_id)
    part = _part(part)
    reason = " ".join((reason or "").split())
    if not reason:
        raise LawError("Say why: a waiver needs a reason.")
    if len(reason) > MAX_REASON:
        raise LawError(f"A reason has at most {MAX_REASON} characters.")
    setattr(debtor, f"waive_{part}", True)
    setattr(debtor, f"waive_{part}_reason", reason)
    events.record(
        session,
        organisation_id,
        f"debtor:{part}:waived",
        debtor_id=debtor.id,
        actor_user_id=actor_user_id,
        reason=reason,
    )
    return debtor


def unwaive(
    session: Session, organisation_id: int, debtor_id: int, part: str, actor_user_id: int | None, reason: str = ""
) -> Debtor:
    """Claim costs or interest from the debtor again. Nothing happens (and nothing is recorded) when that part was
    not waived, so that a form sent twice leaves one line on the timeline."""
    debtor = _debtor(session, organisation_id, debtor_id)
    part = _part(part)
    if not getattr(debtor, f"waive_{part}"):
        return debtor
    # The timeline keeps what the waiver was for beside its undoing: the debtor's page forgets it.
    waived_for = getattr(debtor, f"waive_{part}_reason")
    reason = " ".join((reason or "").split())[:MAX_REASON]
    setattr(debtor, f"waive_{part}", False)
    setattr(debtor, f"waive_{part}_reason", "")
    events.record(
        session,
        organisation_id,
        f"debtor:{part}:claimed",
        debtor_id=debtor.id,
        actor_user_id=actor_user_id,
        reason=reason,
        waived_for=waived_for,
    )
    return debtor


def _table(table: str) -> str:
    if table not in RATE_TABLES:
        raise LawError(f"Rate table is one of {', '.join(RATE_TABLES)}.")
    return table


def own_rates(session: Session, organisation_id: int, table: str) -> list[LawRate]:
    """The organisation's own rows of a table, oldest first: [] while it uses the published seeds."""
    return list(
        session.scalars(
            select(LawRate)
            .where(LawRate.organisation_id == organisation_id, LawRate.rate_table == _table(table))
            .order_by(LawRate.effective_on)
        )
    )


def _copy_seeds(session: Session, organisation_id: int, table: str) -> None:
    """The first edit of a table starts from the published rates, so that adding one rate keeps the others."""
    has_own = session.scalar(
        select(func.count(LawRate.id)).where(LawRate.organisation_id == organisation_id, LawRate.rate_table == table)
    )
    if has_own:
        return
    for effective_on, rate in SEEDS[table]:
        session.add(
            LawRate(
                organisation_id=organisation_id,
                rate_table=table,
                effective_on=effective_on,
                basis_points=int(rate * 100),
            )
        )
    session.flush()


def check_rate(rate: Decimal) -> Decimal:
    """A yearly percentage from 0 to 100 in at most two decimals (the table stores hundredths of a percent)."""
    try:
        rate = Decimal(rate)
    except (InvalidOperation, TypeError, ValueError):
        raise LawError("A rate is a number, like 10.15.") from None
    if not rate.is_finite() or not Decimal(0) <= rate <= MAX_RATE:
        raise LawError(f"A rate is from 0 to {MAX_RATE}%.")
    if rate != rate.quantize(Decimal("0.01")):
        raise LawError("A rate has at most two decimals.")
    return rate


def add_rate(session: Session, organisation_id: int, table: str, effective_on: date, rate: Decimal) -> LawRate:
    """A rate in force from ``effective_on`` on; the published seeds are copied in first if this is the table's
    first edit. A second rate from the same day is refused."""
    table, rate = _table(table), check_rate(rate)
    _copy_seeds(session, organisation_id, table)
    taken = session.scalar(
        select(LawRate.id).where(
            LawRate.organisation_id == organisation_id,
            LawRate.rate_table == table,
            LawRate.effective_on == effective_on,
        )
    )
    if taken:
        raise LawError(f"There is already a rate from {effective_on.isoformat()}.")
    row = LawRate(
        organisation_id=organisation_id, rate_table=table, effective_on=effective_on, basis_points=int(rate * 100)
    )
    try:
        with session.begin_nested():  # a colleague adding the same day at the same moment: the constraint decides
            session.add(row)
    except IntegrityError:
        raise LawError(f"There is already a rate from {effective_on.isoformat()}.") from None
    events.record(
        session,
        organisation_id,
        EventKind.LAW_RATE_ADDED,
        table=table,
        effective_on=effective_on.isoformat(),
        rate=rate,
    )
    return row


def delete_rate(session: Session, organisation_id: int, rate_id: int) -> LawRate:
    """Remove one of the organisation's own rates. The last one stays: an empty table would fall back to the
    published seeds without anyone having asked for them."""
    row = session.scalar(select(LawRate).where(LawRate.id == rate_id, LawRate.organisation_id == organisation_id))
    if row is None:
        raise LawError("No such rate.")
    left = session.scalar(
        select(func.count(LawRate.id)).where(
            LawRate.organisation_id == organisation_id, LawRate.rate_table == row.rate_table
        )
    )
    if left <= 1:
        raise LawError("A table keeps at least one rate; add the new one before deleting this.")
    session.delete(row)
    session.flush()
    events.record(
        session,
        organisation_id,
        EventKind.LAW_RATE_DELETED,
        table=row.rate_table,
        effective_on=row.effective_on.isoformat(),
        rate=Decimal(row.basis_points) / 100,
    )
    return row
