"""The debtor's invoices one by one (stored PDF or a page), and the organisation's colours under the CSP."""

import secrets
from datetime import date
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.invoices.models import InvoiceDocument
from portal.ledger.service import record_payment
from portal.links.service import new_link
from portal.selfservice import brand
from portal.types import utcnow
from tests.factories import make_debtor, make_invoice, make_organisation

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def own_address(client):
    """Opening links is rate limited per client address: these tests spend their own budget, not 127.0.0.1's."""
    client.environ_base["REMOTE_ADDR"] = f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


def _visit(client, db_session, debtor):
    """Open a link of the debtor's in this client, as the debtor's browser would."""
    url, link = new_link(debtor.organisation_id, debtor.id, "http://localhost", utcnow())
    db_session.add(link)
    db_session.flush()
    assert client.get(urlsplit(url).path).status_code == 303


def test_the_stored_pdf_is_served_inline_with_a_safe_name(client, db_session):
    organisation = make_organisation(db_session)
    debtor = make_debtor(db_session, organisation)
    invoice = make_invoice(db_session, debtor, "50.00", number='2026/07 "ü"', pdf=('x"\r\n.pdf', PDF))
    _visit(client, db_session, debtor)

    page = client.get("/s/")
    assert f'href="/s/invoices/{invoice.id}"' in page.text  # the number in the table links to it
    response = client.get(f"/s/invoices/{invoice.id}")

    assert response.status_code == 200 and response.data == PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == "inline; filename=2026-07.pdf"
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Referrer-Policy"] == "no-referrer"
    download = client.get(f"/s/invoices/{invoice.id}?download=1")
    assert download.headers["Content-Disposition"] == "attachment; filename=2026-07.pdf"


def test_a_stored_document_that_is_not_a_pdf_is_only_a_download(client, db_session):
    organisation = make_organisation(db_session)
    debtor = make_debtor(db_session, organisation)
    invoice = make_invoice(db_session, debtor, "50.00", number="HTML-1")
    db_session.add(
        InvoiceDocument(invoice_id=invoice.id, filename="x.html", content_type="text/html", content=b"<script>")
    )
    db_session.flush()
    _visit(client, db_session, debtor)

    response = client.get(f"/s/invoices/{invoice.id}")

    assert response.status_code == 200 and response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"] == "attachment; filename=HTML-1"


def test_without_a_pdf_the_invoice_is_a_page_with_what_was_paid_and_credited(client, db_session):
    organisation = make_organisation(db_session, name="Acme B.V.", iban="NL91ABNA0417164300")
    debtor = make_debtor(db_session, organisation, language="en")
    invoice = make_invoice(
        db_session,
        debtor,
        "121.00",
        number="VIEW-1",
        issue_date=date(2026, 3, 1),
        due_date=date(2026, 3, 15),
        payment_reference="RF18539007547034",
    )
    record_payment(
        db_session,
        organisation.id,
        debtor.id,
        Decimal("50.00"),
        "EUR",
        date(2026, 3, 20),
        allocations=[(invoice.id, Decimal("50.00"))],
    )
    credit = make_invoice(
        db_session, debtor, "-21.00", kind="credit_note", number="CN-9", corrects_invoice_id=invoice.id
    )
    _visit(client, db_session, debtor)

    page = client.get(f"/s/invoices/{invoice.id}")

    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.text
    assert "Invoice VIEW-1" in text and "Acme B.V." in text
    assert "1 March 2026" in text and "15 March 2026" in text and "RF18539007547034" in text
    assert "€121.00" in text  # the total
    assert "Payment received" in text and "20/03/2026" in text and "€50.00" in text
    assert "Credit note CN-9" in text and "€21.00" in text
    assert "To pay" in text and "€50.00" in text and "NL91ABNA0417164300" in text
    dutch = client.get(f"/s/invoices/{invoice.id}?lang=nl").text
    assert "Factuur VIEW-1" in dutch and "Betaling ontvangen" in dutch and "€\xa0121,00" in dutch
    used = client.get(f"/s/invoices/{credit.id}?lang=en").text
    assert "Credit note CN-9" in used and "Invoice VIEW-1" in used and "Credit left" in used


