"""Bulk seed: one organisation with many debtors and invoices, loaded in minutes for benchmarks.

The demo (portal.demo) goes through the services, a few hundred invoices a second. This module writes rows
directly - PostgreSQL COPY, executemany inserts on SQLite - chunk by chunk so that memory stays flat, and builds
every amount so that the ledger invariant holds: portal.ledger.service.ledger_discrepancies finds nothing.

The data covers the last 24 months; invoice numbers and issue dates rise together.

- Debtors: 85 % businesses, 15 % consumers; good (40 %), average (35 %) and poor (25 %) payers. A few debtors
  have hundreds of invoices, most a handful.
- Invoices: about 70 % paid (one payment and one allocation each; one in 500 payments is an overpayment whose
  rest stays on the payment as the debtor's credit), about 30 % open: most of those overdue, some partly paid,
  some not due yet.
- Credit notes, on top of the invoices: one for every 200th invoice, a quarter of its total. Two in three are
  used against that invoice, one in three is left as unused credit.
- Events only for the last 30 days, what the overview's timeline shows; older bulk rows have none.

Payment references are the organisation's scheme ("nl": betalingskenmerk) over the invoice id, as
create_invoice makes them, so ids are taken from the tables' sequences before the rows are written.
"""

import json
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from portal.debtors.models import Debtor
from portal.events import Event, EventKind
from portal.invoices import references
from portal.invoices.models import Invoice
from portal.ledger.models import Allocation, Payment
from portal.organisations.models import Organisation, User

CHUNK = 10_000  # rows generated, and written, at a time
HISTORY_DAYS = 730  # invoices are issued over the last 24 months
EVENT_DAYS = 30  # events are written for what happened in the last 30 days
CREDIT_NOTE_EVERY = 200  # every 200th invoice gets a credit note
PASSWORD = "bench"  # noqa: S105 - the bench owner's password, a fixture like the demo's

# (share of debtors, base chance that an overdue invoice is still open, days paid after the due date)
PROFILES = (
    (0.40, 0.17, (-7, 5)),  # good
    (0.35, 0.40, (0, 30)),  # average
    (0.25, 0.85, (15, 120)),  # poor
)
TERMS = (14, 30, 30, 30, 60)

_TRADES = (
    "Bakkerij",
    "Bouwbedrijf",
    "Installatietechniek",
    "Transport",
    "Hoveniersbedrijf",
    "Drukkerij",
    "Schildersbedrijf",
    "Autobedrijf",
    "Adviesbureau",
    "Kapsalon",
    "Restaurant",
    "Café",
    "Tandartspraktijk",
    "Elektrotechniek",
    "Loodgietersbedrijf",
    "Architectenbureau",
    "Makelaardij",
    "Groothandel",
    "Meubelmakerij",
    "IT Beheer",
)
_SURNAMES = (
    "de Jong",
    "Jansen",
    "de Vries",
    "van den Berg",
    "van Dijk",
    "Bakker",
    "Janssen",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "de Graaf",
    "van der Meer",
    "van der Linden",
    "Kok",
    "Jacobs",
    "de Haan",
    "Vermeulen",
)
_CITIES = (
    "Amsterdam",
    "Rotterdam",
    "Utrecht",
    "Den Haag",
    "Eindhoven",
    "Groningen",
    "Tilburg",
    "Almere",
    "Breda",
    "Nijmegen",
    "Zwolle",
    "Haarlem",
    "Arnhem",
    "Leiden",
    "Maastricht",
)
_STREETS = ("Hoofdstraat", "Kerkstraat", "Dorpsstraat", "Stationsweg", "Industrieweg", "Molenweg", "Marktplein")
_SUFFIXES = ("B.V.", "B.V.", "B.V.", "V.O.F.", "& Zn.", "")
_LETTERS = "ABCDEFGHJKLMNPRSTVWXZ"

