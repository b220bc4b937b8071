"""Helpers and sample rows for the CSV import's tests."""

from pathlib import Path

from sqlalchemy import func, select

from portal.debtors.models import Debtor
from portal.events import Event
from portal.imports.models import ImportMapping
from portal.invoices.models import Invoice

DATA = Path(__file__).resolve().parent.parent / "data"
DUTCH = "Factuurnummer;Debiteurnummer;Klant;Factuurdatum;Vervaldatum;Bedrag;Betalingskenmerk"


def csv_file(*lines: str, encoding: str = "utf-8", newline: str = "\r\n") -> bytes:
    return (newline.join(lines) + newline).encode(encoding)


def counts(session, organisation) -> dict[str, int]:
    def count(model):
        return session.scalar(select(func.count()).select_from(model).where(model.organisation_id == organisation.id))

    return {m.__name__: count(m) for m in (Invoice, Debtor, Event, ImportMapping)}


def invoice(session, organisation, number: str, kind: str = "invoice") -> Invoice:
    return session.scalar(
        select(Invoice).where(
            Invoice.organisation_id == organisation.id, Invoice.number == number, Invoice.kind == kind
        )
    )


# A file with a bad row of each kind, and a few good ones; the comments give each row's line.
BAD = (
    DUTCH,
    "F-1;D1;Alpha;23-11-2026;23-12-2026;12,3x;",  # 2: bad amount
    "F-2;D1;Alpha;31-11-2026;23-12-2026;10,00;",  # 3: no such date
    ";D1;Alpha;23-11-2026;23-12-2026;10,00;",  # 4: no number
    "F-4;D1;Alpha;23-11-2026;22-11-2026;10,00;",  # 5: due before issue
    "F-5;D1;Alpha;23-11-2026;23-12-2026;10,00;",  # 6: fine
    "",  # 7: a blank line is skipped, but counts as a line
    "F-5;D1;Alpha;24-11-2026;24-12-2026;11,00;",  # 8: duplicate of row 6
    "F-OLD;D1;Alpha;23-11-2026;23-12-2026;10,00;",  # 9: already in the database
    'F-9;D1;"Alpha;23-11-2026;23-12-2026;10,00;',  # 10: a stray quote
    "F-10;D1;Alpha;23-11-2026;23-12-2026;10,00;;;",  # 11: trailing empty values are fine
    "F-11;D9;;23-11-2026;23-12-2026;10,00;",  # 12: unknown debtor without a name
    "F-12;D1;Alpha;23-11-2026;23-12-2026;-5,00;;x",  # 13: more values than columns
)
