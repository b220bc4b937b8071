"""Decimal helpers and the one rounding policy. Money is never a float."""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import is_currency

from portal.errors import DomainError

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("999999999999.99")  # what NUMERIC(14, 2) holds


class MoneyError(DomainError):
    pass


def round_money(value: Decimal) -> Decimal:
    """Commercial rounding (half up) to cents: the one place Duly rounds."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def parse_amount(text: str | Decimal | int, *, allow_negative: bool = False) -> Decimal:
    """Read an amount a person typed or a file carried; refuse anything that is not exactly cents."""
    if isinstance(text, float):
        raise MoneyError("amounts are never floats")
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise MoneyError(f"not an amount: {text!r}") from None
    if not value.is_finite() or "e" in str(text).lower():
        raise MoneyError(f"not an amount: {text!r}")
    if abs(value) > MAX_AMOUNT:  # before quantize(), which cannot hold a number this large
        raise MoneyError(f"too large: {text}")
    if value != value.quantize(CENT):
        raise MoneyError(f"at most two decimals: {text}")
    if value < 0 and not allow_negative:
        raise MoneyError(f"must not be negative: {text}")
    if abs(value) > MAX_AMOUNT:
        raise MoneyError(f"too large: {text}")
    return value.quantize(CENT)


def sum_by_currency(rows) -> dict[str, Decimal]:
    """Totals per currency from (currency, amount) pairs: amounts in different currencies never add up."""
    totals: dict[str, Decimal] = {}
    for currency, amount in rows:
        totals[currency] = totals.get(currency, ZERO) + (amount or ZERO)
    return dict(sorted(totals.items()))


def parse_typed_amount(text: str, *, allow_negative: bool = False) -> Decimal:
    """An amount as people type it: "1234.56", "1234,56" or "1.234,56" (a comma is the decimal sign)."""
    text = (text or "").strip().replace(" ", "").replace("\u00a0", "").removeprefix("€")
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    return parse_amount(text, allow_negative=allow_negative)


def is_currency_code(code: str) -> bool:
    """An ISO 4217 code Babel (CLDR) knows, in capitals: "EUR" yes, "EUX" or "eur" no."""
    return bool(re.fullmatch(r"[A-Z]{3}", code or "")) and is_currency(code)


def pro_rata(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """``total`` split in proportion to ``weights``, to the cent, adding up exactly (largest remainder)."""
    whole = sum(weights, ZERO)
    if whole <= ZERO:
        return [ZERO for _ in weights]
    cents = int(total * 100)
    exact = [Decimal(cents) * w / whole for w in weights]
    parts = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda n: exact[n] - parts[n], reverse=True)
    for n in order[: cents - sum(parts)]:
        parts[n] += 1
    return [Decimal(p) / 100 for p in parts]
