"""The letter channel: a reminder as a printable A4 PDF, its text the mail's, everything in it printed literally."""

from io import BytesIO

import pytest
from babel.dates import format_date
from pypdf import PdfReader
from sqlalchemy import select

from portal.reminders import letter as letter_module
from portal.reminders.letter import letter_pdf, segments
from portal.reminders.models import Reminder
from portal.reminders.planning import plan
from portal.reminders.render import render
from portal.scenarios.models import Scenario, Step
from tests.factories import make_debtor, make_invoice, make_organisation, make_user


def _text(pdf: bytes) -> str:
    """The PDF's text with its whitespace (line breaks, the table's padding) folded to single spaces."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages).split())


@pytest.fixture
def letter(db_session):
    """A Dutch consumer's first overdue reminder, a letter step that adds costs and interest: the 14-day letter."""
    organisation = make_organisation(
        db_session,
        name="Acme Supplies B.V.",
        iban="NL91ABNA0417164300",
        bic="ABNANL2A",
        sender_name="Els de Vries",
        sender_email="debiteuren@acme.example",
        brand_colour="#7a1f5c",
        law_business="nl",
        law_consumer="nl",
    )
    debtor = make_debtor(
        db_session,
        organisation,
        name="Jansen Installatietechniek",
        kind="consumer",
        language="nl",
        address="Dorpsstraat 12",
        postcode="1234 AB",
        city="Utrecht",
        contacts=[{"role": "dunning", "name": "Piet Jansen", "email": "piet@example.com"}],
    )
    make_invoice(db_session, debtor, "1210.00", number="2025-0417", days_overdue=10)
    make_invoice(db_session, debtor, "86.50", number="2025-0433", days_overdue=9)
    today = organisation.today()
    plan(db_session, organisation.id, today=today, first=today)
    for step in db_session.scalars(
        select(Step).join(Scenario).where(Scenario.organisation_id == organisation.id, Step.offset_days > 0)
    ):
        step.adds_costs = step.adds_interest = True
        step.channel = "letter"
    reminder = db_session.scalar(select(Reminder).where(Reminder.debtor_id == debtor.id))
    db_session.flush()
    return organisation, reminder, [item.invoice for item in reminder.items]


def test_the_letter_is_a_pdf_with_the_address_the_invoices_and_the_reminders_text(db_session, letter, artifacts_dir):
    organisation, reminder, invoices = letter
    today = organisation.today()
    pdf = letter_pdf(db_session, organisation, reminder, invoices, today)
    (artifacts_dir / "reminder-letter.pdf").write_bytes(pdf)

    assert pdf.startswith(b"%PDF")
    text = _text(pdf)
    rendered = render(db_session, organisation, reminder, invoices, on=today)
    assert rendered.channel == "letter" and rendered.charges.notice is not None
    assert "Jansen Installatietechniek" in text and "t.a.v. Piet Jansen" in text
    assert "Dorpsstraat 12" in text and "1234 AB Utrecht" in text
    assert "2025-0417" in text and "2025-0433" in text
    assert " ".join(rendered.subject.split()) in text
    assert format_date(today, "long", locale="nl_NL") in text
    assert "NL91ABNA0417164300" in text and "ABNANL2A" in text and "debiteuren@acme.example" in text
    # The consumer's 14-day paragraph is Duly's own and is on paper too.
    assert "binnen 14 dagen na ontvangst" in text
    assert "Pagina 1 van 1" in text


def test_supplier_and_debtor_text_is_printed_literally(db_session, letter):
    organisation, reminder, invoices = letter
    reminder.debtor.name = "<b>Bold</b> & Co"
    # check_text refuses template syntax in a step's text; an edit stored before that check must still be harmless.
    reminder.custom_subject = "Betreft {{ 7*7 }}"
    reminder.custom_body = "Beste {contact_name},\n\n{{ 7*7 }} {% if 1 %}yes{% endif %}\n<script>alert(1)</script>"
    db_session.flush()

    text = _text(letter_pdf(db_session, organisation, reminder, invoices, organisation.today()))

    assert "<b>Bold</b> & Co" in text
    assert "Betreft {{ 7*7 }}" in text and "{{ 7*7 }} {% if 1 %}yes{% endif %}" in text
    assert "<script>alert(1)</script>" in text
    # Rendered as a template it would read "49 yes"; a bare "49" may stand in a date or an amount.
    assert "49 yes" not in text and "Beste Piet Jansen" in text


def test_the_letter_may_fetch_nothing_but_data_uris(db_session, letter, monkeypatch):
    """Nothing in a letter should point anywhere, but if markup ever did, WeasyPrint may not open files or URLs."""
    organisation, reminder, invoices = letter
    seen = {}

    def html(**kwargs):
        seen.update(kwargs)
        return real_html(**kwargs)

    real_html = letter_module.HTML
    monkeypatch.setattr(letter_module, "HTML", html)
    letter_pdf(db_session, organisation, reminder, invoices, organisation.today())

    fetch = seen["url_fetcher"]
    for url in ("file:///etc/passwd", "http://127.0.0.1/x.css", "https://example.com/logo.png"):
        with pytest.raises(ValueError, match="disallowed protocol"):
            fetch(url)
    assert fetch("data:text/plain,ok").read() == b"ok"


def test_the_invoice_table_is_set_apart_from_the_prose():
    body = "Dear Ann,\n\nPlease pay:\nInvoice  Date\nA-1      1 May\n\nThanks.  Really.\nKind regards"
    assert segments(body) == [
        (False, "Dear Ann,\n\nPlease pay:"),
        (True, "Invoice  Date\nA-1      1 May"),
        (False, "Thanks.  Really.\nKind regards"),
    ]


def test_the_cockpit_offers_the_letter_and_serves_it_as_a_pdf(client, auth, db_session, letter):
    organisation, reminder, _ = letter
    auth.login(make_user(db_session, organisation, role="viewer").email)

    page = client.get(f"/cockpit/reminders/{reminder.id}").text
    assert f'href="/cockpit/reminders/{reminder.id}/letter.pdf" hx-boost="false" download>Letter (PDF)' in page
    assert "This step is a letter" in page and "A letter for you to post:" in page

    response = client.get(f"/cockpit/reminders/{reminder.id}/letter.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="reminder-{reminder.id}.pdf"'
    assert response.data.startswith(b"%PDF") and "2025-0417" in _text(response.data)


def test_a_reminder_without_invoices_has_no_letter(client, auth, db_session, letter):
    organisation, reminder, _ = letter
    empty = Reminder(
        organisation_id=organisation.id,
        debtor_id=reminder.debtor_id,
        send_on=reminder.send_on,
        send_at=reminder.send_at,
        status="skipped",  # (one planned reminder per debtor)
        step_position=1,
    )
    db_session.add(empty)
    db_session.flush()
    auth.login(make_user(db_session, organisation).email)
    assert "Letter (PDF)" not in client.get(f"/cockpit/reminders/{empty.id}").text
    assert client.get(f"/cockpit/reminders/{empty.id}/letter.pdf").status_code == 404
