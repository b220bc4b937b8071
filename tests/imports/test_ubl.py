"""UBL 2.1 import (Peppol BIS 3, NLCIUS): the public samples in tests/data, variants of them, and hostile XML."""

import base64
import threading
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from portal.debtors.models import Debtor
from portal.events import Event
from portal.imports import ubl
from portal.imports.result import ImportRefused
from portal.imports.ubl import import_ubl, parse_ubl
from portal.invoices.models import Invoice, InvoiceDocument
from portal.ledger.service import ledger_discrepancies
from tests.factories import make_debtor, make_invoice, make_organisation, make_user

DATA = Path(__file__).resolve().parent.parent / "data"
INVOICE = "base-example.xml"
CREDIT_NOTE = "base-creditnote-correction.xml"
NLCIUS = "SI-UBL-2.0_BR-NL-12_ok.xml"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
UBL_NS = (
    'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" '
    'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2" '
    'xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"'
)


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def variant(name: str, *replacements: tuple[str, str]) -> bytes:
    """A sample with some text replaced; each replaced text must be there, so a variant never silently equals it."""
    content = sample(name)
    for old, new in replacements:
        assert old.encode() in content, old
        content = content.replace(old.encode(), new.encode())
    return content


def refusal(content: bytes) -> ImportRefused:
    with pytest.raises(ImportRefused) as caught:
        parse_ubl(content)
    return caught.value


def counts(session, organisation_id: int) -> tuple[int, int, int]:
    return tuple(
        session.scalar(select(func.count()).select_from(model).where(model.organisation_id == organisation_id))
        for model in (Invoice, Debtor, Event)
    )


@pytest.fixture
def org(db_session):
    return make_organisation(db_session)


# Parsing the public samples


def test_peppol_invoice_is_read_with_its_values():
    doc = parse_ubl(sample(INVOICE))
    assert doc.kind == "invoice"
    assert doc.number == "Snippet1"
    assert doc.type_code == "380"
    assert doc.issue_date == date(2017, 11, 13)
    assert doc.due_date == date(2017, 12, 1)
    assert doc.currency == "EUR"
    assert doc.payable == Decimal("1656.25")
    assert doc.payment_reference == "Snippet1"
    assert doc.billing_reference == ""
    assert doc.pdf is None
    buyer = doc.buyer
    assert buyer.name == "Buyer Official Name"  # the legal name, not the trading name BuyerTradingName AS
    assert buyer.company_number == "39937423947"
    assert buyer.vat_number == "SE4598375937"
    assert buyer.email == "lj@buyer.se"
    assert buyer.address_lines == ("Hovedgatan 32", "Po box 878")
    assert buyer.address == "Hovedgatan 32, Po box 878"
    assert (buyer.postcode, buyer.city, buyer.country) == ("456 34", "Stockholm", "SE")


def test_peppol_credit_note_is_read_without_due_date_and_with_the_invoice_it_corrects():
    doc = parse_ubl(sample(CREDIT_NOTE))
    assert doc.kind == "credit_note"
    assert doc.number == "Snippet1"
    assert doc.type_code == "381"
    assert doc.issue_date == date(2017, 11, 13)
    assert doc.due_date is None
    assert doc.payable == Decimal("1656.25")  # positive: the kind says it is a credit
    assert doc.billing_reference == "Snippet1"
    assert doc.buyer.company_number == "39937423947"


def test_nlcius_invoice_is_read_with_kvk_number_and_free_text_payment_id():
    doc = parse_ubl(sample(NLCIUS))
    assert doc.customization_id.endswith("urn:fdc:nen.nl:nlcius:v1.0")
    assert doc.kind == "invoice"
    assert doc.number == "12115118"
    assert doc.issue_date == doc.due_date == date(2015, 1, 9)
    assert (doc.currency, doc.payable) == ("EUR", Decimal("227.00"))
    assert doc.payment_reference == "Deb. 10202 / Fact. 12115118"
    assert doc.buyer.name == "Ontvanger"
    assert doc.buyer.company_number == "11111111"  # schemeID 0106: KVK
    assert doc.buyer.vat_number == ""
    assert doc.buyer.email == ""
    assert (doc.buyer.postcode, doc.buyer.city, doc.buyer.country) == ("1111 AA", "Grotestad", "NL")


