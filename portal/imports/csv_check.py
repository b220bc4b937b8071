"""The first pass over a CSV file: every row parsed and checked against the file and the database, nothing stored.

What it finds is a Preview (the mapping, the first rows, every bad row) and, when the columns could be mapped, a
Plan for the second pass: where the columns are and which debtors to create. The database is asked a chunk of rows
at a time which invoice numbers and debtors it has already.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from portal.debtors.models import Debtor
from portal.imports.csv_mapping import remembered_mapping, resolve_mapping
from portal.imports.csv_parse import ParsedRow, parse_row
from portal.imports.csv_read import CHUNK, CsvFormat, chunks, read_table, records, refuse
from portal.imports.result import ImportRefused, RowError
from portal.invoices.models import Invoice
from portal.organisations.models import Organisation

MAX_ERRORS = 200  # errors listed; the rest are counted
SAMPLE_ROWS = 10


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

    def count(self, row: ParsedRow) -> None:
        """Count in a good row (and show it, while the sample has room)."""
        if row.kind == "invoice":
            self.invoices += 1
        else:
            self.credit_notes += 1
        if len(self.sample) < SAMPLE_ROWS:
            self.sample.append(row)


@dataclass
class Plan:
    """What the first pass learnt, for the second: where the columns are and which debtors to create."""

    fmt: CsvFormat
    columns: dict[str, int]
    width: int
    home_currency: str
    new_debtor_names: dict[str, tuple[str, str]]  # new debtor number -> (name, e-mail) from its first named row


class _Errors:
    """The first MAX_ERRORS errors, and how many more there were."""

    def __init__(self) -> None:
        self.listed: list[RowError] = []
        self.more = 0

    def add(self, error: RowError) -> None:
        if len(self.listed) < MAX_ERRORS:
            self.listed.append(error)
        else:
            self.more += 1


def check_file(
    session: Session, organisation_id: int, content: bytes, mapping: dict | None
) -> tuple[Preview, Plan | None]:
    """Every row checked, nothing stored. No plan when the columns could not be mapped."""
    headers, fmt = read_table(content)
    used, mapping_errors = resolve_mapping(headers, remembered_mapping(session, organisation_id), mapping)
    preview = Preview(headers=headers, mapping=used, format=fmt)
    if mapping_errors:
        preview.errors = mapping_errors
        return preview, None
    columns = {name: headers.index(header) for name, header in used.items()}
    plan = Plan(fmt, columns, len(headers), _home_currency(session, organisation_id), {})
    errors = _Errors()
    debtors = _DebtorCheck(session, organisation_id, plan.new_debtor_names)
    for chunk in chunks(_new_rows(content, plan, preview, errors), CHUNK):
        _check_numbers_are_free(session, organisation_id, chunk, errors)
        debtors.check(chunk)
    debtors.report(errors)
    if not preview.rows:
        errors.add(RowError(0, "", "the file has a header but no rows"))
    preview.errors = sorted(errors.listed, key=lambda e: e.row)
    preview.more_errors = errors.more
    preview.new_debtors = debtors.new_count()
    return preview, plan


def checked_rows(content: bytes, plan: Plan) -> Iterator[ParsedRow]:
    """The second pass's rows, read again from the file that check_file() found without errors."""
    for line, values, problem in records(content, plan.fmt):
        row, errors = (None, []) if problem else parse_row(line, values, plan.columns, plan.width, plan.home_currency)
        if row is None:  # the first pass found none: the file cannot have changed in between
            raise ImportRefused([RowError(line, "", problem or str(errors[0]))])
        yield row


def _home_currency(session: Session, organisation_id: int) -> str:
    currency = session.scalar(select(Organisation.home_currency).where(Organisation.id == organisation_id))
    if currency is None:
        raise refuse("no such organisation")
    return currency


def _what(kind: str) -> str:
    return "credit note" if kind == "credit_note" else "invoice"


def _new_rows(content: bytes, plan: Plan, preview: Preview, errors: _Errors) -> Iterator[ParsedRow]:
    """The rows that parse and whose number is not on an earlier row, counted into ``preview``; the errors of the
    others go to ``errors``."""
    seen: dict[str, int] = {}  # kind and number -> first line
    for line, values, problem in records(content, plan.fmt):
        preview.rows += 1
        if problem:
            errors.add(RowError(line, "", problem))
            continue
        row, row_errors = parse_row(line, values, plan.columns, plan.width, plan.home_currency)
        for error in row_errors:
            errors.add(error)
        if row is None:
            continue
        first = seen.setdefault(f"{row.kind[0]}\x1f{row.number}", line)
        if first != line:
            errors.add(RowError(line, "number", f"{_what(row.kind)} {row.number} is also on row {first}"))
            continue
        preview.count(row)
        yield row


