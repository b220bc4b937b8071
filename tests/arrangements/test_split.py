"""Installments sum exactly to the plan's total and differ by at most one cent; due dates do not drift."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.arrangements.split import due_dates, split

CENT = Decimal("0.01")
MINIMUM = Decimal("25.00")  # the organisations' default smallest installment


@st.composite
def totals_and_counts(draw):
    """Any total up to 10^9 in cents and 1 to 60 installments, with the total at least count x the minimum."""
    count = draw(st.integers(1, 60))
    cents = draw(st.integers(int(MINIMUM * 100) * count, 10**9 * 100))
    return Decimal(cents) * CENT, count


@given(totals_and_counts())
def test_parts_sum_to_the_total_and_differ_by_at_most_a_cent(case):
    total, count = case
    parts = split(total, count)
    assert len(parts) == count
    assert sum(parts, Decimal("0")) == total
    assert max(parts) - min(parts) <= CENT
    assert min(parts) >= MINIMUM
    assert all(p == p.quantize(CENT) for p in parts)
    assert parts == sorted(parts, reverse=True)  # the cents left over go to the first installments


def test_a_worked_example():
    # 100.00 in 3: 33.33 x 3 = 99.99, one cent left over for the first installment.
    assert split(Decimal("100.00"), 3) == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert split(Decimal("0.05"), 5) == [CENT] * 5


@pytest.mark.parametrize("total, count", [(Decimal("0.04"), 5), (Decimal("10.001"), 2), (Decimal("10.00"), 0)])
def test_impossible_splits_are_refused(total, count):
    with pytest.raises(ValueError):
        split(total, count)


def test_monthly_dates_keep_their_day_and_end_of_month():
    assert due_dates(date(2027, 1, 31), 4, "monthly") == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
    ]
    assert due_dates(date(2027, 1, 5), 3, "weekly") == [date(2027, 1, 5), date(2027, 1, 12), date(2027, 1, 19)]