def test_amount_due_is_the_payable_amount_after_prepayment_not_the_tax_inclusive_total():
    content = variant(
        INVOICE,
        (
            '<cbc:PayableAmount currencyID="EUR">1656.25</cbc:PayableAmount>',
            '<cbc:PrepaidAmount currencyID="EUR">656.25</cbc:PrepaidAmount>'
            '<cbc:PayableAmount currencyID="EUR">1000.00</cbc:PayableAmount>',
        ),
    )
    doc = parse_ubl(content)
    assert doc.payable == Decimal("1000.00")


def test_a_payment_id_longer_than_a_reference_is_dropped():
    long_text = "Invoice Snippet1 for the consultancy days of November, thank you"
    doc = parse_ubl(
        variant(INVOICE, ("<cbc:PaymentID>Snippet1</cbc:PaymentID>", f"<cbc:PaymentID>{long_text}</cbc:PaymentID>"))
    )
    assert doc.payment_reference == ""


def test_trading_name_is_used_when_there_is_no_legal_name():
    content = variant(INVOICE, ("<cbc:RegistrationName>Buyer Official Name</cbc:RegistrationName>", ""))
    assert parse_ubl(content).buyer.name == "BuyerTradingName AS"


def test_elements_are_matched_by_namespace_not_by_name():
    # An ID in no namespace (or another one) is not the UBL cbc:ID.
    content = variant(
        INVOICE,
        ("<cbc:ID>Snippet1</cbc:ID>", '<ID xmlns="urn:example:not-ubl">Snippet1</ID>'),
        (
            "<cbc:IssueDate>2017-11-13</cbc:IssueDate>",
            '<cbc:IssueDate xmlns:cbc="urn:example">2017-11-13</cbc:IssueDate>',
        ),
    )
    fields = {e.field for e in refusal(content).errors}
    assert fields == {"cbc:ID", "cbc:IssueDate"}


def test_a_peppol_business_document_envelope_is_unwrapped():
    body = sample(INVOICE).split(b"?>", 1)[1]
    content = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<StandardBusinessDocument xmlns="http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader">'
        b"<StandardBusinessDocumentHeader><HeaderVersion>1.0</HeaderVersion></StandardBusinessDocumentHeader>"
        + body
        + b"</StandardBusinessDocument>"
    )
    assert parse_ubl(content).number == "Snippet1"


# Importing


def test_invoice_then_credit_note_leaves_the_invoice_settled(db_session, org):
    first = import_ubl(db_session, org.id, sample(INVOICE))
    assert (first.invoices, first.credit_notes, first.debtors_created, first.allocated) == (1, 0, 1, 0)
    invoice = db_session.get(Invoice, first.invoice_ids[0])
    assert invoice.source == "ubl"
    assert invoice.kind == "invoice"
    assert invoice.total == invoice.open_amount == Decimal("1656.25")
    assert invoice.due_date == date(2017, 12, 1)
    assert invoice.payment_reference == "SNIPPET1"  # stored normalised, as every reference is
    debtor = invoice.debtor
    assert debtor.name == "Buyer Official Name"
    assert (debtor.kind, debtor.language, debtor.country) == ("business", "en", "SE")
    assert (debtor.company_number, debtor.vat_number, debtor.email) == ("39937423947", "SE4598375937", "lj@buyer.se")
    assert (debtor.address, debtor.postcode, debtor.city) == ("Hovedgatan 32, Po box 878", "456 34", "Stockholm")

    second = import_ubl(db_session, org.id, sample(CREDIT_NOTE))
    assert (second.invoices, second.credit_notes, second.debtors_created, second.allocated) == (0, 1, 0, 1)
    credit_note = db_session.get(Invoice, second.invoice_ids[0])
    assert credit_note.kind == "credit_note"
    assert credit_note.total == Decimal("-1656.25")
    assert credit_note.open_amount == Decimal("0.00")
    assert credit_note.due_date is None
    assert credit_note.debtor_id == debtor.id
    assert credit_note.corrects_invoice_id == invoice.id
    db_session.refresh(invoice)
    assert invoice.open_amount == Decimal("0.00")
    assert invoice.status == "paid"
    assert ledger_discrepancies(db_session, org.id) == []


