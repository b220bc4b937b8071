"""The EPC QR code on the debtor's page: the organisation's account, the amount open, the reference."""

from decimal import Decimal

from portal.ledger.transfer import transfer_fields
from tests.factories import make_debtor, make_invoice, make_organisation
from tests.selfservice.test_links import _link


def test_one_invoice_with_an_rf_reference_is_a_structured_transfer(db_session):
    organisation = make_organisation(db_session, name="Acme B.V.", iban="NL91ABNA0417164300", bic="ABNANL2A")
    debtor = make_debtor(db_session, organisation)
    invoice = make_invoice(db_session, debtor, "121.50", number="Q-1")
    assert invoice.payment_reference.startswith("RF")
    assert transfer_fields(organisation, [invoice]) == {
        "name": "Acme B.V.",
        "iban": "NL91ABNA0417164300",
        "bic": "ABNANL2A",
        "amount": Decimal("121.50"),
        "reference": invoice.payment_reference,
        "text": None,
    }


def test_several_invoices_are_named_in_the_text_and_foreign_currency_left_out(db_session):
    organisation = make_organisation(db_session, iban="NL91ABNA0417164300", reference_scheme="nl")
    debtor = make_debtor(db_session, organisation)
    first = make_invoice(db_session, debtor, "10.00", number="Q-1")
    second = make_invoice(db_session, debtor, "5.25", number="Q-2")
    dollars = make_invoice(db_session, debtor, "99.00", number="Q-3", currency="USD")
    fields = transfer_fields(organisation, [first, second, dollars])
    assert fields["amount"] == Decimal("15.25") and fields["reference"] is None
    assert fields["text"] == f"{first.payment_reference} {second.payment_reference}"
    assert transfer_fields(organisation, [dollars]) is None
    organisation.iban = ""
    assert transfer_fields(organisation, [first]) is None


def test_the_page_shows_the_code(client, db_session):
    organisation = make_organisation(db_session, iban="NL91ABNA0417164300")
    debtor = make_debtor(db_session, organisation, language="en")
    make_invoice(db_session, debtor, "10.00", number="Q-1", days_overdue=1)
    client.get(_link(db_session, debtor))
    page = client.get("/s/").text
    assert 'class="epc-qr"' in page and "Scan with your banking app" in page


def test_the_payload_follows_epc069_12():
    from portal.epc import payload

    structured = payload(
        {
            "name": "Acme B.V.",
            "iban": "NL91 ABNA 0417 1643 00",
            "bic": "ABNANL2A",
            "amount": "121.5",
            "reference": "RF18539007547034",
            "text": None,
        }
    )
    # Service tag, version 002, UTF-8, SEPA credit transfer, BIC, name, IBAN, EUR amount, purpose, reference.
    assert structured == "BCD\n002\n1\nSCT\nABNANL2A\nAcme B.V.\nNL91ABNA0417164300\nEUR121.50\n\nRF18539007547034"
    unstructured = payload(
        {
            "name": "Acme B.V.",
            "iban": "NL91ABNA0417164300",
            "bic": None,
            "amount": "15.25",
            "reference": None,
            "text": "A-1 A-2",
        }
    )
    # No reference: its line stays empty and the text follows it.
    assert unstructured == "BCD\n002\n1\nSCT\n\nAcme B.V.\nNL91ABNA0417164300\nEUR15.25\n\n\nA-1 A-2"
