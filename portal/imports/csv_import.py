"""CSV import of invoices and credit notes: sniffing, header mapping, a preview of each bad row, all or nothing.

A file is read twice from its bytes, never held as a list of rows: the first pass checks every row (and asks the
database, a chunk at a time, which numbers already exist) and stores nothing; the second, only when the first found
no error, creates the debtors and invoices inside a savepoint, flushing a chunk at a time. What stays in memory grows
with the distinct invoice numbers and debtors of the file (for the duplicate checks), not with ORM objects.

Rows are single lines: a quoted value cannot span lines, so a stray quote costs the one row it is on.
"""

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import func, insert, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.debtors.models import Debtor
from portal.debtors.service import DebtorError, create_debtor, find_debtor
from portal.events import Event, EventKind
from portal.imports.models import ImportMapping
from portal.imports.result import ImportRefused, ImportResult, RowError
from portal.invoices import references
from portal.invoices.models import Invoice
from portal.ledger.invoices import first_step
from portal.mail.service import check_header_safe
from portal.money import ZERO, MoneyError, is_currency_code, parse_amount
from portal.organisations.models import Organisation

Progress = Callable[[int, int], None]

FIELDS = (
    "number",
    "debtor_number",
    "debtor_name",
    "issue_date",
    "due_date",
    "total",
    "currency",
    "kind",
    "payment_reference",
    "debtor_email",
)
REQUIRED = ("number", "issue_date", "total")  # and debtor_number or debtor_name; due_date for invoices

# Header names guessed for each field, English and Dutch; compared after _norm() (case, spaces and punctuation).
HEADER_GUESSES: dict[str, tuple[str, ...]] = {
    "number": (
        "number",
        "invoice number",
        "invoice no",
        "invoice nr",
        "invoice",
        "document number",
        "factuurnummer",
        "factuurnr",
        "factuur nr",
        "factuur",
        "nummer",
    ),
    "debtor_number": (
        "debtor number",
        "debtor no",
        "debtor nr",
        "customer number",
        "customer no",
        "customer nr",
        "customer id",
        "account number",
        "debiteurnummer",
        "debiteurnr",
        "debiteur nr",
        "klantnummer",
        "klantnr",
        "klant nr",
        "relatienummer",
    ),
    "debtor_name": (
        "debtor name",
        "debtor",
        "customer name",
        "customer",
        "company",
        "company name",
        "name",
        "klant",
        "klantnaam",
        "debiteurnaam",
        "debiteur naam",
        "relatie",
        "relatienaam",
        "bedrijfsnaam",
        "naam",
    ),
    "issue_date": ("issue date", "invoice date", "date", "document date", "factuurdatum", "datum", "boekdatum"),
    "due_date": ("due date", "due", "payment due", "vervaldatum", "vervaldag", "uiterste betaaldatum"),
    "total": (
        "total",
        "amount",
        "total amount",
        "invoice amount",
        "amount incl vat",
        "total incl vat",
        "bedrag",
        "totaal",
        "totaalbedrag",
        "factuurbedrag",
        "bedrag incl btw",
        "totaal incl btw",
    ),
    "currency": ("currency", "currency code", "valuta", "munt", "muntsoort"),
    "kind": ("kind", "type", "document type", "soort", "documentsoort", "factuursoort"),
    "payment_reference": (
        "payment reference",
        "reference",
        "payment ref",
        "betalingskenmerk",
        "betaalkenmerk",
        "kenmerk",
    ),
    "debtor_email": (
        "email",
        "e mail",
        "email address",
        "e mail address",
        "debtor email",
        "customer email",
        "emailadres",
        "e mailadres",
    ),
}

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

CHUNK = 500  # rows per database round (lookups, flushes) and per progress call
MAX_ERRORS = 200  # errors listed; the rest are counted
SAMPLE_ROWS = 10
MAX_INVOICE_IDS = 1000  # ImportResult.invoice_ids holds the first ones only: a big file must not fill memory
DELIMITERS = (";", ",", "\t")

