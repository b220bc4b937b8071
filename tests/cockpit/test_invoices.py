import csv
import io
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from portal.invoices.models import Invoice
from portal.ledger.service import record_payment
from tests.conftest import csrf_from
from tests.factories import make_debtor, make_invoice


def test_enter_an_invoice_by_hand(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org)
    url = f"/cockpit/debtors/{debtor.id}/invoices/new"
    data = {
        "csrf_token": csrf_from(client.get(url).text),
        "number": "2026-100",
        "issue_date": "2026-11-01",
        "due_date": "2026-12-01",
        "total": "1.234,56",
        "currency": "EUR",
        "payment_reference": "",
    }
    response = client.post(url, data=data)
    assert response.status_code == 303
    invoice = db_session.scalar(select(Invoice).where(Invoice.number == "2026-100"))
    assert invoice.total == Decimal("1234.56") and invoice.open_amount == Decimal("1234.56")
    assert invoice.payment_reference.startswith("RF") and invoice.source == "manual"
    page = client.get(response.headers["Location"]).text
    assert "1.234,56" in page and invoice.payment_reference in page


def test_an_invoice_total_typed_the_english_way(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org)
    url = f"/cockpit/debtors/{debtor.id}/invoices/new"
    data = {
        "csrf_token": csrf_from(client.get(url).text),
        "number": "2026-101",
        "issue_date": "2026-11-01",
        "due_date": "2026-12-01",
        "total": "1,234.56",
        "currency": "EUR",
        "payment_reference": "",
    }
    assert client.post(url, data=data).status_code == 303
    invoice = db_session.scalar(select(Invoice).where(Invoice.number == "2026-101"))
    assert invoice.total == Decimal("1234.56") and invoice.open_amount == Decimal("1234.56")


def test_invoice_form_errors(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org)
    make_invoice(db_session, debtor, "1.00", number="DUP")
    url = f"/cockpit/debtors/{debtor.id}/invoices/new"
    base = {
        "csrf_token": csrf_from(client.get(url).text),
        "number": "N1",
        "issue_date": "2026-11-01",
        "due_date": "2026-12-01",
        "total": "10.00",
        "currency": "EUR",
    }
    for change, message in [
        ({"total": "12,345"}, "Ambiguous amount"),  # twelve thousand, or twelve and a bit?
        ({"total": "12,3456"}, "two decimals"),
        ({"total": "ten"}, "Not an amount"),
        ({"due_date": "2026-10-01"}, "before the issue date"),
        ({"number": "DUP"}, "already exists"),
        ({"issue_date": "31-31-2026"}, "Not a valid date"),
        ({"currency": "EUX"}, "Not a currency code (ISO 4217"),  # three letters, but no currency
    ]:
        response = client.post(url, data={**base, **change})
        assert response.status_code == 422, change
        assert message in response.text, change
    assert db_session.scalar(select(Invoice).where(Invoice.number == "N1")) is None


def test_edit_total_keeps_what_was_paid(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org)
    invoice = make_invoice(db_session, debtor, "100.00", number="E1")
    record_payment(db_session, org.id, debtor.id, Decimal("60.00"), "EUR", org.today(), auto_allocate=True)
    url = f"/cockpit/invoices/{invoice.id}/edit"
    data = {
        "csrf_token": csrf_from(client.get(url).text),
        "number": "E1",
        "issue_date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "total": "50.00",
    }
    response = client.post(url, data=data)
    assert response.status_code == 422 and "already been paid" in response.text
    data["total"] = "120.00"
    assert client.post(url, data=data).status_code == 303
    db_session.refresh(invoice)
    assert (invoice.total, invoice.open_amount) == (Decimal("120.00"), Decimal("60.00"))


