"""CSV import: reading real-world files (encodings, delimiters, Excel's sep line, stray quotes) or refusing them."""

from datetime import date
from decimal import Decimal

import pytest

from portal.imports.csv_import import import_csv, preview_csv
from portal.imports.csv_read import CsvFormat, read_table
from portal.imports.result import ImportRefused
from portal.invoices import references
from tests.imports.csv_files import DUTCH, csv_file, invoice


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252"])
def test_semicolons_decimal_commas_dutch_dates_in_utf8_with_bom_or_cp1252(db_session, org, encoding):
    content = csv_file(
        DUTCH,
        "F-2026-001;D100;Café Ünïcode B.V.;23-11-2026;23-12-2026;1.234,56;",
        "F-2026-002;D100;Café Ünïcode B.V.;01/12/2026;31/12/2026;1234,5;1234 5678 9012 3452",
        "F-2026-003;D200;Bäckerei Müller;2-12-2026;;-99,95;",
        encoding=encoding,
    )
    assert content.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
    headers, fmt = read_table(content)
    assert headers[0] == "Factuurnummer" and (fmt.delimiter, fmt.encoding) == (";", encoding)

    preview = preview_csv(db_session, org.id, content)
    assert preview.ok, preview.errors
    assert (preview.rows, preview.invoices, preview.credit_notes, preview.new_debtors) == (3, 2, 1, 2)
    assert preview.mapping == {
        "number": "Factuurnummer",
        "debtor_number": "Debiteurnummer",
        "debtor_name": "Klant",
        "issue_date": "Factuurdatum",
        "due_date": "Vervaldatum",
        "total": "Bedrag",
        "payment_reference": "Betalingskenmerk",
    }

    result = import_csv(db_session, org.id, content)
    assert result.summary() == "invoices=2 credit_notes=1 debtors_created=2 allocated=0"
    first = invoice(db_session, org, "F-2026-001")
    assert (first.total, first.open_amount, first.status) == (Decimal("1234.56"), Decimal("1234.56"), "open")
    assert (first.issue_date, first.due_date, first.currency, first.source) == (
        date(2026, 11, 23),
        date(2026, 12, 23),
        "EUR",
        "csv",
    )
    assert first.payment_reference == references.rf_reference(first.id)  # generated, as for a typed invoice
    assert first.debtor.name == "Café Ünïcode B.V." and first.debtor.number == "D100"
    second = invoice(db_session, org, "F-2026-002")
    assert (second.total, second.issue_date, second.payment_reference) == (
        Decimal("1234.50"),
        date(2026, 12, 1),
        "1234567890123452",
    )
    assert second.debtor_id == first.debtor_id
    credit = invoice(db_session, org, "F-2026-003", "credit_note")
    assert (credit.total, credit.open_amount, credit.due_date, credit.payment_reference) == (
        Decimal("-99.95"),
        Decimal("99.95"),
        None,
        "",
    )
    assert credit.debtor.name == "Bäckerei Müller"
    assert sorted(result.invoice_ids) == sorted([first.id, second.id, credit.id])


def test_commas_iso_dates_dot_decimals_and_a_kind_column(db_session, org):
    content = csv_file(
        "Invoice Number,Customer Number,Customer,Invoice Date,Due Date,Amount,Currency,Type,E-mail",
        'INV-1,C-1,"Acme, Inc.",2026-11-23,2026-12-23,"1,234.56",usd,Invoice,Billing@Acme.example',
        "INV-2,C-1,,2026-11-24,2026-12-24,10.5,USD,,",
        "CN-1,C-2,Globex,2026-11-25,,25.00,EUR,credit note,",
        newline="\n",
    )
    assert read_table(content)[1].delimiter == ","
    result = import_csv(db_session, org.id, content)
    assert (result.invoices, result.credit_notes, result.debtors_created) == (2, 1, 2)
    inv = invoice(db_session, org, "INV-1")
    assert (inv.total, inv.currency, inv.due_date) == (Decimal("1234.56"), "USD", date(2026, 12, 23))
    assert (inv.debtor.name, inv.debtor.email) == ("Acme, Inc.", "billing@acme.example")
    assert invoice(db_session, org, "INV-2").total == Decimal("10.50")
    credit = invoice(db_session, org, "CN-1", "credit_note")
    assert (credit.total, credit.currency, credit.status) == (Decimal("-25.00"), "EUR", "open")


def test_a_tab_separated_utf16_file_and_the_excel_sep_line(db_session, org):
    utf16 = "Factuurnummer\tKlant\tFactuurdatum\tVervaldatum\tBedrag\r\nT-1\tÉmile\t2026-01-05\t2026-02-05\t5,00\r\n"
    assert read_table(utf16.encode("utf-16"))[1] == CsvFormat("utf-16", "\t", 1)
    assert import_csv(db_session, org.id, utf16.encode("utf-16")).invoices == 1

    with_sep = csv_file("sep=,", "number,debtor,date,due,amount", "S-1,Someone,2026-01-05,2026-02-05,7.00")
    headers, fmt = read_table(with_sep)
    assert (headers[0], fmt.delimiter, fmt.header_line) == ("number", ",", 2)
    preview = preview_csv(db_session, org.id, csv_file("sep=,", "number,debtor,date,due,amount", "S-1,,x,,1.00"))
    assert {(e.row, e.field) for e in preview.errors} >= {(3, "debtor_number"), (3, "issue_date")}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"\n\r\n  \n", "the file is empty"),
        (b"PK\x03\x04\x14\x00\x06\x00", "spreadsheet"),
        (b"number;total\n\x81\x8d\x8f\x90\x9d;1\n", "not text in UTF-8 or Windows-1252"),
        (b"just one column\nF-1\n", "could not find the columns"),
    ],
)
def test_files_that_are_not_csv_are_refused_as_a_whole(db_session, org, content, message):
    with pytest.raises(ImportRefused) as refused:
        import_csv(db_session, org.id, content)
    assert [(e.row, e.field) for e in refused.value.errors] == [(0, "")]
    assert message in refused.value.errors[0].message
    preview = preview_csv(db_session, org.id, content)
    assert not preview.ok and message in preview.errors[0].message


def test_a_stray_quote_costs_only_its_own_row(db_session, org):
    content = csv_file(
        "number,debtor,date,due,amount",
        "Q-1,Acme,2026-01-05,2026-02-05,1.00",
        'Q-2,"Acme,2026-01-05,2026-02-05,2.00',
        'Q-3,"Ac"me,2026-01-05,2026-02-05,3.00',
        'Q-4,Ac"me,2026-01-05,2026-02-05,4.00',
        'Q-5,"Acme ""the best""",2026-01-05,2026-02-05,5.00',
    )
    preview = preview_csv(db_session, org.id, content)
    assert [(e.row, e.field) for e in preview.errors] == [(3, ""), (4, "")]
    assert "does not close on this line" in preview.errors[0].message
    assert "text follows a closing quote" in preview.errors[1].message
    assert preview.rows == 5 and [row.debtor_name for row in preview.sample] == [
        "Acme",
        'Ac"me',
        'Acme "the best"',
    ]