def test_nlcius_import_creates_a_dutch_debtor_and_keeps_the_payment_id(db_session, org):
    result = import_ubl(db_session, org.id, sample(NLCIUS), actor_user_id=None)
    invoice = db_session.get(Invoice, result.invoice_ids[0])
    assert (invoice.number, invoice.total, invoice.currency) == ("12115118", Decimal("227.00"), "EUR")
    assert invoice.payment_reference == "DEB.10202/FACT.12115118"
    assert (invoice.debtor.language, invoice.debtor.company_number) == ("nl", "11111111")
    created = db_session.scalars(select(Event.kind).where(Event.invoice_id == invoice.id)).all()
    assert created == ["invoice:created"]


def test_reimporting_the_same_file_is_refused_and_stores_nothing_more(db_session, org):
    import_ubl(db_session, org.id, sample(INVOICE))
    before = counts(db_session, org.id)
    with pytest.raises(ImportRefused) as caught:
        import_ubl(db_session, org.id, sample(INVOICE))
    [error] = caught.value.errors
    assert error.field == "cbc:ID"
    assert "Snippet1 already exists" in error.message
    assert counts(db_session, org.id) == before


def test_a_refused_document_leaves_no_new_debtor_behind(db_session, org):
    import_ubl(db_session, org.id, sample(INVOICE))
    before = counts(db_session, org.id)
    other_buyer = variant(
        INVOICE,
        (
            "<cbc:RegistrationName>Buyer Official Name</cbc:RegistrationName>",
            "<cbc:RegistrationName>Other BV</cbc:RegistrationName>",
        ),
        ('<cbc:CompanyID schemeID="0183">39937423947</cbc:CompanyID>', "<cbc:CompanyID>555</cbc:CompanyID>"),
        ("<cbc:CompanyID>SE4598375937</cbc:CompanyID>", "<cbc:CompanyID>NL000099998B57</cbc:CompanyID>"),
    )
    with pytest.raises(ImportRefused, match="already exists"):
        import_ubl(db_session, org.id, other_buyer)  # the new debtor was created, then undone with the invoice
    assert counts(db_session, org.id) == before
    assert db_session.scalar(select(Debtor).where(Debtor.name == "Other BV")) is None


def test_the_debtor_is_matched_for_the_next_document_of_the_same_buyer(db_session, org):
    first = import_ubl(db_session, org.id, sample(INVOICE))
    renamed = variant(
        INVOICE,
        ("<cbc:ID>Snippet1</cbc:ID>", "<cbc:ID>Snippet2</cbc:ID>"),
        # Matched on the legal id, however the name is spelled this time.
        (
            "<cbc:RegistrationName>Buyer Official Name</cbc:RegistrationName>",
            "<cbc:RegistrationName>BUYER AS</cbc:RegistrationName>",
        ),
    )
    second = import_ubl(db_session, org.id, renamed)
    assert second.debtors_created == 0
    one, two = (db_session.get(Invoice, r.invoice_ids[0]) for r in (first, second))
    assert one.debtor_id == two.debtor_id
    assert db_session.scalar(select(func.count()).select_from(Debtor).where(Debtor.organisation_id == org.id)) == 1


def test_an_existing_debtor_is_found_by_vat_number(db_session, org):
    debtor = make_debtor(db_session, org, name="Kund AB", vat_number="SE4598375937")
    result = import_ubl(db_session, org.id, sample(INVOICE))
    assert result.debtors_created == 0
    assert db_session.get(Invoice, result.invoice_ids[0]).debtor_id == debtor.id


