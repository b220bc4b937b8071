"""The second pass over a CSV file: the checked rows stored as debtors, invoices and credit notes, all or nothing.

Inside a savepoint of the caller's transaction (the caller commits), a chunk of rows at a time: the documents are
inserted in bulk, as create_invoice() would store them one by one, and no ORM object is kept per row.
"""

from collections.abc import Callable, Iterable

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.debtors.models import Debtor
from portal.debtors.service import DebtorError, create_debtor, find_debtor
from portal.events import Event, EventKind
from portal.imports.csv_mapping import remember_mapping
from portal.imports.csv_parse import ParsedRow
from portal.imports.csv_read import CHUNK, chunks
from portal.imports.result import ImportRefused, ImportResult, RowError
from portal.invoices import references
from portal.invoices.models import Invoice
from portal.ledger.invoices import first_step
from portal.money import ZERO
from portal.organisations.models import Organisation

Progress = Callable[[int, int], None]

MAX_INVOICE_IDS = 1000  # ImportResult.invoice_ids holds the first ones only: a big file must not fill memory


def write_rows(
    session: Session,
    organisation_id: int,
    rows: Iterable[ParsedRow],
    *,
    new_debtors: dict[str, tuple[str, str]],
    mapping: dict[str, str],
    total: int,
    actor_user_id: int | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Store ``rows`` and remember ``mapping`` as the organisation's, or nothing (ImportRefused).

    ``new_debtors`` (debtor number -> name and e-mail) names the debtors to create for the rows' debtor numbers;
    ``progress(done, total)`` is called before the first row, after every CHUNK rows and once all is stored.
    """
    if progress:
        progress(0, total)
    done = 0
    try:
        with session.begin_nested():
            writer = _Writer(session, organisation_id, new_debtors, actor_user_id)
            for chunk in chunks(rows, CHUNK):
                writer.write(chunk)
                done += len(chunk)
                if progress and len(chunk) == CHUNK:  # a last, shorter chunk is reported once all is stored
                    progress(done, total)
            remember_mapping(session, organisation_id, mapping)
            session.flush()
    except IntegrityError as exc:
        # Another import or a user stored one of these numbers after the check: nothing of this file is kept.
        message = f"an invoice or debtor of this file was stored meanwhile; check the file again ({exc.orig})"
        raise ImportRefused([RowError(0, "", message)]) from None
    if progress:
        progress(done, total)
    return writer.result


class _Writer:
    """Creates the rows' debtors and documents a chunk at a time, as create_debtor and create_invoice would."""

    def __init__(
        self,
        session: Session,
        organisation_id: int,
        new_debtors: dict[str, tuple[str, str]],
        actor_user_id: int | None,
    ):
        self.session = session
        self.organisation_id = organisation_id
        self.first_step = first_step(session, organisation_id)
        self.new_debtors = new_debtors
        self.actor_user_id = actor_user_id
        self.scheme = session.scalar(select(Organisation.reference_scheme).where(Organisation.id == organisation_id))
        self.debtor_ids: dict[tuple[str, str], int] = {}
        self.result = ImportResult()

    def write(self, rows: list[ParsedRow]) -> None:
        """The chunk's documents, as create_invoice stores one: the same columns, reference and event.

        Inserted in bulk (create_invoice costs several statements a document; a file may hold a hundred thousand).
        tests/imports/test_csv_write.py holds the two side by side.
        """
        debtor_ids = [self.debtor_id(row) for row in rows]
        ids = self._allocate_ids(len(rows))
        documents, created = [], []
        for row, debtor_id, invoice_id in zip(rows, debtor_ids, ids, strict=True):
            documents.append(self._document(row, debtor_id, invoice_id))
            created.append(self._created_event(row, debtor_id, invoice_id))
            self._count(row, invoice_id)
        connection = self.session.connection()  # Core inserts: the ORM's bulk path adds a third for nothing here
        connection.execute(insert(Invoice.__table__), documents)
        connection.execute(insert(Event.__table__), created)

    def debtor_id(self, row: ParsedRow) -> int:
        """The id of the row's debtor: found by number (or, without one, by name), else created."""
        key = ("number", row.debtor_number) if row.debtor_number else ("name", row.debtor_name.lower())
        debtor_id = self.debtor_ids.get(key)
        if debtor_id is None:
            debtor = self._find_debtor(row) or self._create_debtor(row)
            debtor_id = self.debtor_ids[key] = debtor.id
        return debtor_id

    def _find_debtor(self, row: ParsedRow) -> Debtor | None:
        if row.debtor_number:
            return find_debtor(self.session, self.organisation_id, number=row.debtor_number)
        return find_debtor(self.session, self.organisation_id, name=row.debtor_name) or self.session.scalar(
            select(Debtor)  # SQLite's lower() leaves non-ASCII letters alone: find "Café Ünïcode" as written
            .where(Debtor.organisation_id == self.organisation_id, Debtor.name == row.debtor_name)
            .order_by(Debtor.id)
            .limit(1)
        )

    def _create_debtor(self, row: ParsedRow) -> Debtor:
        if row.debtor_number:  # named as on the file's first row that names this number
            name, email = self.new_debtors.get(row.debtor_number, (row.debtor_name, row.debtor_email))
        else:
            name, email = row.debtor_name, row.debtor_email
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
        return debtor

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

    def _document(self, row: ParsedRow, debtor_id: int, invoice_id: int) -> dict:
        """The row's invoices row, as create_invoice fills it."""
        open_amount = row.total if row.kind == "invoice" else -row.total
        reference = row.payment_reference
        if not reference and row.kind == "invoice":
            reference = references.generate(self.scheme, invoice_id)
        return {
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

    def _created_event(self, row: ParsedRow, debtor_id: int, invoice_id: int) -> dict:
        """The row's events row, as events.record() keeps it."""
        data = {"number": row.number, "total": row.total, "currency": row.currency, "source": "csv"}
        return {
            "organisation_id": self.organisation_id,
            "kind": EventKind.CREDIT_NOTE_CREATED if row.kind == "credit_note" else EventKind.INVOICE_CREATED,
            "debtor_id": debtor_id,
            "invoice_id": invoice_id,
            "payment_id": None,
            "actor_user_id": self.actor_user_id,
            "data": {k: v if isinstance(v, int | str | bool | None) else str(v) for k, v in data.items()},
        }

    def _count(self, row: ParsedRow, invoice_id: int) -> None:
        if row.kind == "invoice":
            self.result.invoices += 1
        else:
            self.result.credit_notes += 1
        if len(self.result.invoice_ids) < MAX_INVOICE_IDS:
            self.result.invoice_ids.append(invoice_id)
