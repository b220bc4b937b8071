"""CSV import: the column mapping, guessed, remembered for the next file, and chosen on the preview."""

from sqlalchemy import select

from portal.imports.csv_import import import_csv, preview_csv
from portal.imports.csv_mapping import FIELDS
from portal.imports.models import ImportMapping
from tests.imports.csv_files import DUTCH, csv_file, invoice

CUSTOM = "Doc;Cust no;Cust;Dated;Pay by;Sum incl;Memo"
CUSTOM_MAPPING = {
    "number": "Doc",
    "debtor_number": "Cust no",
    "debtor_name": "Cust",
    "issue_date": "Dated",
    "due_date": "Pay by",
    "total": "Sum incl",
}


def test_the_mapping_is_remembered_and_used_for_the_next_file(db_session, org):
    first = csv_file(CUSTOM, "C-1;K1;Kay;2026-01-05;2026-02-05;1,00;hello")
    preview = preview_csv(db_session, org.id, first)
    assert {e.field for e in preview.errors} == {"number", "issue_date", "total", "debtor_number"}
    assert preview.ok is False and preview.rows == 0  # nothing read until the columns are known

    assert preview_csv(db_session, org.id, first, mapping=CUSTOM_MAPPING).ok
    assert db_session.scalar(select(ImportMapping).where(ImportMapping.organisation_id == org.id)) is None
    import_csv(db_session, org.id, first, mapping=CUSTOM_MAPPING)
    stored = db_session.scalar(select(ImportMapping).where(ImportMapping.organisation_id == org.id))
    assert (stored.kind, stored.mapping) == ("csv", CUSTOM_MAPPING)

    second = csv_file(CUSTOM, "C-2;K1;Kay;2026-01-06;2026-02-06;2,00;")
    assert preview_csv(db_session, org.id, second).mapping == CUSTOM_MAPPING
    assert import_csv(db_session, org.id, second).invoices == 1
    assert invoice(db_session, org, "C-2").debtor_id == invoice(db_session, org, "C-1").debtor_id

    # A file with the usual headers still works: remembered headers that it lacks give way to the guesses.
    assert import_csv(db_session, org.id, csv_file(DUTCH, "C-3;K1;Kay;6-1-2026;6-2-2026;3,00;")).invoices == 1
    stored = db_session.scalar(select(ImportMapping).where(ImportMapping.organisation_id == org.id))
    assert stored.mapping["number"] == "Factuurnummer"


def test_an_explicit_mapping_overrides_and_is_checked(db_session, org):
    content = csv_file(DUTCH + ";Referentie", "E-1;D1;Eve;2026-01-05;2026-02-05;1,00;IGNORED;RF18539007547034")
    mapping = {"payment_reference": "referentie", "debtor_number": None}  # case-insensitive; None unmaps a guess
    preview = preview_csv(db_session, org.id, content, mapping=mapping)
    assert preview.ok and preview.mapping["payment_reference"] == "Referentie"
    assert "debtor_number" not in preview.mapping
    import_csv(db_session, org.id, content, mapping=mapping)
    imported = invoice(db_session, org, "E-1")
    assert (imported.payment_reference, imported.debtor.number) == ("RF18539007547034", None)

    swapped = preview_csv(db_session, org.id, content, mapping={"debtor_name": "Debiteurnummer"})
    assert swapped.mapping["debtor_name"] == "Debiteurnummer" and "debtor_number" not in swapped.mapping
    assert [r.debtor_name for r in swapped.sample] == ["D1"]

    wrong = preview_csv(db_session, org.id, content, mapping={"number": "Nope", "colour": "Klant"})
    assert [(e.field, e.message) for e in wrong.errors] == [
        ("number", "the file has no column 'Nope'"),
        ("colour", f"unknown field 'colour'; fields are {', '.join(FIELDS)}"),
    ]


def test_a_header_without_rows_and_a_file_without_the_required_columns(db_session, org):
    assert [str(e) for e in preview_csv(db_session, org.id, csv_file(DUTCH)).errors] == [
        "file: the file has a header but no rows"
    ]
    preview = preview_csv(db_session, org.id, csv_file("Omschrijving;Klant", "x;y"))
    assert preview.headers == ["Omschrijving", "Klant"] and preview.mapping == {"debtor_name": "Klant"}
    assert [(e.row, e.field) for e in preview.errors] == [(0, "number"), (0, "issue_date"), (0, "total")]