def test_embedded_pdf_is_kept_with_the_invoice(db_session, org):
    payload = base64.encodebytes(PDF).decode()  # wrapped in lines, as senders do
    attachment = (
        "<cac:AdditionalDocumentReference><cbc:ID>Snippet1</cbc:ID>"
        '<cac:Attachment><cbc:EmbeddedDocumentBinaryObject mimeCode="image/png" filename="logo.png">'
        f"{base64.b64encode(b'not the invoice').decode()}</cbc:EmbeddedDocumentBinaryObject></cac:Attachment>"
        "</cac:AdditionalDocumentReference>"
        "<cac:AdditionalDocumentReference><cbc:ID>Snippet1</cbc:ID>"
        '<cac:Attachment><cbc:EmbeddedDocumentBinaryObject mimeCode="application/pdf" filename="../Snippet1.pdf">'
        f"\n{payload}</cbc:EmbeddedDocumentBinaryObject></cac:Attachment>"
        "</cac:AdditionalDocumentReference>"
    )
    content = variant(INVOICE, ("<cac:AccountingSupplierParty>", attachment + "<cac:AccountingSupplierParty>"))
    assert parse_ubl(content).pdf == ("Snippet1.pdf", PDF)
    result = import_ubl(db_session, org.id, content)
    document = db_session.scalar(select(InvoiceDocument).where(InvoiceDocument.invoice_id == result.invoice_ids[0]))
    assert document.filename == "Snippet1.pdf"
    assert document.content == PDF


@pytest.mark.parametrize(
    ("payload", "message"),
    [("%%% not base64 %%%", "not valid base64"), (base64.b64encode(b"MZ\x90\x00").decode(), "is not one")],
)
def test_a_broken_embedded_pdf_is_refused(payload, message):
    attachment = (
        "<cac:AdditionalDocumentReference><cbc:ID>1</cbc:ID><cac:Attachment>"
        f'<cbc:EmbeddedDocumentBinaryObject mimeCode="application/pdf" filename="a.pdf">{payload}'
        "</cbc:EmbeddedDocumentBinaryObject></cac:Attachment></cac:AdditionalDocumentReference>"
    )
    content = variant(INVOICE, ("<cac:AccountingSupplierParty>", attachment + "<cac:AccountingSupplierParty>"))
    [error] = refusal(content).errors
    assert message in error.message
    assert error.field.endswith("cbc:EmbeddedDocumentBinaryObject")


def test_credit_note_for_an_unknown_invoice_is_kept_as_credit(db_session, org):
    result = import_ubl(db_session, org.id, sample(CREDIT_NOTE))
    assert (result.credit_notes, result.allocated, result.debtors_created) == (1, 0, 1)
    credit_note = db_session.get(Invoice, result.invoice_ids[0])
    assert credit_note.corrects_invoice_id is None
    assert credit_note.open_amount == Decimal("1656.25")
    assert credit_note.status == "open"
    assert ledger_discrepancies(db_session, org.id) == []


def test_credit_note_for_our_invoice_goes_to_that_invoices_debtor(db_session, org):
    # The buyer is spelled in a way that matches no debtor: the invoice it corrects says whose it is.
    debtor = make_debtor(db_session, org, name="Kund AB")
    invoice = make_invoice(db_session, debtor, "2000.00", number="Snippet1", issue_date=date(2017, 11, 1))
    result = import_ubl(db_session, org.id, sample(CREDIT_NOTE))
    assert (result.debtors_created, result.allocated) == (0, 1)
    assert db_session.get(Invoice, result.invoice_ids[0]).debtor_id == debtor.id
    db_session.refresh(invoice)
    assert invoice.open_amount == Decimal("343.75")
    assert invoice.status == "open"
    assert ledger_discrepancies(db_session, org.id) == []


def test_a_fully_refunded_credit_note_still_names_the_invoice_it_corrects(db_session, org):
    first = import_ubl(db_session, org.id, sample(INVOICE))
    zero = variant(
        CREDIT_NOTE,
        (
            '<cbc:PayableAmount currencyID="EUR">1656.25',
            '<cbc:PrepaidAmount currencyID="EUR">1656.25</cbc:PrepaidAmount><cbc:PayableAmount currencyID="EUR">0.00',
        ),
    )
    result = import_ubl(db_session, org.id, zero)
    assert result.allocated == 0
    credit_note = db_session.get(Invoice, result.invoice_ids[0])
    assert (credit_note.open_amount, credit_note.status) == (Decimal("0.00"), "paid")
    assert credit_note.corrects_invoice_id == first.invoice_ids[0]
    assert db_session.get(Invoice, first.invoice_ids[0]).open_amount == Decimal("1656.25")
    assert ledger_discrepancies(db_session, org.id) == []


