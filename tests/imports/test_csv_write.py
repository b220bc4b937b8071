"""CSV import: debtors matched or created, documents stored as create_invoice stores them, progress per chunk."""

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from portal.events import Event
from portal.imports.csv_import import import_csv, preview_csv
from portal.imports.csv_write import MAX_INVOICE_IDS
from portal.invoices import references
from portal.invoices.models import Invoice
from portal.ledger.invoices import create_invoice
from tests.factories import make_debtor, make_invoice, make_organisation
from tests.imports.csv_files import DUTCH, csv_file, invoice

# --- debtors ------------------------------------------------------------------------------------------------------


def test_debtors_are_matched_by_number_or_created(db_session, org):
    known = make_debtor(db_session, org, number="D1", name="Known Ltd")
    by_name = make_debtor(db_session, org, number="X9", name="Named Only")
    content = csv_file(
        DUTCH + ";E-mail",
        "M-1;D1;Another name for D1;23-11-2026;23-12-2026;1,00;;",
        "M-2;D2;;23-11-2026;23-12-2026;2,00;;",  # named on a later row
        "M-3;D2;New Two;23-11-2026;23-12-2026;3,00;;two@example.com",
        "M-4;;named only;23-11-2026;23-12-2026;4,00;;",  # no number: matched by name, whatever the case
        "M-5;;Fresh Name;23-11-2026;23-12-2026;5,00;;fresh@example.com",
        "M-6;;FRESH NAME;23-11-2026;23-12-2026;6,00;;",
    )
    preview = preview_csv(db_session, org.id, content)
    assert preview.ok and preview.new_debtors == 2
    result = import_csv(db_session, org.id, content)
    assert result.debtors_created == 2

    def debtor_of(number):
        return invoice(db_session, org, number).debtor

    assert debtor_of("M-1") is known and known.name == "Known Ltd"
    two = debtor_of("M-2")
    assert (two.number, two.name, two.email) == ("D2", "New Two", "two@example.com") and debtor_of("M-3") is two
    assert debtor_of("M-4") is by_name
    fresh = debtor_of("M-5")
    assert (fresh.number, fresh.name, fresh.email) == (None, "Fresh Name", "fresh@example.com")
    assert debtor_of("M-6") is fresh

    # The next file finds the debtors this one created.
    again = csv_file(DUTCH, "M-7;D2;;23-11-2026;23-12-2026;7,00;", "M-8;;Fresh Name;23-11-2026;23-12-2026;8,00;")
    assert import_csv(db_session, org.id, again).debtors_created == 0
    assert debtor_of("M-7") is two and debtor_of("M-8") is fresh


def test_a_non_ascii_name_is_matched_on_the_next_import_too(db_session, org):
    first = csv_file("Factuurnummer;Klant;Factuurdatum;Vervaldatum;Bedrag", "U-1;Café Ünïcode;1-1-2026;1-2-2026;1,00")
    second = csv_file("Factuurnummer;Klant;Factuurdatum;Vervaldatum;Bedrag", "U-2;Café Ünïcode;1-1-2026;1-2-2026;2,00")
    assert import_csv(db_session, org.id, first).debtors_created == 1
    assert import_csv(db_session, org.id, second).debtors_created == 0
    assert invoice(db_session, org, "U-1").debtor_id == invoice(db_session, org, "U-2").debtor_id


def test_other_organisations_are_invisible(db_session, org):
    other = make_organisation(db_session)
    make_invoice(db_session, make_debtor(db_session, other, number="D1"), number="F-1")
    result = import_csv(db_session, org.id, csv_file(DUTCH, "F-1;D1;Mine;23-11-2026;23-12-2026;1,00;"))
    assert result.debtors_created == 1
    assert invoice(db_session, org, "F-1").debtor.organisation_id == org.id


# --- how documents are stored -------------------------------------------------------------------------------------


def test_documents_are_stored_exactly_as_create_invoice_stores_them(db_session, org):
    """The import inserts in bulk; this holds it to create_invoice's columns, reference and event."""
    org.reference_scheme = "nl"
    debtor = make_debtor(db_session, org, number="P1")
    import_csv(
        db_session,
        org.id,
        csv_file(
            "number;debtor number;date;due;amount;reference;kind",
            "P-1;P1;2026-03-01;2026-03-31;100,00;;",
            "P-2;P1;2026-03-01;;-40,00;;",
            "P-3;P1;2026-03-01;2026-03-31;0,00;rf18 5390 0754 7034;",
            "P-4;P1;2026-03-01;;40,00;;credit note",
        ),
        actor_user_id=None,
    )
    typed = {
        "P-1": create_invoice(
            db_session,
            org.id,
            debtor.id,
            number="T-1",
            issue_date=date(2026, 3, 1),
            due_date=date(2026, 3, 31),
            total=Decimal("100.00"),
            source="csv",
        ),
        "P-2": create_invoice(
            db_session,
            org.id,
            debtor.id,
            number="T-2",
            issue_date=date(2026, 3, 1),
            total=Decimal("-40.00"),
            kind="credit_note",
            source="csv",
        ),
        "P-3": create_invoice(
            db_session,
            org.id,
            debtor.id,
            number="T-3",
            issue_date=date(2026, 3, 1),
            due_date=date(2026, 3, 31),
            total=Decimal("0.00"),
            payment_reference="rf18 5390 0754 7034",
            source="csv",
        ),
        "P-4": create_invoice(
            db_session,
            org.id,
            debtor.id,
            number="T-4",
            issue_date=date(2026, 3, 1),
            total=Decimal("40.00"),
            kind="credit_note",
            source="csv",
        ),
    }
    db_session.flush()
    db_session.expire_all()
    columns = [c.key for c in Invoice.__table__.columns if c.key not in ("id", "number", "created_at")]
    for number, expected in typed.items():
        kind = "credit_note" if number in ("P-2", "P-4") else "invoice"
        imported = invoice(db_session, org, number, kind)

        def row(doc):
            values = {c: getattr(doc, c) for c in columns}
            if doc.kind == "invoice" and not doc.payment_reference.startswith("RF"):  # generated from the id
                values["payment_reference"] = (
                    "generated",
                    doc.payment_reference == references.betalingskenmerk(doc.id),
                )
            return values

        assert row(imported) == row(expected), number
        assert imported.created_at is not None

        def event(doc):
            found = db_session.scalars(select(Event).where(Event.invoice_id == doc.id)).all()
            return [(e.kind, e.debtor_id, e.actor_user_id, {**e.data, "number": "-"}) for e in found]

        assert event(imported) == event(expected)
    assert invoice(db_session, org, "P-1").payment_reference != typed["P-1"].payment_reference


def test_progress_is_reported_every_chunk(db_session, org):
    rows = [f"G-{n};D1;Gee;2026-01-05;2026-02-05;1,00;" for n in range(1200)]
    calls = []
    result = import_csv(db_session, org.id, csv_file(DUTCH, *rows), progress=lambda *args: calls.append(args))
    assert calls == [(0, 1200), (500, 1200), (1000, 1200), (1200, 1200)]
    assert result.invoices == 1200 and len(result.invoice_ids) == MAX_INVOICE_IDS
    assert db_session.scalar(select(func.count()).where(Invoice.organisation_id == org.id)) == 1200
