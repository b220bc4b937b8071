"""Parsing a CSV row: its text to typed values (dates, amount, kind, currency, e-mail), or every error it has."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from portal.imports.csv_mapping import FIELDS
from portal.imports.result import RowError
from portal.invoices import references
from portal.mail.service import check_header_safe
from portal.money import ZERO, is_currency_code, parse_typed_amount

KIND_WORDS = {
    "invoice": "invoice",
    "factuur": "invoice",
    "debit": "invoice",
    "credit note": "credit_note",
    "creditnote": "credit_note",
    "creditnota": "credit_note",
    "credit nota": "credit_note",
    "credit": "credit_note",
    "creditfactuur": "credit_note",
    "credit invoice": "credit_note",
}

# Column widths of the stored values (PostgreSQL refuses longer ones; SQLite would keep them).
_LIMITS = {"number": 50, "debtor_number": 50, "debtor_name": 200, "debtor_email": 254}
REFERENCE_LIMIT = 35  # after normalising (no spaces)


@dataclass(frozen=True, slots=True)
class ParsedRow:
    row: int  # line of the file
    number: str
    kind: str  # invoice | credit_note
    debtor_number: str
    debtor_name: str
    debtor_email: str
    issue_date: date
    due_date: date | None
    total: Decimal  # as stored: negative for a credit note
    currency: str
    payment_reference: str


class _Found:
    """The errors of one row, in the order its checks find them."""

    def __init__(self, line: int):
        self.line = line
        self.errors: list[RowError] = []

    def add(self, field_name: str, message: str) -> None:
        self.errors.append(RowError(self.line, field_name, message))

    def read(self, field_name: str, parse: Callable[[str], date | Decimal], text: str, missing: str = ""):
        """``parse(text)``, or None and an error: ``missing`` when there is no text (if that is one), else why
        ``parse`` refused it."""
        if not text:
            if missing:
                self.add(field_name, missing)
            return None
        try:
            return parse(text)
        except ValueError as exc:
            self.add(field_name, str(exc))
            return None


def parse_row(
    line: int, values: list[str], columns: dict[str, int], width: int, home_currency: str
) -> tuple[ParsedRow | None, list[RowError]]:
    """The row's values typed (``columns``: field -> index), or None and every error of the row."""
    if problem := _width_problem(values, width):
        return None, [RowError(line, "", problem)]
    text = {name: _value(values, columns.get(name)) for name in FIELDS}
    found = _Found(line)
    _check_number_and_debtor(text, found)
    email = _email(text["debtor_email"], found)
    issue_date = found.read("issue_date", parse_date, text["issue_date"], missing="no issue date")
    due_date = found.read("due_date", parse_date, text["due_date"])
    total = found.read("total", _amount, text["total"], missing="no amount")
    kind = _kind(text["kind"], total, found)
    total = _stored_total(kind, total, found)
    _check_due_date(kind, text["due_date"], "due_date" in columns, issue_date, due_date, found)
    currency = _currency(text["currency"], home_currency, found)
    reference = _reference(text["payment_reference"], found)
    if found.errors:
        return None, found.errors
    return (
        ParsedRow(
            row=line,
            number=text["number"],
            kind=kind,
            debtor_number=text["debtor_number"],
            debtor_name=" ".join(text["debtor_name"].split()),
            debtor_email=email,
            issue_date=issue_date,
            due_date=due_date,
            total=total,
            currency=currency,
            payment_reference=reference,
        ),
        [],
    )


def _width_problem(values: list[str], width: int) -> str:
    """Why the row does not fit the header's columns, or "" (empty values after the last column are fine)."""
    if len(values) >= width and not any(v.strip() for v in values[width:]):
        return ""
    count = len(values) if len(values) < width else width + sum(1 for v in values[width:] if v.strip())
    return f"{count} values where the header has {width} columns (quote a value that holds the separator)"


def _value(values: list[str], index: int | None) -> str:
    return values[index].strip() if index is not None and index < len(values) else ""


def _check_number_and_debtor(text: dict[str, str], found: _Found) -> None:
    for name, limit in _LIMITS.items():
        if len(text[name]) > limit:
            found.add(name, f"longer than {limit} characters")
    try:
        check_header_safe(text["debtor_name"], text["debtor_email"])
    except ValueError as exc:
        found.add("debtor_name", str(exc))
    if not text["number"]:
        found.add("number", "no invoice number")
    if not text["debtor_number"] and not text["debtor_name"]:
        found.add("debtor_number", "no debtor: give a debtor number or name")


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _email(typed: str, found: _Found) -> str:
    email = typed.lower()
    if email and not _EMAIL.fullmatch(email):
        found.add("debtor_email", f"not an e-mail address: {email!r}")
    return email


def _kind(typed: str, total: Decimal | None, found: _Found) -> str | None:
    """invoice or credit_note, as the row says; a row that does not say is a credit note when its total is
    negative."""
    if typed:
        kind = KIND_WORDS.get(" ".join(typed.lower().replace("_", " ").replace("-", " ").split()))
        if kind is None:
            found.add("kind", f"unknown kind {typed!r}: write invoice or credit note")
        return kind
    if total is None:
        return None
    return "credit_note" if total < ZERO else "invoice"


def _stored_total(kind: str | None, total: Decimal | None, found: _Found) -> Decimal | None:
    """The total as stored: a credit note negative, whichever sign the file has; an invoice never negative."""
    if total is None:
        return None
    if kind == "invoice" and total < ZERO:
        found.add("total", "an invoice total is not negative; mark the row as a credit note")
    if kind == "credit_note" and total > ZERO:
        return -total
    return total


def _check_due_date(
    kind: str | None, typed: str, mapped: bool, issue_date: date | None, due_date: date | None, found: _Found
) -> None:
    if kind == "invoice" and not typed:
        found.add("due_date", "an invoice needs a due date" + ("" if mapped else " (map a due date column)"))
    if issue_date and due_date and due_date < issue_date:
        found.add("due_date", "the due date is before the issue date")


def _currency(typed: str, home_currency: str, found: _Found) -> str:
    currency = (typed or home_currency).upper()
    if not is_currency_code(currency):
        found.add("currency", f"not a currency code (ISO 4217, e.g. EUR): {typed!r}")
    return currency


def _reference(typed: str, found: _Found) -> str:
    reference = references.normalise(typed)
    if len(reference) > REFERENCE_LIMIT:
        found.add("payment_reference", f"longer than {REFERENCE_LIMIT} characters")
    return reference


# --- values -------------------------------------------------------------------------------------------------------


def _amount(text: str) -> Decimal:
    """The amount as the file has it; a negative one is a credit note (or an error on an invoice's row)."""
    return parse_typed_amount(text, allow_negative=True)


_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_DMY_DATE = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4})")


def parse_date(text: str) -> date:
    """2026-11-23 (a time after it is ignored), 23-11-2026, 23/11/2026 or 23.11.2026."""
    text = text.strip()
    if match := _ISO_DATE.fullmatch(text):
        year, month, day = (int(g) for g in match.groups())
    elif match := _DMY_DATE.fullmatch(text):
        day, month, year = int(match.group(1)), int(match.group(3)), int(match.group(4))
    else:
        raise ValueError(f"not a date: {text!r} (write 2026-11-23 or 23-11-2026)")
    try:
        value = date(year, month, day)
    except ValueError:
        raise ValueError(f"no such date: {text!r}") from None
    if not 1900 <= value.year <= 2199:
        raise ValueError(f"the year is out of range: {text!r}")
    return value
