"""The debtor's actions through the page: promise a date, "I have already paid", dispute an invoice, write to the
supplier. Forms in the page's language, CSRF on every POST, and only the visit's own invoices."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from portal.disputes.models import Dispute
from portal.events import Event
from portal.links.service import new_link
from portal.mail.models import MailMessage
from portal.mail.service import deliver
from portal.promises import service as promises
from portal.promises.models import Promise
from portal.types import utcnow
from tests.conftest import csrf_from
from tests.factories import make_debtor, make_invoice, make_organisation
from tests.mail.smtp_server import smtp_server


def _visit(client, db_session, debtor) -> None:
    """Open a link to the debtor's page in this client, as the debtor does from a reminder."""
    url, link = new_link(debtor.organisation_id, debtor.id, "http://localhost", utcnow())
    db_session.add(link)
    db_session.flush()
    assert client.get(urlsplit(url).path).status_code == 303


@pytest.fixture
def setup(client, db_session):
    organisation = make_organisation(
        db_session, name="Acme B.V.", sender_email="debiteuren@acme.example", promise_max_days=30
    )
    debtor = make_debtor(db_session, organisation, name="Klant B.V.", language="nl", email="ap@klant.example")
    first = make_invoice(db_session, debtor, "121.00", number="A-1", days_overdue=10)
    second = make_invoice(db_session, debtor, "60.50", number="A-2", days_overdue=3)
    _visit(client, db_session, debtor)
    return organisation, debtor, first, second


@pytest.fixture
def supplier_smtp():
    """A real SMTP server standing in for the supplier's."""
    with smtp_server() as server:
        yield server


def _token(client, url="/s/contact") -> str:
    return csrf_from(client.get(url).text)


def test_the_page_offers_the_actions(client, setup):
    page = client.get("/s/").text
    for text in ("Betaling op een datum toezeggen", "Ik heb al betaald", "Een factuur betwisten", "Bericht aan Acme"):
        assert text in page
    english = client.get("/s/?lang=en").text
    assert "Promise to pay on a date" in english and "Dispute invoice" in english


def test_each_form_page_switches_language_and_keeps_what_it_is_for(client, setup):
    import html
    import re

    organisation, debtor, first, second = setup
    for path in (f"/s/promise?invoice={first.id}", f"/s/invoices/{first.id}/dispute", "/s/contact", "/s/plan"):
        client.get("/s/?lang=nl")  # the last switch holds for the visit: back to Dutch first
        dutch = client.get(path)
        assert dutch.status_code == 200 and "Al uw facturen" in dutch.text, path
        link = html.unescape(re.search(r'class="lang-switch" href="([^"]+)" lang="en"', dutch.text)[1])
        assert link.startswith(path.split("?")[0]) and "lang=en" in link, link
        if "invoice=" in path:
            assert f"invoice={first.id}" in link  # the same invoice's form, in English
        english = client.get(link)
        assert english.status_code == 200 and "All your invoices" in english.text, path
    # The choice stays for the visit; after a POST sent back with errors there is no switch (what was typed stays).
    assert "All your invoices" in client.get("/s/contact").text
    refused = client.post("/s/contact", data={"csrf_token": _token(client), "message": ""})
    assert refused.status_code == 422 and 'class="lang-switch"' not in refused.text


def test_the_forms_say_an_invoice_is_overdue_rather_than_due(client, setup):
    organisation, debtor, first, second = setup
    page = client.get("/s/promise").text
    assert "vervallen sinds" in page and "vervalt" not in page  # both invoices are past their due date


def test_a_promise_within_the_limit_pauses_the_invoices_and_lands_on_the_timeline(client, db_session, setup):
    organisation, debtor, first, second = setup
    form = client.get(f"/s/promise?invoice={first.id}")
    assert form.status_code == 200 and "Betaling toezeggen" in form.text
    day = organisation.today() + timedelta(days=30)  # the last day allowed

    response = client.post(
        "/s/promise",
        data={
            "csrf_token": csrf_from(form.text),
            "invoice_ids": [str(first.id)],
            "promised_on": day.isoformat(),
            "note": "Salaris komt de 25e",
        },
    )

    assert response.status_code == 303 and response.headers["Location"] == "/s/"
    page = client.get("/s/").text
    assert "Dank u wel. U zegt toe uiterlijk" in page and "toegezegd voor" in page
    promise = db_session.scalar(select(Promise).where(Promise.debtor_id == debtor.id))
    assert (promise.status, promise.promised_on, promise.note, promise.source) == (
        "open",
        day,
        "Salaris komt de 25e",
        "selfservice",
    )
    db_session.refresh(first)
    db_session.refresh(second)
    assert (first.promised_on, first.promise_id, second.promised_on) == (day, promise.id, None)
    event = db_session.scalar(select(Event).where(Event.kind == "promise:made", Event.debtor_id == debtor.id))
    assert event.data["invoices"] == "A-1" and event.data["promised_on"] == day.isoformat()


