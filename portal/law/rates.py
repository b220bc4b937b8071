"""Statutory interest rates with the dates they take effect, as published half-yearly (DOMAIN.md).

These are the seeds; an organisation's own copy (editable) comes with the late-payment settings and, once made,
is what ``rate_table`` reads. A rate applies from its date until the next one's.
"""

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.law.models import LawRate

# (from, percent a year)
NL_COMMERCIAL = [  # art. 6:119a BW, business debtors
    (date(2024, 1, 1), Decimal("12.50")),
    (date(2024, 7, 1), Decimal("12.25")),
    (date(2025, 1, 1), Decimal("11.15")),
    (date(2025, 7, 1), Decimal("10.15")),
    (date(2026, 1, 1), Decimal("10.15")),
]
NL_CONSUMER = [  # art. 6:119 BW, consumers
    (date(2024, 1, 1), Decimal("7")),
    (date(2024, 7, 1), Decimal("7")),
    (date(2025, 1, 1), Decimal("6")),
    (date(2025, 7, 1), Decimal("6")),
    (date(2026, 1, 1), Decimal("4")),
]
ECB_REFERENCE = [  # ECB main refinancing rate on the half-year's first day (Directive 2011/7/EU)
    (date(2024, 1, 1), Decimal("4.50")),
    (date(2024, 7, 1), Decimal("4.25")),
    (date(2025, 1, 1), Decimal("3.15")),
    (date(2025, 7, 1), Decimal("2.15")),
    (date(2026, 1, 1), Decimal("2.15")),
]
EU_MARGIN = Decimal("8")  # percentage points on top of the reference rate
EU_COMMERCIAL = [(day, rate + EU_MARGIN) for day, rate in ECB_REFERENCE]


def table(profile: str, kind: str) -> list[tuple[date, Decimal]]:
    """The seed table for a legal profile (nl, eu) and debtor kind (business, consumer); [] where none applies."""
    if profile == "nl":
        return NL_COMMERCIAL if kind == "business" else NL_CONSUMER
    if profile == "eu" and kind == "business":
        return EU_COMMERCIAL
    return []


SEEDS = {"nl_commercial": NL_COMMERCIAL, "nl_consumer": NL_CONSUMER, "ecb_reference": ECB_REFERENCE}


def rate_table(session: Session, organisation_id: int, name: str) -> list[tuple[date, Decimal]]:
    """The organisation's own copy of a rate table, or the published seeds while it has none."""
    rows = session.execute(
        select(LawRate.effective_on, LawRate.basis_points)
        .where(LawRate.organisation_id == organisation_id, LawRate.rate_table == name)
        .order_by(LawRate.effective_on)
    ).all()
    if not rows:
        return list(SEEDS[name])
    return [(day, Decimal(points) / 100) for day, points in rows]


def interest_rates(session: Session, organisation_id: int, profile: str, kind: str) -> list[tuple[date, Decimal]]:
    """The statutory rates for a profile and debtor kind: [] where no statutory interest applies."""
    if profile == "nl":
        return rate_table(session, organisation_id, "nl_commercial" if kind == "business" else "nl_consumer")
    if profile == "eu" and kind == "business":
        return [(day, rate + EU_MARGIN) for day, rate in rate_table(session, organisation_id, "ecb_reference")]
    return []