def test_credit_note_whose_buyer_is_another_debtor_than_the_invoices_is_refused(db_session, org):
    make_invoice(db_session, make_debtor(db_session, org, name="Kund AB"), number="Snippet1")
    make_debtor(db_session, org, name="Someone else", company_number="39937423947")
    before = counts(db_session, org.id)
    with pytest.raises(ImportRefused) as caught:
        import_ubl(db_session, org.id, sample(CREDIT_NOTE))
    [error] = caught.value.errors
    assert error.field == "cac:BillingReference"
    assert "corrects invoice Snippet1 of Kund AB" in error.message
    assert counts(db_session, org.id) == before


def test_imports_stay_within_their_organisation(db_session, org):
    other = make_organisation(db_session)
    import_ubl(db_session, other.id, sample(INVOICE))
    result = import_ubl(db_session, org.id, sample(INVOICE))  # the same number is free in another organisation
    assert result.debtors_created == 1
    credit = import_ubl(db_session, org.id, sample(CREDIT_NOTE))
    invoice = db_session.get(Invoice, result.invoice_ids[0])
    assert db_session.get(Invoice, credit.invoice_ids[0]).corrects_invoice_id == invoice.id
    assert ledger_discrepancies(db_session, other.id) == []


# Refused files


def test_malformed_xml_is_refused():
    [error] = refusal(sample(INVOICE)[:-30]).errors
    assert error.row == 0
    assert error.message.startswith("not well-formed XML")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"just text", "not well-formed XML"),
        (
            b'<Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2"/>',
            "not a UBL invoice or credit note: the root element is Order",
        ),
        (b"<Invoice><ID>1</ID></Invoice>", "the root element Invoice is not in the UBL namespace"),
        (
            b'<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"/>',
            "only UBL invoices and credit notes",
        ),
    ],
)
def test_a_file_that_is_no_ubl_document_is_refused(content, message):
    [error] = refusal(content).errors
    assert message in error.message
    assert str(error).startswith("file")


def test_every_missing_field_is_listed():
    content = f"<Invoice {UBL_NS}><cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode></Invoice>".encode()
    errors = refusal(content).errors
    assert {e.field for e in errors} == {
        "cbc:ID",
        "cbc:IssueDate",
        "cbc:DocumentCurrencyCode",
        "cac:LegalMonetaryTotal/cbc:PayableAmount",
        "cac:AccountingCustomerParty/cac:Party",
    }
    assert "the document has no number (cbc:ID)" in [e.message for e in errors]


def test_bad_values_are_all_listed():
    content = variant(
        INVOICE,
        ("<cbc:IssueDate>2017-11-13</cbc:IssueDate>", "<cbc:IssueDate>13-11-2017</cbc:IssueDate>"),
        (
            "<cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>",
            "<cbc:DocumentCurrencyCode>EURO</cbc:DocumentCurrencyCode>",
        ),
        (
            '<cbc:PayableAmount currencyID="EUR">1656.25</cbc:PayableAmount>',
            '<cbc:PayableAmount currencyID="EUR">1.656,25</cbc:PayableAmount>',
        ),
    )
    messages = {e.field: e.message for e in refusal(content).errors}
    assert messages == {
        "cbc:IssueDate": "the issue date is not a date (YYYY-MM-DD): '13-11-2017'",
        "cbc:DocumentCurrencyCode": "not a currency code (ISO 4217, e.g. EUR): 'EURO'",
        "cac:LegalMonetaryTotal/cbc:PayableAmount": "not an amount: '1.656,25'",
    }


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("<cbc:DocumentCurrencyCode>EUR", "<cbc:DocumentCurrencyCode>XYZ", "not a currency code"),
        ('PayableAmount currencyID="EUR">1656.25', 'PayableAmount currencyID="EUR">1656.255', "at most two decimals"),
        ('PayableAmount currencyID="EUR">1656.25', 'PayableAmount currencyID="EUR">-1656.25', "send a credit note"),
        ('PayableAmount currencyID="EUR">1656.25', 'PayableAmount currencyID="EUR">1e3', "not an amount"),
        ('PayableAmount currencyID="EUR">', 'PayableAmount currencyID="USD">', "in USD, the document in EUR"),
        ("<cbc:DueDate>2017-12-01", "<cbc:DueDate>2017-02-30", "the due date is not a date"),
        ("<cbc:DueDate>2017-12-01", "<cbc:DueDate>2017-11-01", "is before the issue date"),
    ],
)
def test_a_bad_value_is_refused_with_a_message(old, new, message):
    [error] = refusal(variant(INVOICE, (old, new))).errors
    assert message in error.message


