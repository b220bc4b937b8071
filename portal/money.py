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
    """Read an amount as machines write it ("1234.56", from Mollie or an e-invoice); refuse anything that is not
    exactly cents. What people type goes to parse_typed_amount()."""
    if isinstance(text, float):
        raise MoneyError("amounts are never floats")
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise MoneyError(f"not an amount: {text!r}") from None
    if not value.is_finite() or "e" in str(text).lower():
        raise MoneyError(f"not an amount: {text!r}")
    return _in_cents(value, str(text), allow_negative=allow_negative)


def _in_cents(value: Decimal, shown: str, *, allow_negative: bool) -> Decimal:
    """``value`` as an amount Duly stores: cents, at most MAX_AMOUNT, negative only where allowed."""
    if abs(value) > MAX_AMOUNT:  # before quantize(), which cannot hold a number this large
        raise MoneyError(f"too large: {shown}")
    if value != value.quantize(CENT):
        raise MoneyError(f"at most two decimals: {shown}")
    if value < 0 and not allow_negative:
        raise MoneyError(f"must not be negative: {shown}")
    return value.quantize(CENT)


# What people type and files carry, once spaces and the euro sign are gone: an amount in accounting brackets or with a
# sign, its digits grouped by dots or commas, with a decimal comma or dot.
_TYPED = re.compile(r"(?P<bracket>\()?(?P<sign>[+-])?(?P<number>\d[\d.,]*)(?(bracket)\))")
_EURO = re.compile(r"^([(]?[+-]?)€|€(?=[)]?$)")  # before the sign and digits, or after them


def parse_typed_amount(text: str, *, allow_negative: bool = False) -> Decimal:
    """An amount as people type it and files carry it: 1234.56, 1234,56, 1.234,56, 1,234.56, 1 234,56, € 1.234,56,
    1.234,56 €, -12,50, (12.50); refuse anything else with a message that says why.

    The last dot or comma is the decimal sign when the other one groups the thousands before it, or when it is the
    only one: a dot or comma used twice (1.234.567) groups thousands. One separator followed by exactly three digits
    ("1.234", "1,234") could group thousands or hold three decimals: such an amount is refused rather than guessed,
    a thousandfold mistake being possible either way.
    """
    typed = (text or "").strip()
    compact = _EURO.sub(r"\1", re.sub(r"[\s\u00a0\u202f]", "", typed), count=1)
    match = _TYPED.fullmatch(compact)
    if not match:
        raise MoneyError(f"not an amount: {typed!r}")
    value = Decimal(_plain_number(match["number"], typed))
    if match["bracket"] or match["sign"] == "-":
        value = -value
    return _in_cents(value, repr(typed), allow_negative=allow_negative)


def _plain_number(number: str, typed: str) -> str:
    """``number`` (digits, dots and commas) as Decimal reads it: digits and a decimal point, the grouping checked."""
    last = max(number.rfind("."), number.rfind(","))
    if last < 0:
        return number
    whole, mark, fraction = number[:last], number[last], number[last + 1 :]
    if mark in whole:  # 1.234.567: the one sign there groups thousands
        if not _grouped(number, mark):
            raise MoneyError(f"not an amount: {typed!r}")
        return number.replace(mark, "")
    group = "," if mark == "." else "."
    if not fraction or (group in whole and not _grouped(whole, group)):
        raise MoneyError(f"not an amount: {typed!r}")
    if len(fraction) == 3 and group not in whole:
        raise MoneyError(f"ambiguous amount {typed!r}: write 1234 or 1.234,00 (or 1,234.00)")
    return f"{whole.replace(group, '')}.{fraction}"


def _grouped(number: str, group: str) -> bool:
    """Whether ``number`` is digits in groups of three after the first, separated by ``group``: 1.234.567."""
    return bool(re.fullmatch(rf"\d{{1,3}}(?:{re.escape(group)}\d{{3}})+", number))


def sum_by_currency(rows) -> dict[str, Decimal]:
    """Totals per currency from (currency, amount) pairs: amounts in different currencies never add up."""
    totals: dict[str, Decimal] = {}
    for currency, amount in rows:
        totals[currency] = totals.get(currency, ZERO) + (amount or ZERO)
    return dict(sorted(totals.items()))


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