def _check_numbers_are_free(session: Session, organisation_id: int, chunk: list[ParsedRow], errors: _Errors) -> None:
    """An error for each row whose number the organisation has stored already, as the same kind of document."""
    taken = {
        (kind, number)
        for kind, number in session.execute(
            select(Invoice.kind, Invoice.number).where(
                Invoice.organisation_id == organisation_id, Invoice.number.in_({r.number for r in chunk})
            )
        )
    }
    for row in chunk:
        if (row.kind, row.number) in taken:
            errors.add(RowError(row.row, "number", f"{_what(row.kind)} {row.number} already exists"))


class _DebtorCheck:
    """Which debtors the file names that the database does not have, and which debtor numbers no row names.

    A row with a debtor number is for the debtor of that number; a new one takes its name and e-mail from the first
    row that names it, and is an error when no row does. A row without a number is for the debtor of that name,
    whatever its case. What stays in memory grows with the file's distinct debtors, not with its rows.
    """

    def __init__(self, session: Session, organisation_id: int, new_by_number: dict[str, tuple[str, str]]):
        self.session = session
        self.organisation_id = organisation_id
        self.new_by_number = new_by_number  # new debtor number -> (name, e-mail)
        self.known_numbers: set[str] = set()  # debtor numbers in the database
        self.looked_up_numbers: set[str] = set()
        self.known_names: set[str] = set()  # lower-case names of existing debtors (for rows without a number)
        self.looked_up_names: set[str] = set()
        self.new_names: set[str] = set()
        self.nameless: dict[str, list] = {}  # unknown debtor number -> [count, lines (capped)] while no row names it
        self.nameless_lines = 0

    def check(self, chunk: list[ParsedRow]) -> None:
        self._look_up_numbers({r.debtor_number for r in chunk if r.debtor_number})
        self._look_up_names({r.debtor_name.lower(): r.debtor_name for r in chunk if not r.debtor_number})
        for row in chunk:
            if row.debtor_number:
                self._note_number(row)
            elif row.debtor_name.lower() not in self.known_names:
                self.new_names.add(row.debtor_name.lower())

    def report(self, errors: _Errors) -> None:
        """An error for each row of a new debtor number that no row names."""
        for number, (count, lines) in self.nameless.items():
            message = f"debtor {number} is not known: a new debtor needs a name (debtor_name)"
            for line in lines:
                errors.add(RowError(line, "debtor_name", message))
            errors.more += count - len(lines)

    def new_count(self) -> int:
        return len(self.new_by_number) + len(self.new_names)

    def _look_up_numbers(self, numbers: set[str]) -> None:
        wanted = numbers - self.looked_up_numbers
        if not wanted:
            return
        self.known_numbers.update(
            self.session.scalars(
                select(Debtor.number).where(Debtor.organisation_id == self.organisation_id, Debtor.number.in_(wanted))
            )
        )
        self.looked_up_numbers.update(wanted)

    def _look_up_names(self, names: dict[str, str]) -> None:
        """Which of ``names`` (lower case -> as written) name a debtor, as the import will match them."""
        names = {lower: name for lower, name in names.items() if lower not in self.looked_up_names}
        if not names:
            return
        found = self.session.scalars(
            select(Debtor.name).where(
                Debtor.organisation_id == self.organisation_id,
                or_(func.lower(Debtor.name).in_(list(names)), Debtor.name.in_(list(names.values()))),
            )
        )
        self.known_names.update(name.lower() for name in found)
        self.looked_up_names.update(names)

    def _note_number(self, row: ParsedRow) -> None:
        number = row.debtor_number
        if number in self.known_numbers or number in self.new_by_number:
            return
        if row.debtor_name:
            self.new_by_number[number] = (row.debtor_name, row.debtor_email)
            if number in self.nameless:
                self.nameless_lines -= len(self.nameless.pop(number)[1])
            return
        entry = self.nameless.setdefault(number, [0, []])
        entry[0] += 1
        if self.nameless_lines < MAX_ERRORS:
            entry[1].append(row.row)
            self.nameless_lines += 1