def test_invoice_list_filters_and_search(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org, name="Filter Debtor")
    not_due = make_invoice(
        db_session, debtor, "1.00", number="NOTDUE", due_date=org.today() + timedelta(days=5), issue_date=org.today()
    )
    late = make_invoice(db_session, debtor, "2.00", number="LATE45", days_overdue=45)
    paid = make_invoice(db_session, debtor, "3.00", number="PAID1", days_overdue=10)
    record_payment(
        db_session, org.id, debtor.id, Decimal("3.00"), "EUR", org.today(), allocations=[(paid.id, Decimal("3.00"))]
    )
    make_invoice(db_session, debtor, "4.00", number="CN9", kind="credit_note")

    def numbers(url):
        text = client.get(url).text
        return {n for n in ("NOTDUE", "LATE45", "PAID1", "CN9") if f">{n}<" in text}

    assert numbers("/cockpit/invoices") == {"NOTDUE", "LATE45"}
    assert numbers("/cockpit/invoices?status=overdue") == {"LATE45"}
    assert numbers("/cockpit/invoices?status=paid") == {"PAID1"}
    assert numbers("/cockpit/invoices?status=credit_notes") == {"CN9"}
    assert numbers("/cockpit/invoices?status=open&age=31_60") == {"LATE45"}
    assert numbers("/cockpit/invoices?status=open&age=not_due") == {"NOTDUE"}
    assert numbers("/cockpit/invoices?status=all&q=LATE") == {"LATE45"}
    assert numbers(f"/cockpit/invoices?status=all&q={not_due.payment_reference}") == {"NOTDUE"}
    assert numbers(f"/cockpit/invoices?status=all&q={late.payment_reference.lower()}") == {"LATE45"}
    assert numbers("/cockpit/invoices?status=bogus&age=bogus&page=-3") == {"NOTDUE", "LATE45"}


def test_csv_download_neutralises_formulas_and_keeps_numbers(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org, name='=HYPERLINK("http://evil.example","x")')
    make_invoice(db_session, debtor, "1234.50", number="@SUM(A1)")
    make_invoice(db_session, debtor, "-20.00", number="+CN", kind="credit_note")
    response = client.get("/cockpit/invoices.csv?status=all")
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["number", "kind", "debtor"]
    by_number = {row[0]: row for row in rows[1:]}
    assert by_number["'@SUM(A1)"][2] == '\'=HYPERLINK("http://evil.example","x")'
    assert by_number["'@SUM(A1)"][6] == "1234.50"
    assert by_number["'+CN"][6] == "-20.00"  # amounts stay numbers, the minus sign untouched
    debtors = client.get("/cockpit/debtors.csv").text
    assert "'=HYPERLINK" in debtors


def test_overview_ageing_and_owing_most(client, db_session, org, signed_in):
    big = make_debtor(db_session, org, name="Big Owner")
    small = make_debtor(db_session, org, name="Small Owner")
    make_invoice(db_session, big, "1000.00", days_overdue=95)
    make_invoice(db_session, big, "200.00", days_overdue=15)
    make_invoice(db_session, small, "30.00", due_date=org.today() + timedelta(days=3), issue_date=org.today())
    make_invoice(db_session, small, "40.00", days_overdue=61)
    page = client.get("/cockpit/").text
    legend = page[page.index('class="legend"') :]
    for label, amount in [
        ("Not yet due", "30,00"),
        ("1-30 days", "200,00"),
        ("31-60 days", "0,00"),
        ("61-90 days", "40,00"),
        ("91+ days", "1.000,00"),
    ]:
        chunk = legend[legend.index(label) :]
        assert amount in chunk[: chunk.index("</li>")], label
    owing = page[page.index("Owing most") :]
    assert owing.index("Big Owner") < owing.index("Small Owner")


def test_search_finds_an_invoice_whatever_its_status(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org)
    paid = make_invoice(db_session, debtor, "5.00", number="FOUND-ME")
    record_payment(db_session, org.id, debtor.id, Decimal("5.00"), "EUR", org.today(), auto_allocate=True)
    assert paid.status == "paid"
    assert ">FOUND-ME<" in client.get("/cockpit/invoices?q=FOUND-ME").text
    assert ">FOUND-ME<" not in client.get("/cockpit/invoices?status=open&q=FOUND-ME").text


def test_the_cockpit_writes_dutch_amounts_and_english_dates_for_a_dutch_organisation(
    client, db_session, org, signed_in
):
    """The cockpit's words are English: with "nl" chosen, amounts and the order of dates are Dutch, the names of
    months are those of the words around them (no "december" in an English sentence)."""
    assert org.locale == "nl"
    invoice = make_invoice(db_session, make_debtor(db_session, org), "1656.25", number="LOC-1")
    invoice.issue_date, invoice.due_date = date(2026, 11, 13), date(2026, 12, 13)
    db_session.flush()
    page = client.get(f"/cockpit/invoices/{invoice.id}").text.replace("\xa0", " ")
    assert "€ 1.656,25" in page
    assert "Dec 2026" in page or "December 2026" in page or "13/12/2026" in page
    assert "dec 2026" not in page and "december 2026" not in page
    org.locale = "en"
    db_session.flush()
    assert "€1,656.25" in client.get(f"/cockpit/invoices/{invoice.id}").text