def test_another_debtors_or_organisations_invoice_is_not_found(client, db_session):
    organisation, elsewhere = make_organisation(db_session), make_organisation(db_session)
    debtor = make_debtor(db_session, organisation)
    neighbour = make_debtor(db_session, organisation)
    stranger = make_debtor(db_session, elsewhere)
    mine = make_invoice(db_session, debtor, "10.00", pdf=("mine.pdf", PDF))
    theirs = make_invoice(db_session, neighbour, "20.00", number="NEIGHBOUR-1", pdf=("theirs.pdf", PDF))
    foreign = make_invoice(db_session, stranger, "30.00", number="FOREIGN-1")

    assert client.get(f"/s/invoices/{mine.id}").status_code == 404  # no visit: the expired page
    _visit(client, db_session, debtor)
    assert client.get(f"/s/invoices/{mine.id}").status_code == 200
    for invoice_id in (theirs.id, foreign.id, foreign.id + 1000):
        response = client.get(f"/s/invoices/{invoice_id}")
        assert response.status_code == 404 and PDF not in response.data
        assert "NEIGHBOUR-1" not in response.text and "FOREIGN-1" not in response.text


def test_the_page_links_the_organisations_colours_as_a_stylesheet(client, db_session):
    organisation = make_organisation(db_session, brand_colour="#ffcc00")
    debtor = make_debtor(db_session, organisation)
    assert "--pico-primary-background: #1e6b52" in client.get("/s/brand.css").text  # no visit: Duly's own
    _visit(client, db_session, debtor)

    page = client.get("/s/")
    css = client.get("/s/brand.css")

    assert '<link rel="stylesheet" href="/s/brand.css">' in page.text
    assert "style=" not in page.text and "<style" not in page.text  # the CSP allows no inline style
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert "--pico-primary-background: #ffcc00;" in css.text
    assert "--pico-primary-inverse: #000000;" in css.text  # black on yellow reads; white would not
    link = css.text.split("--pico-primary: ")[1][:7]
    assert link != "#ffcc00" and brand.contrast(brand.parse(link), brand.LIGHT_PAGE) >= 4.5
    organisation.brand_colour = "#1a237e"
    db_session.flush()
    assert "--pico-primary-inverse: #ffffff;" in client.get("/s/brand.css").text


def test_a_colour_that_is_not_hex_never_reaches_the_css(client, db_session):
    organisation = make_organisation(db_session, brand_colour="red;}")  # past Settings' validation somehow
    _visit(client, db_session, make_debtor(db_session, organisation))
    css = client.get("/s/brand.css").text
    assert "red" not in css and "--pico-primary-background: #1e6b52;" in css


@given(st.tuples(*[st.integers(0, 255)] * 3))
def test_any_colour_gives_readable_buttons_and_links(rgb):
    inverse = brand.text_on(rgb)
    assert brand.contrast(inverse, rgb) >= 4.5
    for page in (brand.LIGHT_PAGE, brand.DARK_PAGE):
        assert brand.contrast(brand.readable_on(rgb, page), page) >= 4.5
    hover = brand.mix(rgb, brand.BLACK if inverse == brand.WHITE else brand.WHITE, 0.15)
    assert brand.contrast(inverse, hover) >= brand.contrast(inverse, rgb) - 1e-9


def test_the_invoice_page_shows_its_state_and_what_the_debtor_can_do(client, db_session):
    from portal.disputes import service as disputes

    organisation = make_organisation(db_session, name="Acme B.V.", mollie_api_key="test_" + "a" * 30)
    debtor = make_debtor(db_session, organisation, language="en")
    open_one = make_invoice(db_session, debtor, "50.00", number="S-1", days_overdue=3)
    disputed = make_invoice(db_session, debtor, "60.00", number="S-2", days_overdue=3)
    disputes.open_dispute(db_session, organisation, debtor, disputed.id, "wrong_amount", "")
    _visit(client, db_session, debtor)

    page = client.get(f"/s/invoices/{open_one.id}").text
    assert "Pay this invoice online" in page and "Dispute invoice S-1" in page
    disputed_page = client.get(f"/s/invoices/{disputed.id}").text
    assert "disputed" in disputed_page and "Pay this invoice online" not in disputed_page
