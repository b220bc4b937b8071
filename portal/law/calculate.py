"""What a supplier may claim on a late invoice: collection costs and statutory interest.

Money is Decimal throughout; each interest period is rounded to the cent (half up) and the total is the sum of the
rounded periods, so that the lines a supplier checks add up to the total they see.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta

CENT = Decimal("0.01")
EU_MINIMUM = Decimal("40.00")  # Directive 2011/7/EU art. 6: per late invoice, business debtors
# Besluit vergoeding voor buitengerechtelijke incassokosten, art. 2: (band width, share); the rest at 0.5%.
WIK_BANDS = [
    (Decimal("2500"), Decimal("0.15")),
    (Decimal("2500"), Decimal("0.10")),
    (Decimal("5000"), Decimal("0.05")),
    (Decimal("190000"), Decimal("0.01")),
]
WIK_REST = Decimal("0.005")
WIK_MINIMUM, WIK_MAXIMUM = Decimal("40.00"), Decimal("6775.00")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class Costs:
    amount: Decimal  # what may be claimed, VAT included when added
    vat: Decimal
    why: str


def collection_costs(profile: str, kind: str, principal: Decimal, *, vat_rate: Decimal | None = None) -> Costs:
    """Costs for a principal (one invoice, or the invoices claimed together in one letter under WIK).

    nl: the WIK scale for business and consumer debtors alike (a consumer only after the 14-day letter, which the
    engine checks, not this sum); VAT on top (``vat_rate``, e.g. 21) only where the creditor cannot reclaim it.
    eu: EUR 40 per late invoice for business debtors; consumers: nothing (the Directive covers business debtors).
    """
    principal = Decimal(principal)
    if principal <= 0:
        return Costs(Decimal("0.00"), Decimal("0.00"), "nothing is owed")
    if profile == "eu":
        if kind != "business":
            return Costs(Decimal("0.00"), Decimal("0.00"), "the EU directive covers business debtors only")
        return Costs(EU_MINIMUM, Decimal("0.00"), "Directive 2011/7/EU: EUR 40 per late invoice")
    if profile != "nl":
        return Costs(Decimal("0.00"), Decimal("0.00"), "no legal profile")
    left, total = principal, Decimal("0")
    for width, share in WIK_BANDS:
        part = min(left, width)
        total += part * share
        left -= part
        if left <= 0:
            break
    total += max(left, Decimal("0")) * WIK_REST
    amount = min(max(_cents(total), WIK_MINIMUM), WIK_MAXIMUM)
    why = "WIK scale" + (" (minimum)" if amount == WIK_MINIMUM else " (maximum)" if amount == WIK_MAXIMUM else "")
    vat = _cents(amount * Decimal(vat_rate) / 100) if vat_rate else Decimal("0.00")
    return Costs(amount + vat, vat, why + (f" plus {vat_rate}% VAT" if vat_rate else ""))


@dataclass
class Period:
    start: date  # first day of interest
    end: date  # last day, included
    days: int
    rate: Decimal  # percent a year
    principal: Decimal  # what the interest ran on (after earlier years' interest was added)
    interest: Decimal  # rounded to the cent


@dataclass
class Interest:
    periods: list[Period]
    total: Decimal
    why: str = ""


def interest(
    rates: list[tuple[date, Decimal]],
    principal: Decimal,
    due: date,
    paid: date,
    *,
    compound: bool = True,
    reductions: list[tuple[date, Decimal]] = (),
) -> Interest:
    """Simple interest per day from the day after ``due`` up to and including ``paid``, at the rate in force each
    day, actual days / 365; with ``compound``, on each anniversary of the day interest started the interest of the
    year so far is added to the principal (art. 6:119 lid 2 and 6:119a lid 3 BW). One period per stretch with one
    rate and one principal.

    ``reductions`` are part payments of the principal (day received, amount): the amount earns interest up to and
    including that day, and no longer."""
    principal = Decimal(principal)
    start = due + timedelta(days=1)
    drops: dict[date, Decimal] = {}  # the first day a principal is smaller -> by how much
    for day, amount in reductions:
        first = max(day + timedelta(days=1), start)
        drops[first] = drops.get(first, Decimal("0")) + Decimal(amount)
    principal -= drops.pop(start, Decimal("0"))
    if paid < start or principal <= 0:
        return Interest([], Decimal("0.00"), "not late" if paid < start else "nothing is owed")
    if not rates:
        return Interest([], Decimal("0.00"), "no statutory interest applies")
    table = sorted(rates)
    if start < table[0][0]:
        raise ValueError(
            f"no rate known before {table[0][0].isoformat()}: add the rates of that time to the rate tables"
        )
    # The days a period must end before: rate changes and anniversaries.
    breaks = {day for day, _ in table if start < day <= paid} | {day for day in drops if day <= paid}
    years = 1
    while compound and (anniversary := start + relativedelta(years=years)) <= paid:
        breaks.add(anniversary)
        years += 1
    periods, accrued_this_year, total = [], Decimal("0"), Decimal("0")
    anniversaries = {start + relativedelta(years=n) for n in range(1, years)} if compound else set()
    current = start
    for boundary in sorted(breaks) + [paid + timedelta(days=1)]:
        if current in anniversaries:
            principal += accrued_this_year  # a year's interest now earns interest too
            accrued_this_year = Decimal("0")
        principal -= drops.get(current, Decimal("0"))
        end = boundary - timedelta(days=1)
        if end < current or principal <= 0:
            current = boundary
            continue
        rate = [r for day, r in table if day <= current][-1]
        days = (end - current).days + 1
        amount = _cents(principal * rate / 100 * days / 365)
        periods.append(Period(current, end, days, rate, principal, amount))
        accrued_this_year += amount
        total += amount
        current = boundary
    return Interest(periods, total)


def applies(profile: str, kind: str) -> bool:
    """Whether the profile lets anything be claimed from this kind of debtor (the EU's covers businesses only)."""
    return profile == "nl" or (profile == "eu" and kind == "business")


def why_none(profile: str, kind: str) -> str:
    """Why nothing may be claimed from this kind of debtor under the profile ("" when something may)."""
    if applies(profile, kind):
        return ""
    return "the EU directive covers business debtors only" if profile == "eu" else "no legal profile"


def received_on(organisation, sent_on: date, channel: str) -> date:
    """When a message counts as received: mail after calendar days, a letter after business days."""
    if channel != "letter":
        return sent_on + timedelta(days=organisation.receipt_days_email)
    day, left = sent_on, organisation.receipt_days_letter
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day