DEBTOR_COLUMNS = (
    "id",
    "organisation_id",
    "number",
    "name",
    "kind",
    "language",
    "email",
    "phone",
    "address",
    "postcode",
    "city",
    "country",
    "vat_number",
    "company_number",
    "created_at",
)
INVOICE_COLUMNS = (
    "id",
    "organisation_id",
    "debtor_id",
    "kind",
    "number",
    "issue_date",
    "due_date",
    "currency",
    "total",
    "open_amount",
    "status",
    "payment_reference",
    "source",
    "corrects_invoice_id",
    "settled_on",
    "created_at",
)
PAYMENT_COLUMNS = (
    "id",
    "organisation_id",
    "debtor_id",
    "amount",
    "currency",
    "unallocated_amount",
    "received_on",
    "method",
    "reference",
    "created_at",
)
ALLOCATION_COLUMNS = (
    "organisation_id",
    "invoice_id",
    "payment_id",
    "credit_note_id",
    "component",
    "amount",
    "created_at",
)
EVENT_COLUMNS = ("organisation_id", "kind", "debtor_id", "invoice_id", "payment_id", "data", "created_at")


def seed_bulk(session: Session, *, slug: str, debtors: int, invoices: int, seed: int = 1) -> Organisation:
    """Create organisation ``slug`` (owner ``owner@{slug}.duly.test`` / "bench") with the given numbers of debtors
    and invoices, plus credit notes, payments and allocations; the caller commits.

    On PostgreSQL the tables are ANALYZEd afterwards, so that the planner knows their new sizes.
    """
    if debtors < 1 or invoices < 0:
        raise ValueError("seed_bulk needs at least one debtor and no negative number of invoices")
    organisation = Organisation(
        slug=slug,
        name=f"Bench {slug}",
        sender_name=f"Bench {slug} Debiteurenbeheer",
        sender_email=f"debiteuren@{slug}.example",
        iban="NL91ABNA0417164300",
        bic="ABNANL2A",
        reference_scheme="nl",
    )
    session.add(organisation)
    session.flush()
    session.add(
        User(
            organisation_id=organisation.id,
            email=f"owner@{slug}.duly.test",
            name=f"Bench {slug} owner",
            role="owner",
            password_hash=generate_password_hash(PASSWORD),
        )
    )
    session.flush()
    seeder = _Seeder(session, organisation, random.Random(seed))
    seeder.debtors(debtors)
    seeder.invoices(invoices)
    if seeder.writer.postgres:
        seeder.writer.connection.execute(
            text("ANALYZE organisations, users, debtors, invoices, payments, allocations, events")
        )
    return organisation


