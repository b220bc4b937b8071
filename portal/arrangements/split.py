"""Splitting a total into installments to the cent, and their due dates."""

from datetime import date, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta

CENT = Decimal("0.01")


def split(total: Decimal, count: int) -> list[Decimal]:
    """``total`` in ``count`` parts that sum to it exactly and differ by at most one cent.

    Largest remainder with equal shares: every part gets the whole cents of total / count, and the cents left
    over (fewer than ``count``) go one each to the first parts, so the larger installments come first.
    """
    if count < 1:
        raise ValueError("at least one installment")
    cents = int((total / CENT).to_integral_value())
    if Decimal(cents) * CENT != total:
        raise ValueError(f"an amount in cents: {total}")
    if cents < count:
        raise ValueError("less than a cent per installment")
    share, left_over = divmod(cents, count)
    return [(Decimal(share + (1 if n < left_over else 0)) * CENT).quantize(CENT) for n in range(count)]


def due_dates(first: date, count: int, frequency: str) -> list[date]:
    """Weekly: every 7 days. Monthly: the same day of each month, or the month's last day when it has fewer
    (31 January, 28 February, 31 March: counted from the first date, so the day does not drift)."""
    if frequency == "weekly":
        return [first + timedelta(weeks=n) for n in range(count)]
    if frequency == "monthly":
        return [first + relativedelta(months=n) for n in range(count)]
    raise ValueError(f"unknown frequency {frequency!r}")
