"""CSV import: reading real-world files, the preview of every bad row, all or nothing, the remembered mapping."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.debtors.models import Debtor
from portal.events import Event
from portal.imports.csv_check import MAX_ERRORS
from portal.imports.csv_import import import_csv, preview_csv
from portal.imports.csv_mapping import FIELDS
from portal.imports.csv_parse import parse_csv_amount, parse_date
from portal.imports.csv_read import CsvFormat, read_table
from portal.imports.csv_write import MAX_INVOICE_IDS
from portal.imports.models import ImportMapping
from portal.imports.result import ImportRefused
from portal.imports.service import detect_format
from portal.invoices import references
from portal.invoices.models import Invoice
from portal.ledger.invoices import create_invoice
from portal.money import MoneyError
from tests.factories import make_debtor, make_invoice, make_organisation

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


@pytest.fixture
def org(db_session):
    return make_organisation(db_session)


# --- reading the file -------------------------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1.234,56", "1234.56"),
        ("1234,56", "1234.56"),
        ("1234.56", "1234.56"),
        ("1,234.56", "1234.56"),
        ("1.234.567,8", "1234567.80"),
        ("1,234,567", "1234567.00"),
        ("€ 1.234,56", "1234.56"),
        ("1 234,56", "1234.56"),
        ("-12,50", "-12.50"),
        ("(12.50)", "-12.50"),
        ("+7", "7.00"),
        ("0,5", "0.50"),
        ("100", "100.00"),
    ],
)
def test_amounts_with_a_decimal_comma_or_dot(text, amount):
    assert parse_csv_amount(text) == Decimal(amount)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.234", "ambiguous"),
        ("1,234", "ambiguous"),
        ("12,345", "ambiguous"),
        ("1,2345", "at most two decimals"),
        ("abc", "not an amount"),
        ("1.2.3", "not an amount"),
        ("1,234.567,8", "not an amount"),
        ("12.", "not an amount"),
        (",5", "not an amount"),
        ("--5", "not an amount"),
        ("1e5", "not an amount"),
    ],
)
def test_amounts_that_are_refused_rather_than_guessed(text, message):
    with pytest.raises(MoneyError, match=message):
        parse_csv_amount(text)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-11-23", date(2026, 11, 23)),
        ("2026-11-23 00:00:00", date(2026, 11, 23)),
        ("2026-11-23T10:15", date(2026, 11, 23)),
        ("23-11-2026", date(2026, 11, 23)),
        ("23/11/2026", date(2026, 11, 23)),
        ("23.11.2026", date(2026, 11, 23)),
        ("1-2-2026", date(2026, 2, 1)),
    ],
)
def test_iso_and_day_month_year_dates(text, day):
    assert parse_date(text) == day


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("31-02-2026", "no such date"),
        ("11/23/2026", "no such date"),
        ("23-11-26", "not a date"),
        ("23-11/2026", "not a date"),
        ("yesterday", "not a date"),
        ("0001-01-01", "out of range"),
    ],
)
def test_dates_that_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_date(text)


# --- bad rows: listed in the preview, refused as a whole ---------------------------------------------------------


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


def test_the_preview_lists_each_bad_row_with_its_line_and_reason(db_session, org):
    make_invoice(db_session, make_debtor(db_session, org, number="D0"), number="F-OLD")
    preview = preview_csv(db_session, org.id, csv_file(*BAD))

    assert not preview.ok
    found = [(e.row, e.field) for e in preview.errors]
    assert found == [
        (2, "total"),
        (3, "issue_date"),
        (4, "number"),
        (5, "due_date"),
        (8, "number"),
        (9, "number"),
        (10, ""),
        (12, "debtor_name"),
        (13, ""),
    ]
    messages = {e.row: e.message for e in preview.errors}
    assert "not an amount: '12,3x'" in messages[2]
    assert "no such date: '31-11-2026'" in messages[3]
    assert messages[4] == "no invoice number"
    assert messages[5] == "the due date is before the issue date"
    assert messages[8] == "invoice F-5 is also on row 6"
    assert messages[9] == "invoice F-OLD already exists"
    assert "quote" in messages[10]
    assert "debtor D9 is not known" in messages[12]
    assert "8 values where the header has 7 columns" in messages[13]
    assert str(preview.errors[0]) == "row 2 (total): not an amount: '12,3x'"
    assert preview.rows == 11 and preview.error_count == 9
    assert [row.number for row in preview.sample] == ["F-5", "F-OLD", "F-10", "F-11"]


def test_a_file_with_bad_rows_stores_nothing_and_the_fixed_file_imports(db_session, org):
    make_invoice(db_session, make_debtor(db_session, org, number="D0"), number="F-OLD")
    before = counts(db_session, org)

    with pytest.raises(ImportRefused) as refused:
        import_csv(db_session, org.id, csv_file(*BAD), progress=lambda done, total: pytest.fail("no progress"))
    assert [e.row for e in refused.value.errors] == [2, 3, 4, 5, 8, 9, 10, 12, 13]
    assert counts(db_session, org) == before

    fixed = (
        DUTCH,
        "F-1;D1;Alpha;23-11-2026;23-12-2026;12,30;",
        "F-2;D1;Alpha;30-11-2026;23-12-2026;10,00;",
        "F-3;D1;Alpha;23-11-2026;23-12-2026;10,00;",
        "F-4;D1;Alpha;23-11-2026;24-11-2026;10,00;",
        "F-5;D1;Alpha;23-11-2026;23-12-2026;10,00;",
        "",
        "F-6;D1;Alpha;24-11-2026;24-12-2026;11,00;",
        "F-9;D1;Alpha;23-11-2026;23-12-2026;10,00;",
        "F-10;D1;Alpha;23-11-2026;23-12-2026;10,00;;;",
        "F-11;D9;Nine;23-11-2026;23-12-2026;10,00;",
        "F-12;D1;Alpha;23-11-2026;;-5,00;",
    )
    result = import_csv(db_session, org.id, csv_file(*fixed))
    assert result.summary() == "invoices=9 credit_notes=1 debtors_created=2 allocated=0"
    after = counts(db_session, org)
    assert after["Invoice"] == before["Invoice"] + 10 and after["Debtor"] == before["Debtor"] + 2
    assert after["Event"] == before["Event"] + 12  # one per document and per new debtor
    assert after["ImportMapping"] == 1


def test_a_refusal_leaves_the_callers_transaction_alone(db_session, org):
    debtor = make_debtor(db_session, org)
    with pytest.raises(ImportRefused):
        import_csv(db_session, org.id, csv_file(DUTCH, "F-1;D1;Alpha;23-11-2026;23-12-2026;abc;"))
    assert db_session.get(Debtor, debtor.id) is debtor and debtor.name


def test_errors_are_capped_and_counted(db_session, org):
    rows = [f"F-{n};D1;Alpha;23-11-2026;23-12-2026;nope;" for n in range(250)]
    preview = preview_csv(db_session, org.id, csv_file(DUTCH, *rows))
    assert len(preview.errors) == MAX_ERRORS and preview.more_errors == 50
    assert preview.error_count == 250
    with pytest.raises(ImportRefused) as refused:
        import_csv(db_session, org.id, csv_file(DUTCH, *rows))
    assert len(refused.value.errors) == MAX_ERRORS + 1
    assert refused.value.errors[-1].message == "50 more error(s) not listed"
    assert refused.value.error_count == 250


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


def test_rows_that_do_not_say_what_they_are(db_session, org):
    content = csv_file(
        "number;debtor;date;due;amount;currency;kind;email;reference",
        "K-1;A;2026-01-05;2026-02-05;-1,00;;invoice;;",  # an invoice is not negative
        "K-2;A;2026-01-05;2026-02-05;1,00;;bill;;",  # unknown kind
        "K-3;A;2026-01-05;;1,00;;;;",  # an invoice needs a due date
        "K-4;A;2026-01-05;2026-02-05;1,00;EUX;;;",  # three letters, but no currency (ISO 4217)
        "K-5;A;2026-01-05;2026-02-05;1,00;;;not-an-address;",
        "K-6;A;2026-01-05;2026-02-05;1,00;;;;" + "R" * 36,
        "K-7;;2026-01-05;2026-02-05;1,00;;;;",  # no debtor at all
        "K-8;A;;2026-02-05;;;;;",  # no date, no amount
        "K-9;A;2026-01-05;;1,00;;Creditnota;;",  # a credit note needs no due date, and is stored negative
    )
    preview = preview_csv(db_session, org.id, content)
    assert [(e.row, e.field) for e in preview.errors] == [
        (2, "total"),
        (3, "kind"),
        (4, "due_date"),
        (5, "currency"),
        (6, "debtor_email"),
        (7, "payment_reference"),
        (8, "debtor_number"),
        (9, "issue_date"),
        (9, "total"),
    ]
    assert [(r.number, r.kind, r.total) for r in preview.sample] == [("K-9", "credit_note", Decimal("-1.00"))]


def test_a_header_without_rows_and_a_file_without_the_required_columns(db_session, org):
    assert [str(e) for e in preview_csv(db_session, org.id, csv_file(DUTCH)).errors] == [
        "file: the file has a header but no rows"
    ]
    preview = preview_csv(db_session, org.id, csv_file("Omschrijving;Klant", "x;y"))
    assert preview.headers == ["Omschrijving", "Klant"] and preview.mapping == {"debtor_name": "Klant"}
    assert [(e.row, e.field) for e in preview.errors] == [(0, "number"), (0, "issue_date"), (0, "total")]


# --- debtors ----------------------------------------------------------------------------------------------------


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


# --- mapping ----------------------------------------------------------------------------------------------------


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


# --- format detection -------------------------------------------------------------------------------------------


def test_the_format_is_detected_from_the_content():
    ubl = (DATA / "base-example.xml").read_bytes()
    assert detect_format("invoice.xml", ubl) == "ubl"
    assert detect_format("invoice.csv", ubl) == "ubl"  # the content decides
    assert detect_format("x", b'\xef\xbb\xbf  <Invoice xmlns="urn:oasis:names:specification:ubl">') == "ubl"
    assert detect_format("x", b"<ubl:CreditNote xmlns:ubl='urn:x'>") == "ubl"
    assert detect_format("invoices.xml", csv_file(DUTCH, "F-1;D1;A;1-1-2026;1-2-2026;1,00;")) == "csv"
    assert detect_format("x.csv", b"Invoice;Total\nF-1;1\n") == "csv"