def _money(cents: int) -> str:
    """Exact text for an amount in cents: NUMERIC reads it on PostgreSQL, Money.process_bind_param on SQLite."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


class _Writer:
    """Writes rows (tuples in a given column order) with COPY on PostgreSQL, executemany inserts elsewhere."""

    def __init__(self, session: Session) -> None:
        self.connection = session.connection()
        self.postgres = self.connection.dialect.name == "postgresql"

    def ids(self, table: Table) -> "_Ids":
        return _Ids(self, table)

    def data(self, value: dict[str, Any]) -> Any:
        """A JSON column's value: text for COPY, the dict itself for SQLAlchemy's JSON type."""
        return json.dumps(value) if self.postgres else value

    def write(self, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
        if not rows:
            return
        if self.postgres:
            cursor = self.connection.connection.driver_connection.cursor()
            with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.close()
        else:
            self.connection.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])


class _Ids:
    """Primary keys handed out before the rows exist: from the table's sequence on PostgreSQL (in blocks, so that
    a concurrent insert can never take one of them), counted up from max(id) on SQLite (whose write lock is held)."""

    def __init__(self, writer: _Writer, table: Table) -> None:
        self.writer = writer
        self.table = table
        self.block: Iterator[int] = iter(())
        if writer.postgres:
            self.sequence = writer.connection.scalar(
                text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}
            )
        else:
            self.last = writer.connection.scalar(text(f"SELECT coalesce(max(id), 0) FROM {table.name}"))  # noqa: S608

    def __call__(self) -> int:
        for value in self.block:
            return value
        if self.writer.postgres:
            self.block = iter(
                self.writer.connection.scalars(
                    text("SELECT nextval(CAST(:sequence AS regclass)) FROM generate_series(1, :n)"),
                    {"sequence": self.sequence, "n": CHUNK},
                ).all()
            )
        else:
            self.block = iter(range(self.last + 1, self.last + 1 + CHUNK))
            self.last += CHUNK
        return next(self.block)


class _Seeder:
    def __init__(self, session: Session, organisation: Organisation, rng: random.Random) -> None:
        self.writer = _Writer(session)
        self.org_id = organisation.id
        self.scheme = organisation.reference_scheme
        self.tz = organisation.tz
        self.rng = rng
        self.today = organisation.today()
        self.start = self.today - timedelta(days=HISTORY_DAYS)
        self.events_from = self.today - timedelta(days=EVENT_DAYS)
        self.debtor_ids: list[int] = []
        self.profiles = bytearray()
        self._stamps: dict[tuple[date, int], datetime] = {}

    def stamp(self, day: date, hour: int, minute: int = 0) -> datetime:
        """A moment on ``day`` in the organisation's time zone, as an aware UTC datetime."""
        key = (day, hour * 60 + minute)
        value = self._stamps.get(key)
        if value is None:
            value = datetime.combine(day, time(hour, minute), tzinfo=self.tz).astimezone(UTC)
            self._stamps[key] = value
        return value

    # debtors ------------------------------------------------------------------------------------------------

    def debtors(self, count: int) -> None:
        rng = self.rng
        ids = self.writer.ids(Debtor.__table__)
        weights = [p[0] for p in PROFILES]
        rows: list[tuple] = []
        for i in range(count):
            debtor_id = ids()
            surname = rng.choice(_SURNAMES)
            city = rng.choice(_CITIES)
            if rng.random() < 0.15:
                kind = "consumer"
                name = f"{rng.choice(_LETTERS)}. {surname}"
                vat_number = company_number = ""
                email = f"{surname.replace(' ', '').lower()}{i}@mail.example"
            else:
                kind = "business"
                name = f"{rng.choice(_TRADES)} {surname} {city} {rng.choice(_SUFFIXES)}".strip()
                vat_number = f"NL{rng.randint(10**8, 10**9 - 1)}B01"
                company_number = str(rng.randint(10**7, 10**8 - 1))
                email = f"administratie@{surname.replace(' ', '').lower()}-{i}.example"
            rows.append(
                (
                    debtor_id,
                    self.org_id,
                    f"D{100001 + i}",
                    name,
                    kind,
                    "en" if rng.random() < 0.1 else "nl",
                    email,
                    f"0{rng.randint(10, 99)}-{rng.randint(1_000_000, 9_999_999)}",
                    f"{rng.choice(_STREETS)} {rng.randint(1, 250)}",
                    f"{rng.randint(1000, 9999)} {rng.choice(_LETTERS)}{rng.choice(_LETTERS)}",
                    city,
                    "NL",
                    vat_number,
                    company_number,
                    self.stamp(self.start - timedelta(days=rng.randint(1, 365)), 8),
                )
            )
            self.debtor_ids.append(debtor_id)
            self.profiles.append(rng.choices((0, 1, 2), weights)[0])
            if len(rows) >= CHUNK:
                self.writer.write(Debtor.__table__, DEBTOR_COLUMNS, rows)
                rows = []
        self.writer.write(Debtor.__table__, DEBTOR_COLUMNS, rows)

    # invoices, credit notes, payments, allocations, events ---------------------------------------------------

    def invoices(self, count: int) -> None:
        self.invoice_id = self.writer.ids(Invoice.__table__)
        self.payment_id = self.writer.ids(Payment.__table__)
        for first in range(0, count, CHUNK):
            self.invoice_rows: list[tuple] = []
            self.payment_rows: list[tuple] = []
            self.allocation_rows: list[tuple] = []
            self.event_rows: list[tuple] = []
            for k in range(first, min(first + CHUNK, count)):
                self.invoice(k, count)
            self.writer.write(Invoice.__table__, INVOICE_COLUMNS, self.invoice_rows)
            self.writer.write(Payment.__table__, PAYMENT_COLUMNS, self.payment_rows)
            self.writer.write(Allocation.__table__, ALLOCATION_COLUMNS, self.allocation_rows)
            self.writer.write(Event.__table__, EVENT_COLUMNS, self.event_rows)

    def invoice(self, k: int, count: int) -> None:
        rng = self.rng
        index = int(len(self.debtor_ids) * rng.random() ** 1.5)  # skewed: a few debtors get many invoices
        debtor_id = self.debtor_ids[index]
        _, open_chance, (early, late) = PROFILES[self.profiles[index]]
        issue = self.start + timedelta(days=HISTORY_DAYS * k // count)
        due = issue + timedelta(days=rng.choice(TERMS))
        total = int(min(max(rng.lognormvariate(10.8, 0.9), 2_500), 2_500_000))  # cents; median about 490 EUR
        invoice_id = self.invoice_id()
        number = f"{issue.year}-{k + 1:07d}"
        reference = references.generate(self.scheme, invoice_id)
        if issue >= self.events_from:
            self.event(
                EventKind.INVOICE_CREATED,
                issue,
                9,
                k,
                debtor_id,
                invoice_id,
                None,
                number=number,
                total=_money(total),
                currency="EUR",
                source="demo",
            )

        open_amount, credit_used_on, credit_note = self.credit_note(k, debtor_id, invoice_id, number, issue, total)
        paid, paid_on, open_amount = self.payment(
            k, debtor_id, invoice_id, number, reference, (issue, due), open_amount, open_chance, (early, late)
        )
        settled_on = max(paid_on if paid else issue, credit_used_on or issue) if open_amount == 0 else None
        self.invoice_rows.append(
            (
                invoice_id,
                self.org_id,
                debtor_id,
                "invoice",
                number,
                issue,
                due,
                "EUR",
                _money(total),
                _money(open_amount),
                "open" if open_amount else "paid",
                reference,
                "demo",
                None,
                settled_on,
                self.stamp(issue, 9),
            )
        )
        if credit_note is not None:
            self.credit_note_row(debtor_id, invoice_id, credit_note)

    def credit_note(self, k: int, debtor_id: int, invoice_id: int, number: str, issue: date, total: int):
        """Every CREDIT_NOTE_EVERY-th invoice gets a credit note of a quarter, mostly applied to it. Returns the
        invoice's open amount after it, when it was applied, and the credit note's row values (or None)."""
        open_amount, credit_used_on, credit_note = total, None, None
        if k % CREDIT_NOTE_EVERY != CREDIT_NOTE_EVERY - 1:
            return open_amount, credit_used_on, credit_note
        rng = self.rng
        credit = total // 4
        credit_issue = min(self.today, issue + timedelta(days=rng.randint(1, 20)))
        credit_id = self.invoice_id()
        credit_number = f"CN-{number}"
        if (k // CREDIT_NOTE_EVERY) % 3 != 2:  # used against this invoice, as allocate_credit_note does
            credit_used_on = max(issue, credit_issue)
            open_amount -= credit
            self.allocation(invoice_id, None, credit_id, credit, credit_used_on)
            credit_note = (credit_id, credit_number, credit_issue, -credit, 0, "paid", credit_used_on)
        else:
            credit_note = (credit_id, credit_number, credit_issue, -credit, credit, "open", None)
        if credit_issue >= self.events_from:
            self.event(
                EventKind.CREDIT_NOTE_CREATED,
                credit_issue,
                11,
                k,
                debtor_id,
                credit_id,
                None,
                number=credit_number,
                total=_money(-credit),
                currency="EUR",
                source="demo",
            )
            if credit_used_on is not None:
                self.event(
                    EventKind.INVOICE_CREDIT_NOTE_ALLOCATED,
                    credit_used_on,
                    11,
                    k,
                    debtor_id,
                    invoice_id,
                    None,
                    number=number,
                    credit_note=credit_number,
                    amount=_money(credit),
                    currency="EUR",
                    open_amount=_money(open_amount),
                )
        return open_amount, credit_used_on, credit_note

    def payment(self, k, debtor_id, invoice_id, number, reference, dates, open_amount, open_chance, days):
        """Paid in full, in part or not at all, as the debtor's profile pays (``days``: early and late bounds);
        not-yet-due invoices are a few paid early. Returns whether paid in full, the day, and what stays open."""
        rng, today = self.rng, self.today
        (issue, due), (early, late) = dates, days
        if due >= today:  # not due yet: a few are paid early
            paid, partial = rng.random() < 0.15, False
            paid_on = issue + timedelta(days=rng.randint(1, max(1, (today - issue).days)))
        else:
            age = (today - due).days
            weight = 2.0 if age < 60 else 1.0 if age < 180 else 0.5  # old invoices were mostly paid in the end
            paid = rng.random() >= min(0.95, open_chance * weight)
            partial = not paid and rng.random() < 0.15
            if paid:
                paid_on = due + timedelta(days=rng.randint(early, late))
            else:
                paid_on = due + timedelta(days=rng.randint(0, age))
        paid_on = min(max(paid_on, issue), today)
        if paid or partial:
            amount = open_amount if paid else open_amount * rng.randint(10, 90) // 100
            extra = rng.randint(100, 5_000) if paid and rng.random() < 0.002 else 0  # an overpayment
            payment_id = self.payment_id()
            self.payment_rows.append(
                (
                    payment_id,
                    self.org_id,
                    debtor_id,
                    _money(amount + extra),
                    "EUR",
                    _money(extra),
                    paid_on,
                    "bank",
                    reference,
                    self.stamp(paid_on, 10),
                )
            )
            self.allocation(invoice_id, payment_id, None, amount, paid_on)
            open_amount -= amount
            if paid_on >= self.events_from:
                self.event(
                    EventKind.PAYMENT_BANK_BOOKED,
                    paid_on,
                    10,
                    k,
                    debtor_id,
                    None,
                    payment_id,
                    amount=_money(amount + extra),
                    currency="EUR",
                    reference=reference,
                )
                self.event(
                    EventKind.INVOICE_PAYMENT_ALLOCATED,
                    paid_on,
                    10,
                    k,
                    debtor_id,
                    invoice_id,
                    payment_id,
                    number=number,
                    amount=_money(amount),
                    currency="EUR",
                    open_amount=_money(open_amount),
                )
        return paid, paid_on, open_amount

    def credit_note_row(self, debtor_id: int, invoice_id: int, credit_note: tuple) -> None:
        credit_id, credit_number, credit_issue, credit_total, credit_open, status, credit_settled = credit_note
        self.invoice_rows.append(
            (
                credit_id,
                self.org_id,
                debtor_id,
                "credit_note",
                credit_number,
                credit_issue,
                None,
                "EUR",
                _money(credit_total),
                _money(credit_open),
                status,
                "",
                "demo",
                invoice_id,
                credit_settled,
                self.stamp(credit_issue, 11),
            )
        )

    def allocation(self, invoice_id: int, payment_id: int | None, credit_id: int | None, cents: int, on: date):
        self.allocation_rows.append(
            (self.org_id, invoice_id, payment_id, credit_id, "principal", _money(cents), self.stamp(on, 10))
        )

    def event(self, kind, day, hour, k, debtor_id, invoice_id, payment_id, **data) -> None:
        self.event_rows.append(
            (
                self.org_id,
                kind,
                debtor_id,
                invoice_id,
                payment_id,
                self.writer.data(data),
                self.stamp(day, hour, k % 60),
            )
        )