def test_an_invoice_may_carry_its_due_date_on_the_payment_means():
    content = variant(
        INVOICE,
        ("<cbc:DueDate>2017-12-01</cbc:DueDate>", ""),
        ("<cbc:PaymentID>", "<cbc:PaymentDueDate>2017-12-05</cbc:PaymentDueDate><cbc:PaymentID>"),
    )
    assert parse_ubl(content).due_date == date(2017, 12, 5)


def test_an_invoice_without_a_due_date_is_due_after_the_statutory_30_days(client, auth, db_session, org):
    """No due date in the file (EN 16931 allows payment terms in words instead): the statutory term, 30 days from
    the invoice date (art. 6:119a BW), said in the import's outcome and on the invoice's timeline."""
    content = variant(INVOICE, ("<cbc:DueDate>2017-12-01</cbc:DueDate>", ""))
    assert parse_ubl(content).due_date == date(2017, 12, 13)  # issued 2017-11-13

    result = import_ubl(db_session, org.id, content)

    invoice = db_session.get(Invoice, result.invoice_ids[0])
    assert invoice.due_date == date(2017, 12, 13)
    assert "states no due date: due 2017-12-13, 30 days after its date" in result.summary()
    event = db_session.scalar(
        select(Event).where(Event.invoice_id == invoice.id, Event.kind == "invoice:due_date:statutory")
    )
    assert event.data["due_date"] == "2017-12-13"
    auth.login(make_user(db_session, org).email)
    page = client.get(f"/cockpit/invoices/{invoice.id}").text
    assert "stated no due date: due 13 Dec 2017, 30 days after its date (the statutory term)" in page


def test_an_invoice_addressed_to_the_organisation_itself_is_refused(db_session):
    """A purchase invoice (the organisation is its buyer) is not a claim to collect: refused, saying from whom."""
    buyer = make_organisation(db_session, name="buyer official name")  # the sample's buyer, spelt otherwise
    with pytest.raises(ImportRefused) as caught:
        import_ubl(db_session, buyer.id, sample(INVOICE))
    [error] = caught.value.errors
    assert "addressed to buyer official name itself" in error.message
    assert "one you received from SupplierOfficialName Ltd, not one to collect" in error.message
    assert counts(db_session, buyer.id) == (0, 0, 0)


def test_a_refused_import_stores_nothing(db_session, org):
    with pytest.raises(ImportRefused):
        import_ubl(db_session, org.id, variant(INVOICE, ("<cbc:IssueDate>2017-11-13", "<cbc:IssueDate>soon")))
    assert counts(db_session, org.id) == (0, 0, 0)


# Hostile XML: refused before anything outside the file is read


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE Invoice [\n <!ENTITY lol "lol">\n'
    + "".join(f' <!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">\n' for i in range(1, 10))
    + f"]>\n<Invoice {UBL_NS}><cbc:ID>&lol9;</cbc:ID></Invoice>\n"
).encode()


def external_entity(system_id: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM "{system_id}">]>\n'
        f"<Invoice {UBL_NS}><cbc:ID>&xxe;</cbc:ID><cbc:IssueDate>2017-11-13</cbc:IssueDate></Invoice>\n"
    ).encode()


def database_text(session) -> str:
    """Every text the import could have written, of every organisation in this test's transaction."""
    rows = [
        *session.execute(select(Invoice.number, Invoice.payment_reference)).all(),
        *session.execute(select(Debtor.name, Debtor.address, Debtor.city, Debtor.email)).all(),
        *session.execute(select(Event.kind, Event.data)).all(),
    ]
    return repr(rows)


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-7c1f9a")
    return path