def test_a_promise_beyond_the_limit_or_in_the_past_comes_back_with_the_reason_and_what_was_typed(
    client, db_session, setup
):
    organisation, _, first, second = setup
    today = organisation.today()
    for day, message in (
        (today + timedelta(days=31), "U kunt een datum tot 30 dagen vooruit toezeggen"),
        (today - timedelta(days=1), "Die datum is voorbij"),
    ):
        response = client.post(
            "/s/promise",
            data={
                "csrf_token": _token(client),
                "invoice_ids": [str(second.id)],
                "promised_on": day.isoformat(),
                "note": "Na de vakantie",
            },
        )
        assert response.status_code == 422 and message in response.text
        assert "Na de vakantie" in response.text
        assert f'value="{second.id}" checked' in response.text and f'value="{first.id}" checked' not in response.text
    # In English when the page is in English.
    client.get("/s/?lang=en")
    response = client.post(
        "/s/promise",
        data={"csrf_token": _token(client), "invoice_ids": [str(first.id)], "promised_on": ""},
    )
    assert response.status_code == 422 and "Choose the date you will pay on." in response.text
    response = client.post(
        "/s/promise",
        data={"csrf_token": _token(client), "promised_on": (today + timedelta(days=3)).isoformat()},
    )
    assert response.status_code == 422 and "Choose at least one invoice." in response.text
    assert db_session.scalar(select(func.count()).select_from(Promise)) == 0


def test_already_paid_pauses_reminders_for_the_organisations_days(client, db_session, setup):
    organisation, debtor, first, second = setup
    today = organisation.today()
    assert "Ik heb al betaald" in client.get("/s/paid").text
    response = client.post(
        "/s/paid",
        data={
            "csrf_token": _token(client),
            "invoice_ids": [str(second.id)],
            "paid_on": (today + timedelta(days=2)).isoformat(),
        },
    )
    assert response.status_code == 422 and "Die datum moet nog komen" in response.text

    response = client.post(
        "/s/paid",
        data={
            "csrf_token": _token(client),
            "invoice_ids": [str(first.id), str(second.id)],
            "paid_on": (today - timedelta(days=1)).isoformat(),
            "comment": "Overgemaakt van NL02RABO0123456789",
        },
    )

    assert response.status_code == 303
    assert "Acme B.V. zoekt uw betaling op" in client.get("/s/").text
    for invoice in (first, second):
        db_session.refresh(invoice)
        assert invoice.hold_until == today + timedelta(days=organisation.paid_claim_hold_days)
        assert invoice.hold_reason.startswith(promises.PAID_CLAIM_REASON)
    event = db_session.scalar(select(Event).where(Event.kind == "invoice:paid:claimed"))
    assert event.data["invoices"] == "A-1, A-2" and event.data["comment"] == "Overgemaakt van NL02RABO0123456789"


def test_a_dispute_with_a_reason_and_a_comment_holds_the_invoice(client, db_session, setup):
    _, debtor, first, _ = setup
    url = f"/s/invoices/{first.id}/dispute"
    form = client.get(url)
    assert form.status_code == 200 and "Factuur A-1 betwisten" in form.text

    response = client.post(url, data={"csrf_token": csrf_from(form.text), "reason": "other", "comment": ""})
    assert response.status_code == 422 and "Vertel ons wat er niet klopt." in response.text
    response = client.post(url, data={"csrf_token": csrf_from(form.text), "reason": "", "comment": "Te duur"})
    assert response.status_code == 422 and "Kies wat er niet klopt." in response.text and "Te duur" in response.text

    response = client.post(
        url, data={"csrf_token": csrf_from(form.text), "reason": "wrong_amount", "comment": "Afgesproken was 100"}
    )

    assert response.status_code == 303
    assert "betwist" in client.get("/s/").text
    dispute = db_session.scalar(select(Dispute).where(Dispute.invoice_id == first.id))
    assert (dispute.status, dispute.reason, dispute.comment, dispute.debtor_id) == (
        "open",
        "wrong_amount",
        "Afgesproken was 100",
        debtor.id,
    )
    db_session.refresh(first)
    assert first.disputed_at is not None
    assert "U heeft deze factuur op" in client.get(url).text  # no second form
    again = client.post(url, data={"csrf_token": csrf_from(form.text), "reason": "quality", "comment": ""})
    assert again.status_code == 422 and "U heeft deze factuur al betwist" in again.text
    assert db_session.scalar(select(func.count()).select_from(Dispute)) == 1


