"""Collection costs and statutory interest, against examples worked out by hand from the published rules and rates
(DOMAIN.md), and properties that must hold for any principal."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.law.calculate import collection_costs, interest
from portal.law.rates import EU_COMMERCIAL, NL_COMMERCIAL, NL_CONSUMER


@pytest.mark.parametrize(
    "principal, expected",
    [
        ("1000.00", "150.00"),  # 15% of 1,000
        ("266.00", "40.00"),  # 15% = 39.90: the minimum of 40
        ("2500.00", "375.00"),  # 15% of the first 2,500
        ("7500.00", "750.00"),  # 375 + 10% of 2,500 (250) + 5% of 2,500 (125)
        ("10000.00", "875.00"),  # 375 + 250 + 5% of 5,000 (250)
        ("200000.00", "2775.00"),  # 875 + 1% of 190,000 (1,900)
        ("1000000.00", "6775.00"),  # 2,775 + 0.5% of 800,000 (4,000) = 6,775: exactly the maximum
        ("2000000.00", "6775.00"),  # 11,775 by the scale: the maximum
        ("1234.56", "185.18"),  # 15% of 1,234.56 = 185.184
    ],
)
def test_dutch_collection_costs_follow_the_wik_scale(principal, expected):
    costs = collection_costs("nl", "business", Decimal(principal))
    assert costs.amount == Decimal(expected) and costs.vat == Decimal("0.00")


def test_vat_is_added_only_when_asked():
    costs = collection_costs("nl", "consumer", Decimal("1000.00"), vat_rate=Decimal("21"))
    assert (costs.amount, costs.vat) == (Decimal("181.50"), Decimal("31.50"))  # 150 + 21%


def test_eu_costs_are_forty_per_invoice_for_businesses_and_nothing_for_consumers():
    assert collection_costs("eu", "business", Decimal("10.00")).amount == Decimal("40.00")
    consumer = collection_costs("eu", "consumer", Decimal("5000.00"))
    assert consumer.amount == Decimal("0.00") and "business debtors only" in consumer.why


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("10000000"), places=2))
def test_costs_stay_between_the_minimum_and_maximum(principal):
    amount = collection_costs("nl", "business", principal).amount
    assert Decimal("40.00") <= amount <= Decimal("6775.00")


@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("2000000"), places=2),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2),
)
def test_costs_never_fall_when_the_principal_rises(principal, more):
    assert (
        collection_costs("nl", "business", principal + more).amount
        >= collection_costs("nl", "business", principal).amount
    )


def test_commercial_interest_for_thirty_days_in_one_period():
    # Due 31 January 2025, paid 2 March 2025: 1 February to 2 March inclusive = 30 days at 11.15%.
    # 1,000 x 11.15% x 30 / 365 = 9.1643... -> 9.16
    result = interest(NL_COMMERCIAL, Decimal("1000.00"), date(2025, 1, 31), date(2025, 3, 2))
    assert [(p.days, p.rate, p.interest) for p in result.periods] == [(30, Decimal("11.15"), Decimal("9.16"))]
    assert result.total == Decimal("9.16")


def test_interest_across_a_rate_change_has_a_line_per_rate():
    # Due 15 June 2025, paid 15 July 2025: 16-30 June 15 days at 11.15% (4.58219 -> 4.58), 1-15 July 15 days at
    # 10.15% (4.17123 -> 4.17); total 8.75.
    result = interest(NL_COMMERCIAL, Decimal("1000.00"), date(2025, 6, 15), date(2025, 7, 15))
    assert [(p.start, p.end, p.days, p.interest) for p in result.periods] == [
        (date(2025, 6, 16), date(2025, 6, 30), 15, Decimal("4.58")),
        (date(2025, 7, 1), date(2025, 7, 15), 15, Decimal("4.17")),
    ]
    assert result.total == Decimal("8.75")


def test_a_year_of_interest_earns_interest_after_the_anniversary():
    # Consumer rate, due 31 December 2024, paid 31 January 2026; interest from 1 January 2025.
    # 2025-01-01..06-30: 181 days at 6% on 1,000 = 29.75342 -> 29.75
    # 2025-07-01..12-31: 184 days at 6% = 30.24658 -> 30.25 (year one: 60.00)
    # 2026-01-01 (anniversary; also the rate change to 4%): principal 1,060.00
    # 2026-01-01..01-31: 31 days at 4% on 1,060 = 3.60110 -> 3.60; total 63.60
    result = interest(NL_CONSUMER, Decimal("1000.00"), date(2024, 12, 31), date(2026, 1, 31))
    assert [(p.days, p.rate, p.principal, p.interest) for p in result.periods] == [
        (181, Decimal("6"), Decimal("1000.00"), Decimal("29.75")),
        (184, Decimal("6"), Decimal("1000.00"), Decimal("30.25")),
        (31, Decimal("4"), Decimal("1060.00"), Decimal("3.60")),
    ]
    assert result.total == Decimal("63.60")


def test_eu_interest_is_the_reference_rate_plus_eight_points():
    # Due 31 March 2025, paid 30 April 2025: 30 days at 3.15 + 8 = 11.15%: 1,000 x 0.1115 x 30 / 365 = 9.16
    assert interest(EU_COMMERCIAL, Decimal("1000.00"), date(2025, 3, 31), date(2025, 4, 30)).total == Decimal("9.16")


def test_paid_on_time_is_no_interest():
    assert interest(NL_COMMERCIAL, Decimal("1000.00"), date(2025, 3, 31), date(2025, 3, 31)).total == Decimal("0.00")


@given(
    st.decimals(min_value=Decimal("1.00"), max_value=Decimal("100000"), places=2),
    st.dates(min_value=date(2024, 1, 1), max_value=date(2025, 6, 1)),
    st.integers(1, 300),
    st.integers(1, 60),
)
def test_interest_within_a_year_is_additive_over_periods(principal, due, first, second):
    """Within one compounding year, the interest up to a day and from it on add up to the whole, period by period
    (each line is that stretch's days at its rate on the same principal)."""
    paid = due + timedelta(days=first + second)
    if (paid - due).days > 365:
        return
    whole = interest(NL_COMMERCIAL, principal, due, paid)
    split_at = due + timedelta(days=first)
    before = interest(NL_COMMERCIAL, principal, due, split_at)
    after = interest(NL_COMMERCIAL, principal, split_at, paid)
    exact = sum(p.principal * p.rate / 100 * p.days / 365 for p in whole.periods)
    pieces = sum(p.principal * p.rate / 100 * p.days / 365 for p in before.periods + after.periods)
    assert abs(exact - pieces) < Decimal("1e-20")
    assert sum(p.days for p in before.periods + after.periods) == (paid - due).days