@pytest.fixture
def http_server():
    """A local web server that counts the requests a parser makes to it."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # the name http.server calls
            requests.append(self.path)
            body = b'<!ENTITY xxe "FROM-THE-NETWORK">'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_billion_laughs_is_refused(db_session, org):
    with pytest.raises(ImportRefused) as caught:
        import_ubl(db_session, org.id, BILLION_LAUGHS)
    [error] = caught.value.errors
    assert (error.row, error.field) == (0, "")
    assert "declares a DTD" in error.message
    assert "lol" not in str(caught.value)
    assert counts(db_session, org.id) == (0, 0, 0)


def test_external_file_entity_is_refused_and_never_read(db_session, org, secret_file):
    content = external_entity(secret_file.as_uri())
    with pytest.raises(ImportRefused) as caught:
        import_ubl(db_session, org.id, content)
    assert "declares a DTD" in caught.value.errors[0].message
    assert "TOP-SECRET" not in str(caught.value)
    assert str(secret_file) not in str(caught.value)
    assert counts(db_session, org.id) == (0, 0, 0)
    assert "TOP-SECRET" not in database_text(db_session)


def test_etc_passwd_entity_is_refused():
    errors = refusal(external_entity("file:///etc/passwd")).errors
    assert "declares a DTD" in errors[0].message
    assert "root:" not in str(errors)


def test_network_entities_and_dtds_are_refused_without_a_request(db_session, org, http_server):
    base, requests = http_server
    entity = external_entity(f"{base}/entity")
    dtd = f'<?xml version="1.0"?>\n<!DOCTYPE Invoice SYSTEM "{base}/invoice.dtd">\n<Invoice {UBL_NS}/>'.encode()
    parameter = (
        f'<?xml version="1.0"?>\n<!DOCTYPE Invoice [<!ENTITY % remote SYSTEM "{base}/remote.dtd"> %remote;]>\n'
        f"<Invoice {UBL_NS}><cbc:ID>&xxe;</cbc:ID></Invoice>"
    ).encode()
    for content in (entity, dtd, parameter):
        with pytest.raises(ImportRefused, match="declares a DTD"):
            import_ubl(db_session, org.id, content)
    assert requests == []
    assert counts(db_session, org.id) == (0, 0, 0)
    assert "FROM-THE-NETWORK" not in database_text(db_session)


def test_the_tree_parser_itself_expands_nothing_and_fetches_nothing(secret_file, http_server):
    """The second line of defence, should the DOCTYPE check ever be bypassed: lxml as configured reads nothing."""
    base, requests = http_server
    for system_id in (secret_file.as_uri(), f"{base}/entity"):
        root = etree.fromstring(external_entity(system_id), ubl._lxml_parser())
        text = etree.tostring(root).decode()
        assert "TOP-SECRET" not in text and "FROM-THE-NETWORK" not in text
    dtd = f'<!DOCTYPE Invoice SYSTEM "{base}/invoice.dtd"><Invoice {UBL_NS}><cbc:ID>&xxe;</cbc:ID></Invoice>'
    etree.fromstring(dtd.encode(), ubl._lxml_parser())
    assert requests == []
    try:
        root = etree.fromstring(BILLION_LAUGHS, ubl._lxml_parser())
    except etree.XMLSyntaxError as exc:
        assert "amplification" in str(exc)  # libxml2 2.11+ refuses the bomb itself
    else:
        assert len(etree.tostring(root)) < 1000


def test_xinclude_is_not_processed(secret_file):
    content = variant(
        INVOICE,
        (
            "<cbc:ID>Snippet1</cbc:ID>",
            f'<cbc:ID>Snippet1<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{secret_file.as_uri()}" '
            'parse="text"/></cbc:ID>',
        ),
    )
    assert parse_ubl(content).number == "Snippet1"


def test_an_oversized_file_is_refused_before_parsing(monkeypatch):
    monkeypatch.setattr(ubl, "MAX_BYTES", 1000)
    [error] = refusal(sample(INVOICE)).errors
    assert "larger than" in error.message