# Column widths of the stored values (PostgreSQL refuses longer ones; SQLite would keep them).
_LIMITS = {"number": 50, "debtor_number": 50, "debtor_name": 200, "debtor_email": 254}
REFERENCE_LIMIT = 35  # after normalising (no spaces)


@dataclass(frozen=True)
class CsvFormat:
    encoding: str  # utf-8, utf-8-sig (with BOM), utf-16 (with BOM) or cp1252
    delimiter: str
    header_line: int  # 1, or 2 after Excel's "sep=;" line


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


@dataclass
class Preview:
    headers: list[str]
    mapping: dict[str, str]  # field -> header of the file
    format: CsvFormat | None
    rows: int = 0  # data rows (blank lines not counted)
    sample: list[ParsedRow] = field(default_factory=list)  # the first rows that parse
    errors: list[RowError] = field(default_factory=list)  # at most MAX_ERRORS, in file order
    more_errors: int = 0  # errors not listed
    invoices: int = 0
    credit_notes: int = 0
    new_debtors: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors and not self.more_errors

    @property
    def error_count(self) -> int:
        return len(self.errors) + self.more_errors

    def all_errors(self) -> list[RowError]:
        """The listed errors, with a last line saying how many were left out."""
        if not self.more_errors:
            return list(self.errors)
        return [*self.errors, RowError(0, "", f"{self.more_errors} more error(s) not listed")]


def _refuse(message: str, field_name: str = "") -> ImportRefused:
    return ImportRefused([RowError(0, field_name, message)])


# --- reading the file -------------------------------------------------------------------------------------------


def _decodes(content: bytes, encoding: str) -> bool:
    """Whether all of ``content`` decodes, without building the decoded text (a big file stays one copy)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    view = memoryview(content)
    try:
        for start in range(0, len(view), 1 << 20):
            decoder.decode(view[start : start + (1 << 20)])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _encoding(content: bytes) -> str:
    if content.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16" if _decodes(content, "utf-16") else ""
    if content.startswith(b"PK\x03\x04") or content.startswith(b"\xd0\xcf\x11\xe0"):
        raise _refuse("this is a spreadsheet (Excel) file, not CSV: save it as CSV and upload that")
    if _decodes(content, "utf-8"):
        return "utf-8"
    if _decodes(content, "cp1252"):
        return "cp1252"
    return ""


def _lines(content: bytes, encoding: str) -> Iterator[tuple[int, str]]:
    """(line number, line) over the decoded file, read lazily."""
    text = io.TextIOWrapper(io.BytesIO(content), encoding=encoding, newline="")
    try:
        yield from enumerate(text, 1)
    finally:
        text.detach()


def _loose_split(line: str, delimiter: str) -> list[str]:
    return next(csv.reader((line,), delimiter=delimiter))


def _blank(line: str) -> bool:
    return not line.strip()


def _sniff_delimiter(sample: list[str]) -> str:
    """The delimiter that gives the header most columns that the following lines agree with."""
    best, best_score = "", (-1, 0)
    for delimiter in DELIMITERS:
        counts = [len(_loose_split(line, delimiter)) for line in sample]
        if counts[0] < 2:
            continue
        score = (sum(1 for count in counts[1:] if count == counts[0]), counts[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def read_table(content: bytes) -> tuple[list[str], CsvFormat]:
    """The headers of a CSV file and how it is written (encoding, delimiter); ImportRefused when it is not CSV."""
    if not content.strip():
        raise _refuse("the file is empty")
    encoding = _encoding(content)
    if not encoding:
        raise _refuse("the file is not text in UTF-8 or Windows-1252: save it as CSV (UTF-8)")
    delimiter, header_line, sample = "", 0, []
    for line_no, line in _lines(content, encoding):
        if _blank(line):
            continue
        if not header_line:
            match = re.fullmatch(r"sep=(.)\s*", line.lstrip("\ufeff"), flags=re.IGNORECASE)
            if match:  # Excel's hint line: "sep=;"
                delimiter = match.group(1)
                continue
            header_line = line_no
        sample.append(line)
        if len(sample) >= 50:
            break
    if not header_line:
        raise _refuse("the file is empty")
    delimiter = delimiter or _sniff_delimiter(sample)
    if not delimiter:
        raise _refuse("could not find the columns: the header needs at least two, separated by ; or ,")
    try:
        headers = next(csv.reader((sample[0],), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise ImportRefused([RowError(header_line, "", _csv_message(exc, delimiter))]) from None
    headers = [h.replace("\ufeff", "").strip() for h in headers]
    while headers and not headers[-1]:
        headers.pop()  # a trailing delimiter is not a column
    return headers, CsvFormat(encoding, delimiter, header_line)


def _csv_message(exc: csv.Error, delimiter: str) -> str:
    text = str(exc)
    shown = "tab" if delimiter == "\t" else delimiter
    if "unexpected end of data" in text:
        return 'a quote (") opens a value that does not close on this line; remove the stray quote or close it'
    if "expected after" in text:
        return 'text follows a closing quote ("); quote the whole value and double any quote inside it ("")'
    if "field larger than field limit" in text:
        return "a value is far too long (is a quote left open?)"
    return f"cannot read this line as CSV separated by {shown}: {text}"


def _records(content: bytes, fmt: CsvFormat) -> Iterator[tuple[int, list[str] | None, str]]:
    """(line, values, "") for each data row, or (line, None, why) for a row that is not valid CSV."""
    for line_no, line in _lines(content, fmt.encoding):
        if line_no <= fmt.header_line or _blank(line):
            continue
        if "\x00" in line:
            yield line_no, None, "the row contains a NUL character"
            continue
        try:
            values = next(csv.reader((line,), delimiter=fmt.delimiter, strict=True))
        except csv.Error as exc:
            yield line_no, None, _csv_message(exc, fmt.delimiter)
            continue
        if any(value.strip() for value in values):
            yield line_no, values, ""


# --- mapping ----------------------------------------------------------------------------------------------------


def _norm(header: str) -> str:
    return " ".join(re.sub(r"[_\-./#:()\[\]*]+", " ", header.replace("\ufeff", "")).lower().split())


_GUESSES = {field_name: {_norm(alias) for alias in aliases} for field_name, aliases in HEADER_GUESSES.items()}


def guess_mapping(headers: list[str]) -> dict[str, str]:
    """Fields whose header the file names in one of the usual ways (English or Dutch)."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for field_name in FIELDS:  # one pass per field, in the order of FIELDS: "number" before "debtor_number"
        for header in headers:
            if header not in used and _norm(header) in _GUESSES[field_name]:
                mapping[field_name] = header
                used.add(header)
                break
    return mapping