def test_writing_to_the_supplier_mails_them(client, db_session, setup, supplier_smtp):
    _, debtor, _, _ = setup
    assert client.post("/s/contact", data={"csrf_token": _token(client), "message": " "}).status_code == 422

    response = client.post(
        "/s/contact",
        data={
            "csrf_token": _token(client),
            "message": "Kunt u de factuur opnieuw sturen?\nMet een PO-nummer graag.",
            "reply_to": "boekhouding@klant.example",
        },
    )

    assert response.status_code == 303
    assert "Uw bericht is verstuurd naar Acme B.V." in client.get("/s/").text
    message = db_session.scalar(select(MailMessage).where(MailMessage.template == "debtor_message"))
    assert message.to_address == "debiteuren@acme.example" and "Klant B.V." in message.subject
    assert deliver(db_session, message.id, supplier_smtp.url) == "sent"
    [mail] = supplier_smtp.messages
    assert mail["To"] == "debiteuren@acme.example"
    body = mail.get_body(("plain",)).get_content()
    assert "Met een PO-nummer graag." in body and "boekhouding@klant.example" in body
    event = db_session.scalar(select(Event).where(Event.kind == "debtor:message:sent"))
    assert event.debtor_id == debtor.id and event.data["mailed_to"] == "debiteuren@acme.example"


def _foreign_invoices(db_session, organisation):
    neighbour = make_debtor(db_session, organisation, name="Buurman")
    theirs = make_invoice(db_session, neighbour, "70.00", number="B-1", days_overdue=5)
    other_org = make_organisation(db_session)
    stranger = make_invoice(db_session, make_debtor(db_session, other_org), "80.00", number="C-1", days_overdue=5)
    return [theirs, stranger]


def test_other_debtors_and_organisations_invoices_are_404_on_every_route(app, client, db_session, setup):
    organisation, _, first, _ = setup
    foreign = _foreign_invoices(db_session, organisation)
    day = (organisation.today() + timedelta(days=3)).isoformat()
    token = _token(client)
    walked = 0
    for invoice in foreign:
        # Every self-service route with an invoice in its address, whatever it does.
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("selfservice.") or "invoice_id" not in rule.arguments:
                continue
            url = rule.build({"invoice_id": invoice.id})[1]
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                data = {"csrf_token": token, "reason": "quality", "comment": "x"}
                response = client.open(url, method=method, data=data)
                assert response.status_code == 404, f"{method} {url} answered {response.status_code}"
                walked += 1
        # And those that take invoices in the query string or the form, alone or beside one of the debtor's own.
        for url in (f"/s/promise?invoice={invoice.id}", f"/s/paid?invoice={invoice.id}", "/s/promise?invoice=x"):
            assert client.get(url).status_code == 404, url
        for url, extra in (("/s/promise", {"promised_on": day}), ("/s/paid", {})):
            for ids in ([invoice.id], [first.id, invoice.id]):
                data = {"csrf_token": token, "invoice_ids": [str(i) for i in ids], **extra}
                assert client.post(url, data=data).status_code == 404, (url, ids)
                walked += 1
    assert walked >= 8
    for invoice in [*foreign, first]:
        db_session.refresh(invoice)
        assert (invoice.promised_on, invoice.hold_until, invoice.disputed_at) == (None, None, None)
    assert db_session.scalar(select(func.count()).select_from(Promise)) == 0
    assert db_session.scalar(select(func.count()).select_from(Dispute)) == 0


def test_every_action_needs_its_csrf_token(app, client, db_session, setup):
    organisation, _, first, _ = setup
    posts = {
        "/s/promise": {"invoice_ids": [str(first.id)], "promised_on": organisation.today().isoformat()},
        "/s/paid": {"invoice_ids": [str(first.id)]},
        f"/s/invoices/{first.id}/dispute": {"reason": "quality", "comment": "x"},
        "/s/contact": {"message": "Hallo"},
    }
    mine = {
        rule.rule.replace("<int:invoice_id>", str(first.id))
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods and app.view_functions[rule.endpoint].__module__ == "portal.selfservice.actions_views"
    }
    assert mine == set(posts)  # a new action route joins this test
    for url, data in posts.items():
        assert client.post(url, data=data).status_code == 400, url
        assert client.post(url, data={**data, "csrf_token": "forged"}).status_code == 400, url
    assert db_session.scalar(select(func.count()).select_from(Promise)) == 0
    assert db_session.scalar(select(func.count()).select_from(Dispute)) == 0
    assert db_session.scalar(select(func.count()).select_from(MailMessage)) == 0


def test_without_a_working_link_the_actions_show_the_expired_page(app, db_session, setup):
    _, _, first, _ = setup
    stranger = app.test_client()
    for url in ("/s/promise", "/s/paid", f"/s/invoices/{first.id}/dispute", "/s/contact"):
        response = stranger.get(url)
        assert response.status_code == 404 and "niet meer" in response.text, url


def test_markup_typed_by_the_debtor_stays_text(client, db_session, setup):
    _, _, first, _ = setup
    markup = '<img src=x onerror=alert(1)> <a hx-get="/x">x</a>'
    url = f"/s/invoices/{first.id}/dispute"
    response = client.post(url, data={"csrf_token": _token(client), "reason": "", "comment": markup})
    assert response.status_code == 422
    assert "<img src=x" not in response.text and 'hx-get="/x"' not in response.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in response.text