def _find_header(headers: list[str], wanted: str) -> str | None:
    if wanted in headers:
        return wanted
    normal = _norm(wanted)
    return next((h for h in headers if _norm(h) == normal), None) if normal else None


def remembered_mapping(session: Session, organisation_id: int) -> dict[str, str]:
    stored = session.scalar(
        select(ImportMapping.mapping).where(
            ImportMapping.organisation_id == organisation_id, ImportMapping.kind == "csv"
        )
    )
    return {k: v for k, v in (stored or {}).items() if k in FIELDS and isinstance(v, str)}


def remember_mapping(session: Session, organisation_id: int, mapping: dict[str, str]) -> None:
    """Keep ``mapping`` (field -> header) as the organisation's mapping for its next CSV file."""
    mapping = {k: v for k, v in mapping.items() if k in FIELDS and v}
    stored = session.scalar(
        select(ImportMapping).where(ImportMapping.organisation_id == organisation_id, ImportMapping.kind == "csv")
    )
    if stored is None:
        session.add(ImportMapping(organisation_id=organisation_id, kind="csv", mapping=mapping))
    elif stored.mapping != mapping:
        stored.mapping = mapping  # a new dict: JSON columns do not track changes inside one


def resolve_mapping(
    headers: list[str], remembered: dict[str, str] | None = None, explicit: dict[str, str | None] | None = None
) -> tuple[dict[str, str], list[RowError]]:
    """Guesses, overridden by the remembered mapping (where its headers are in this file), overridden by the
    explicit one (whose headers must be; a field given None or "" is left unmapped)."""
    mapping = guess_mapping(headers)
    errors: list[RowError] = []

    def assign(field_name: str, header: str) -> None:
        for other in [f for f, h in mapping.items() if h == header and f != field_name]:
            del mapping[other]
        mapping[field_name] = header

    for field_name, wanted in (remembered or {}).items():
        header = _find_header(headers, wanted) if field_name in FIELDS else None
        if header is not None:
            assign(field_name, header)
    chosen: set[str] = set()
    for field_name, wanted in (explicit or {}).items():
        if field_name not in FIELDS:
            errors.append(RowError(0, field_name, f"unknown field {field_name!r}; fields are {', '.join(FIELDS)}"))
        elif not wanted:
            mapping.pop(field_name, None)
        elif (header := _find_header(headers, wanted)) is None:
            errors.append(RowError(0, field_name, f"the file has no column {wanted!r}"))
        else:
            # A guessed or remembered field on the same column gives way; another explicit one may share it.
            for other in [f for f, h in mapping.items() if h == header and f != field_name and f not in chosen]:
                del mapping[other]
            mapping[field_name] = header
            chosen.add(field_name)
    for field_name in REQUIRED:
        if field_name not in mapping:
            errors.append(RowError(0, field_name, f"no column is mapped to {field_name}"))
    if "debtor_number" not in mapping and "debtor_name" not in mapping:
        errors.append(RowError(0, "debtor_number", "no column is mapped to debtor_number or debtor_name"))
    return mapping, errors


# --- values -----------------------------------------------------------------------------------------------------

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


_GROUPED = re.compile(r"\d{1,3}(?:[.,]\d{3})+")


def parse_csv_amount(text: str) -> Decimal:
    """An amount with a decimal comma or dot: 1234.56, 1234,56, 1.234,56, 1,234.56, -12,50, (12.50).

    One separator followed by exactly three digits ("1.234", "1,234") could be a thousands separator or three
    decimals: such an amount is refused rather than guessed, a thousandfold mistake being possible either way.
    """
    raw = text
    text = re.sub(r"[\s\u00a0\u202f]", "", text).replace("€", "")
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1]
    if text and text[0] in "+-":
        negative, text = negative or text[0] == "-", text[1:]
    if not text or not re.fullmatch(r"[\d.,]+", text) or not text[0].isdigit():
        raise MoneyError(f"not an amount: {raw.strip()!r}")
    dots, commas = text.count("."), text.count(",")
    if dots and commas:
        decimal_sign = "." if text.rfind(".") > text.rfind(",") else ","
        whole, _, fraction = text.rpartition(decimal_sign)
        if (decimal_sign == "." and commas and dots > 1) or (decimal_sign == "," and dots and commas > 1):
            raise MoneyError(f"not an amount: {raw.strip()!r}")
        if not _GROUPED.fullmatch(whole):
            raise MoneyError(f"not an amount: {raw.strip()!r}")
        number = whole.replace(".", "").replace(",", "") + "." + fraction
    elif dots + commas > 1:  # 1.234.567: thousands only
        if not _GROUPED.fullmatch(text) or (dots and commas):
            raise MoneyError(f"not an amount: {raw.strip()!r}")
        number = text.replace(".", "").replace(",", "")
    elif dots + commas == 1:
        whole, _, fraction = text.replace(",", ".").partition(".")
        if len(fraction) == 3:
            raise MoneyError(f"ambiguous amount {raw.strip()!r}: write 1234 or 1.234,00 (or 1,234.00)")
        if not whole or not fraction:
            raise MoneyError(f"not an amount: {raw.strip()!r}")
        number = f"{whole}.{fraction}"
    else:
        number = text
    return parse_amount(("-" if negative else "") + number, allow_negative=True)


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _parse_row(
    line: int, values: list[str], columns: dict[str, int], width: int, home_currency: str
) -> tuple[ParsedRow | None, list[RowError]]:
    if len(values) < width or any(v.strip() for v in values[width:]):
        count = len(values) if len(values) < width else width + sum(1 for v in values[width:] if v.strip())
        message = f"{count} values where the header has {width} columns (quote a value that holds the separator)"
        return None, [RowError(line, "", message)]
    errors: list[RowError] = []

    def get(field_name: str) -> str:
        index = columns.get(field_name)
        return values[index].strip() if index is not None and index < len(values) else ""

    def err(field_name: str, message: str) -> None:
        errors.append(RowError(line, field_name, message))

    text = {name: get(name) for name in FIELDS}
    for name, limit in _LIMITS.items():
        if len(text[name]) > limit:
            err(name, f"longer than {limit} characters")
    try:
        check_header_safe(text["debtor_name"], text["debtor_email"])
    except ValueError as exc:
        err("debtor_name", str(exc))
    number = text["number"]
    if not number:
        err("number", "no invoice number")
    if not text["debtor_number"] and not text["debtor_name"]:
        err("debtor_number", "no debtor: give a debtor number or name")
    email = text["debtor_email"].lower()
    if email and not _EMAIL.fullmatch(email):
        err("debtor_email", f"not an e-mail address: {email!r}")

    issue_date = due_date = None
    if not text["issue_date"]:
        err("issue_date", "no issue date")
    else:
        try:
            issue_date = parse_date(text["issue_date"])
        except ValueError as exc:
            err("issue_date", str(exc))
    if text["due_date"]:
        try:
            due_date = parse_date(text["due_date"])
        except ValueError as exc:
            err("due_date", str(exc))

    total = None
    if not text["total"]:
        err("total", "no amount")
    else:
        try:
            total = parse_csv_amount(text["total"])
        except MoneyError as exc:
            err("total", str(exc))

    kind = None
    if text["kind"]:
        kind = KIND_WORDS.get(" ".join(text["kind"].lower().replace("_", " ").replace("-", " ").split()))
        if kind is None:
            err("kind", f"unknown kind {text['kind']!r}: write invoice or credit note")
    elif total is not None:
        kind = "credit_note" if total < ZERO else "invoice"
    if kind == "invoice" and total is not None and total < ZERO:
        err("total", "an invoice total is not negative; mark the row as a credit note")
    if kind == "credit_note" and total is not None and total > ZERO:
        total = -total  # a credit note is stored negative, whichever sign the file has
    if kind == "invoice" and not text["due_date"]:
        err("due_date", "an invoice needs a due date" + ("" if "due_date" in columns else " (map a due date column)"))
    if issue_date and due_date and due_date < issue_date:
        err("due_date", "the due date is before the issue date")

    currency = (text["currency"] or home_currency).upper()
    if not is_currency_code(currency):
        err("currency", f"not a currency code (ISO 4217, e.g. EUR): {text['currency']!r}")
    reference = references.normalise(text["payment_reference"])
    if len(reference) > REFERENCE_LIMIT:
        err("payment_reference", f"longer than {REFERENCE_LIMIT} characters")

    if errors:
        return None, errors
    return (
        ParsedRow(
            row=line,
            number=number,
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


# --- checking ---------------------------------------------------------------------------------------------------


class _Errors:
    def __init__(self) -> None:
        self.listed: list[RowError] = []
        self.more = 0

    def add(self, error: RowError) -> None:
        if len(self.listed) < MAX_ERRORS:
            self.listed.append(error)
        else:
            self.more += 1

    def __bool__(self) -> bool:
        return bool(self.listed or self.more)


@dataclass
class _Plan:
    """What the first pass learnt, for the second: where the columns are and which debtors to create."""

    fmt: CsvFormat
    columns: dict[str, int]
    width: int
    home_currency: str
    new_debtor_names: dict[str, tuple[str, str]]  # new debtor number -> (name, e-mail) from its first named row


def _home_currency(session: Session, organisation_id: int) -> str:
    currency = session.scalar(select(Organisation.home_currency).where(Organisation.id == organisation_id))
    if currency is None:
        raise _refuse("no such organisation")
    return currency


def _existing_names(session: Session, organisation_id: int, names: dict[str, str]) -> set[str]:
    """Which of ``names`` (lower case -> as written) name a debtor, as the import will match them."""
    found = session.scalars(
        select(Debtor.name).where(
            Debtor.organisation_id == organisation_id,
            or_(func.lower(Debtor.name).in_(list(names)), Debtor.name.in_(list(names.values()))),
        )
    )
    return {name.lower() for name in found}


def _check(
    session: Session, organisation_id: int, content: bytes, mapping: dict | None
) -> tuple[Preview, _Plan | None]:
    """The first pass: every row checked, nothing stored. No plan when the columns could not be mapped."""
    headers, fmt = read_table(content)
    used, mapping_errors = resolve_mapping(headers, remembered_mapping(session, organisation_id), mapping)
    preview = Preview(headers=headers, mapping=used, format=fmt)
    if mapping_errors:
        preview.errors = mapping_errors
        return preview, None
    columns = {name: headers.index(header) for name, header in used.items()}
    plan = _Plan(fmt, columns, len(headers), _home_currency(session, organisation_id), {})
    errors = _Errors()

    seen: dict[str, int] = {}  # kind and number -> first line
    known_debtors: set[str] = set()  # debtor numbers in the database
    looked_up: set[str] = set()
    nameless: dict[str, list] = {}  # unknown debtor number -> [count, lines (capped)] while no row names it
    nameless_lines = 0
    names_known: set[str] = set()  # lower-case names of existing debtors (for rows without a debtor number)
    names_new: set[str] = set()
    names_looked_up: set[str] = set()
    chunk: list[ParsedRow] = []

    def check_chunk() -> None:
        nonlocal nameless_lines
        numbers = {r.number for r in chunk}
        taken = {
            (kind, number)
            for kind, number in session.execute(
                select(Invoice.kind, Invoice.number).where(
                    Invoice.organisation_id == organisation_id, Invoice.number.in_(numbers)
                )
            )
        }
        wanted = {r.debtor_number for r in chunk if r.debtor_number} - looked_up
        if wanted:
            known_debtors.update(
                session.scalars(
                    select(Debtor.number).where(Debtor.organisation_id == organisation_id, Debtor.number.in_(wanted))
                )
            )
            looked_up.update(wanted)
        names = {r.debtor_name.lower(): r.debtor_name for r in chunk if not r.debtor_number}
        names = {lower: name for lower, name in names.items() if lower not in names_looked_up}
        if names:
            names_known.update(_existing_names(session, organisation_id, names))
            names_looked_up.update(names)
        for r in chunk:
            if (r.kind, r.number) in taken:
                what = "credit note" if r.kind == "credit_note" else "invoice"
                errors.add(RowError(r.row, "number", f"{what} {r.number} already exists"))
            if r.debtor_number:
                number = r.debtor_number
                if number in known_debtors or number in plan.new_debtor_names:
                    continue
                if r.debtor_name:
                    plan.new_debtor_names[number] = (r.debtor_name, r.debtor_email)
                    if number in nameless:
                        nameless_lines -= len(nameless.pop(number)[1])
                else:
                    entry = nameless.setdefault(number, [0, []])
                    entry[0] += 1
                    if nameless_lines < MAX_ERRORS:
                        entry[1].append(r.row)
                        nameless_lines += 1
            elif r.debtor_name.lower() not in names_known:
                names_new.add(r.debtor_name.lower())
        chunk.clear()

    for line, values, problem in _records(content, fmt):
        preview.rows += 1
        if problem:
            errors.add(RowError(line, "", problem))
            continue
        row, row_errors = _parse_row(line, values, columns, plan.width, plan.home_currency)
        for error in row_errors:
            errors.add(error)
        if row is None:
            continue
        first = seen.setdefault(f"{row.kind[0]}\x1f{row.number}", line)
        if first != line:
            what = "credit note" if row.kind == "credit_note" else "invoice"
            errors.add(RowError(line, "number", f"{what} {row.number} is also on row {first}"))
            continue
        if row.kind == "invoice":
            preview.invoices += 1
        else:
            preview.credit_notes += 1
        if len(preview.sample) < SAMPLE_ROWS:
            preview.sample.append(row)
        chunk.append(row)
        if len(chunk) >= CHUNK:
            check_chunk()
    if chunk:
        check_chunk()

    for number, (count, lines) in nameless.items():
        message = f"debtor {number} is not known: a new debtor needs a name (debtor_name)"
        for line in lines:
            errors.add(RowError(line, "debtor_name", message))
        errors.more += count - len(lines)
    if not preview.rows:
        errors.add(RowError(0, "", "the file has a header but no rows"))
    preview.errors = sorted(errors.listed, key=lambda e: e.row)
    preview.more_errors = errors.more
    preview.new_debtors = len(plan.new_debtor_names) + len(names_new)
    return preview, plan


def preview_csv(session: Session, organisation_id: int, content: bytes, mapping: dict | None = None) -> Preview:
    """Check a file without storing anything: the mapping it would use, its first rows and every bad row.

    A file that cannot be read at all (not text, no columns) gives a preview with that one error.
    """
    try:
        preview, _ = _check(session, organisation_id, content, mapping)
    except ImportRefused as exc:
        return Preview(headers=[], mapping={}, format=None, errors=exc.errors)
    return preview


# --- importing --------------------------------------------------------------------------------------------------


def _parsed_rows(content: bytes, plan: _Plan) -> Iterator[ParsedRow]:
    for line, values, problem in _records(content, plan.fmt):
        row, errors = (None, []) if problem else _parse_row(line, values, plan.columns, plan.width, plan.home_currency)
        if row is None:  # the first pass found none: the file cannot have changed in between
            raise ImportRefused([RowError(line, "", problem or str(errors[0]))])
        yield row


class _Writer:
    """Creates the rows' debtors and documents a chunk at a time, as create_debtor and create_invoice would."""

    def __init__(self, session: Session, organisation_id: int, plan: _Plan, actor_user_id: int | None):
        self.session = session
        self.organisation_id = organisation_id
        self.first_step = first_step(session, organisation_id)
        self.plan = plan
        self.actor_user_id = actor_user_id
        self.scheme = session.scalar(select(Organisation.reference_scheme).where(Organisation.id == organisation_id))
        self.debtor_ids: dict[tuple[str, str], int] = {}
        self.result = ImportResult()

    def debtor_id(self, row: ParsedRow) -> int:
        key = ("number", row.debtor_number) if row.debtor_number else ("name", row.debtor_name.lower())
        debtor_id = self.debtor_ids.get(key)
        if debtor_id is not None:
            return debtor_id
        if row.debtor_number:
            debtor = find_debtor(self.session, self.organisation_id, number=row.debtor_number)
            name, email = self.plan.new_debtor_names.get(row.debtor_number, (row.debtor_name, row.debtor_email))
        else:
            debtor = find_debtor(self.session, self.organisation_id, name=row.debtor_name) or self.session.scalar(
                select(Debtor)  # SQLite's lower() leaves non-ASCII letters alone: find "Café Ünïcode" as written
                .where(Debtor.organisation_id == self.organisation_id, Debtor.name == row.debtor_name)
                .order_by(Debtor.id)
                .limit(1)
            )
            name, email = row.debtor_name, row.debtor_email
        if debtor is None:
            try:
                debtor = create_debtor(
                    self.session,
                    self.organisation_id,
                    name=name,
                    email=email,
                    actor_user_id=self.actor_user_id,
                    **({"number": row.debtor_number} if row.debtor_number else {}),
                )
            except DebtorError as exc:
                raise ImportRefused([RowError(row.row, "debtor_number", str(exc))]) from None
            self.result.debtors_created += 1
        self.debtor_ids[key] = debtor.id
        return debtor.id

    def _allocate_ids(self, count: int) -> list[int]:
        """Ids for new invoices, taken before the insert so that each row goes in with its payment reference."""
        if self.session.get_bind().dialect.name == "postgresql":
            return list(
                self.session.scalars(
                    text("SELECT nextval(pg_get_serial_sequence('invoices', 'id')) FROM generate_series(1, :n)"),
                    {"n": count},
                )
            )
        # SQLite gives a new row max(id) + 1; the transaction holds the one write lock (BEGIN IMMEDIATE).
        start = self.session.scalar(select(func.max(Invoice.id))) or 0
        return list(range(start + 1, start + count + 1))

    def write(self, rows: list[ParsedRow]) -> None:
        """The chunk's documents, as create_invoice stores one: the same columns, reference and event.

        Inserted in bulk (create_invoice costs several statements a document; a file may hold a hundred thousand).
        tests/imports/test_csv_import.py holds the two side by side.
        """
        debtor_ids = [self.debtor_id(row) for row in rows]
        ids = self._allocate_ids(len(rows))
        documents, created = [], []
        for row, debtor_id, invoice_id in zip(rows, debtor_ids, ids, strict=True):
            open_amount = row.total if row.kind == "invoice" else -row.total
            reference = row.payment_reference
            if not reference and row.kind == "invoice":
                reference = references.generate(self.scheme, invoice_id)
            documents.append(
                {
                    "id": invoice_id,
                    "organisation_id": self.organisation_id,
                    "debtor_id": debtor_id,
                    "kind": row.kind,
                    "number": row.number,
                    "issue_date": row.issue_date,
                    "due_date": row.due_date,
                    "currency": row.currency,
                    "total": row.total,
                    "open_amount": open_amount,
                    "status": "open" if open_amount > ZERO else "paid",
                    "payment_reference": reference,
                    "source": "csv",
                    "corrects_invoice_id": None,
                    "last_step": self.first_step if row.kind == "invoice" and open_amount > ZERO else 0,
                }
            )
            data = {"number": row.number, "total": row.total, "currency": row.currency, "source": "csv"}
            created.append(
                {
                    "organisation_id": self.organisation_id,
                    "kind": EventKind.CREDIT_NOTE_CREATED if row.kind == "credit_note" else EventKind.INVOICE_CREATED,
                    "debtor_id": debtor_id,
                    "invoice_id": invoice_id,
                    "payment_id": None,
                    "actor_user_id": self.actor_user_id,
                    # as events.record() keeps them
                    "data": {k: v if isinstance(v, int | str | bool | None) else str(v) for k, v in data.items()},
                }
            )
            if row.kind == "invoice":
                self.result.invoices += 1
            else:
                self.result.credit_notes += 1
            if len(self.result.invoice_ids) < MAX_INVOICE_IDS:
                self.result.invoice_ids.append(invoice_id)
        connection = self.session.connection()  # Core inserts: the ORM's bulk path adds a third for nothing here
        connection.execute(insert(Invoice.__table__), documents)
        connection.execute(insert(Event.__table__), created)


def import_csv(
    session: Session,
    organisation_id: int,
    content: bytes,
    *,
    mapping: dict | None = None,
    actor_user_id: int | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import every row of the file, or none: ImportRefused lists the bad rows and nothing is stored.

    Checks the whole file first, then creates debtors and documents inside a savepoint of the caller's transaction
    (the caller commits), calling ``progress(done, total)`` every CHUNK rows. The mapping used is remembered for
    the organisation's next file. ``invoice_ids`` holds the first MAX_INVOICE_IDS ids only.
    """
    preview, plan = _check(session, organisation_id, content, mapping)
    if not preview.ok:
        refused = ImportRefused(preview.all_errors())
        refused.error_count = preview.error_count  # the errors listed are capped; this counts them all
        raise refused
    total = preview.rows
    if progress:
        progress(0, total)
    done = 0
    try:
        with session.begin_nested():
            writer = _Writer(session, organisation_id, plan, actor_user_id)
            chunk: list[ParsedRow] = []
            for row in _parsed_rows(content, plan):
                chunk.append(row)
                if len(chunk) >= CHUNK:
                    writer.write(chunk)
                    done += len(chunk)
                    chunk = []
                    if progress:
                        progress(done, total)
            if chunk:
                writer.write(chunk)
                done += len(chunk)
            remember_mapping(session, organisation_id, preview.mapping)
            session.flush()
    except IntegrityError as exc:
        # Another import or a user stored one of these numbers after the check: nothing of this file is kept.
        message = f"an invoice or debtor of this file was stored meanwhile; check the file again ({exc.orig})"
        raise ImportRefused([RowError(0, "", message)]) from None
    if progress:
        progress(done, total)
    return writer.result
