"""Cockpit: the queues of what debtors asked (disputes, promises, "already paid", messages) and resolving disputes."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.debtors import messages
from portal.disputes import service as disputes
from portal.events import Event
from portal.invoices.models import Invoice
from portal.ledger.models import Allocation
from portal.ledger.service import ledger_discrepancies
from portal.mail.models import MailMessage
from portal.promises import service as promises
from tests.conftest import csrf_from
from tests.factories import make_debtor, make_invoice, make_user

MARKUP = '<img src=x onerror=alert(1)> <b hx-get="/x" hx-trigger="load">'
ESCAPED = "&lt;img src=x onerror=alert(1)&gt; &lt;b hx-get=&#34;/x&#34; hx-trigger=&#34;load&#34;&gt;"


@pytest.fixture
def disputed(db_session, org):
    debtor = make_debtor(db_session, org, name="Klant B.V.", language="nl", email="ap@klant.example")
    invoice = make_invoice(db_session, debtor, "100.00", number="F-7", days_overdue=12)
    dispute = disputes.open_dispute(db_session, org, debtor, invoice.id, "wrong_amount", MARKUP)
    db_session.flush()  # what a view would commit: the requests below read it in sessions of their own
    return debtor, invoice, dispute


def _resolve(client, dispute, **data):
    url = f"/cockpit/requests/disputes/{dispute.id}"
    token = csrf_from(client.get(url).text)
    return client.post(f"{url}/resolve", data={"csrf_token": token, **data})


def _text(mail: MailMessage) -> str:
    return mail.body_text.replace("\xa0", " ")  # Babel puts a no-break space between € and the amount


def _inert(html: str) -> None:
    assert "<img src=x" not in html and 'hx-get="/x"' not in html
    assert ESCAPED in html


def test_the_disputes_queue_shows_open_disputes_with_the_debtors_words_inert(client, signed_in, disputed):
    debtor, invoice, dispute = disputed
    queue = client.get("/cockpit/requests")
    assert queue.status_code == 200
    assert "F-7" in queue.text and "Klant B.V." in queue.text and "wrong amount" in queue.text
    assert '<span class="badge badge-queued" title="1 open">1' in queue.text  # the count on the Disputes tab
    assert 'aria-current="page">Disputes &amp; promises' in queue.text  # the navigation entry
    _inert(queue.text)
    detail = client.get(f"/cockpit/requests/disputes/{dispute.id}")
    assert detail.status_code == 200 and "Credit and tell the debtor" in detail.text
    _inert(detail.text)
    _inert(client.get(f"/cockpit/debtors/{debtor.id}").text)  # the timeline
    assert "disputed" in client.get(f"/cockpit/invoices/{invoice.id}").text


def test_credit_makes_a_credit_note_allocated_to_the_invoice_and_mails_the_debtor(
    client, db_session, org, signed_in, disputed
):
    debtor, invoice, dispute = disputed

    response = _resolve(client, dispute, resolution="credited", amount="40,00", message="U heeft gelijk.")

    assert response.status_code == 303 and response.headers["Location"] == "/cockpit/requests"
    db_session.expire_all()
    credit_note = db_session.scalar(select(Invoice).where(Invoice.kind == "credit_note"))
    assert (credit_note.number, credit_note.total, credit_note.open_amount) == ("CN-F-7", Decimal("-40.00"), 0)
    allocation = db_session.scalar(select(Allocation).where(Allocation.credit_note_id == credit_note.id))
    assert (allocation.invoice_id, allocation.amount) == (invoice.id, Decimal("40.00"))
    assert invoice.open_amount == Decimal("60.00") and invoice.disputed_at is None
    assert (dispute.status, dispute.resolution, dispute.resolved_by_user_id) == ("resolved", "credited", signed_in.id)
    assert ledger_discrepancies(db_session, org.id) == []
    mail = db_session.scalar(select(MailMessage).where(MailMessage.template == "dispute_resolved"))
    assert mail.to_address == "ap@klant.example" and mail.subject.startswith("Uw bezwaar tegen factuur F-7")
    assert "Wij hebben € 40,00 op de factuur gecrediteerd." in _text(mail)
    assert "U heeft gelijk." in _text(mail) and "Nog open op deze factuur: € 60,00." in _text(mail)
    event = db_session.scalar(select(Event).where(Event.kind == "dispute:resolved"))
    assert event.data["resolution"] == "credited" and event.data["amount"] == "40.00"
    assert "40,00 credited" in client.get(f"/cockpit/debtors/{debtor.id}").text
    resolved = client.get("/cockpit/requests").text.split("Resolved lately")[1]
    assert "F-7" in resolved and "credited" in resolved and "U heeft gelijk." in resolved


def test_credit_without_an_amount_credits_what_is_open(client, db_session, signed_in, disputed):
    _, invoice, dispute = disputed
    assert _resolve(client, dispute, resolution="credited", amount="", message="").status_code == 303
    db_session.expire_all()
    assert invoice.status == "paid" and invoice.open_amount == 0


def test_correct_changes_the_invoices_total(client, db_session, signed_in, disputed):
    _, invoice, dispute = disputed
    response = _resolve(client, dispute, resolution="corrected", amount="80.00", message="Afgesproken was 80.")
    assert response.status_code == 303
    db_session.expire_all()
    assert (invoice.total, invoice.open_amount, invoice.disputed_at) == (Decimal("80.00"), Decimal("80.00"), None)
    mail = db_session.scalar(select(MailMessage).where(MailMessage.template == "dispute_resolved"))
    assert "gecorrigeerd naar € 80,00" in _text(mail)
    assert db_session.scalar(select(Event.id).where(Event.kind == "invoice:total:changed")) is not None


def test_reject_needs_a_message_which_is_mailed_in_the_debtors_language(client, db_session, signed_in, disputed):
    debtor, invoice, dispute = disputed
    debtor.language = "en"
    db_session.flush()

    refused = _resolve(client, dispute, resolution="rejected", message="  ")
    assert refused.status_code == 422 and "Tell the debtor why the invoice stands." in refused.text
    db_session.expire_all()
    assert dispute.status == "open" and invoice.disputed_at is not None

    response = _resolve(client, dispute, resolution="rejected", message="Delivered on 2 May, signed by J. Jansen.")
    assert response.status_code == 303
    db_session.expire_all()
    assert (dispute.resolution, invoice.total, invoice.disputed_at) == ("rejected", Decimal("100.00"), None)
    mail = db_session.scalar(select(MailMessage).where(MailMessage.template == "dispute_resolved"))
    assert mail.subject.startswith("Your dispute about invoice F-7") and "The invoice stands as it is." in _text(mail)
    assert "Delivered on 2 May, signed by J. Jansen." in _text(mail) and "€100.00" in _text(mail)
    assert _resolve(client, dispute, resolution="credited").status_code == 422  # resolved already


def test_bad_amounts_come_back_as_typed(client, db_session, signed_in, disputed):
    _, invoice, dispute = disputed
    too_much = _resolve(client, dispute, resolution="credited", amount="150", message="Alles terug")
    assert too_much.status_code == 422 and "At most what is open on F-7" in too_much.text
    assert 'value="150"' in too_much.text and "Alles terug" in too_much.text
    nonsense = _resolve(client, dispute, resolution="corrected", amount="1e9", message="")
    assert nonsense.status_code == 422 and "Not an amount" in nonsense.text
    same = _resolve(client, dispute, resolution="corrected", amount="100,00", message="")
    assert same.status_code == 422 and "reject the dispute instead" in same.text
    db_session.expire_all()
    assert dispute.status == "open" and invoice.total == Decimal("100.00")
    assert db_session.scalar(select(Invoice.id).where(Invoice.kind == "credit_note")) is None


def test_viewers_see_the_queues_but_cannot_act(client, auth, db_session, org, disputed):
    debtor, invoice, dispute = disputed
    promises.claim_paid(db_session, org, debtor, [invoice.id], org.today())
    db_session.flush()
    viewer = make_user(db_session, org, role="viewer")
    auth.login(viewer.email)
    for url in (
        "/cockpit/requests",
        "/cockpit/requests/promises",
        "/cockpit/requests/paid",
        "/cockpit/requests/messages",
    ):
        assert client.get(url).status_code == 200, url
    detail = client.get(f"/cockpit/requests/disputes/{dispute.id}")
    assert detail.status_code == 200 and "Credit and tell the debtor" not in detail.text
    assert "Not received" not in client.get("/cockpit/requests/paid").text
    token = csrf_from(client.get("/cockpit/").text)
    data = {"csrf_token": token, "resolution": "rejected", "message": "No"}
    assert client.post(f"/cockpit/requests/disputes/{dispute.id}/resolve", data=data).status_code == 403
    assert client.post(f"/cockpit/requests/paid/{invoice.id}/resume", data={"csrf_token": token}).status_code == 403
    db_session.expire_all()
    assert dispute.status == "open" and invoice.hold_until is not None


def test_promises_show_open_ones_with_their_amount_and_the_history(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org, name="Belofte B.V.")
    kept_invoice = make_invoice(db_session, debtor, "75.00", number="P-1", days_overdue=20)
    open_invoice = make_invoice(db_session, debtor, "250.00", number="P-2", days_overdue=20)
    today = org.today()
    promises.promise(db_session, org, debtor, [kept_invoice.id], today, today)
    promises.promise(db_session, org, debtor, [open_invoice.id], today + timedelta(days=10), today, note=MARKUP)
    promises.check_promises(db_session, org.id, today + timedelta(days=org.promise_grace_days + 1))
    db_session.flush()

    page = client.get("/cockpit/requests/promises")

    assert page.status_code == 200
    open_rows = page.text.split('id="open-promises"')[1].split("</table>")[0]
    assert "P-2" in open_rows and "250,00" in open_rows and "P-1" not in open_rows
    history = page.text.split('id="promise-history"')[1].split("</table>")[0]
    assert "P-1" in history and "broken" in history
    _inert(page.text)
    assert "promised for" in client.get(f"/cockpit/debtors/{debtor.id}").text


def test_said_they_paid_lists_the_claim_and_resuming_lifts_the_hold(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org, name="Betaald B.V.")
    invoice = make_invoice(db_session, debtor, "99.00", number="Z-1", days_overdue=8)
    promises.claim_paid(db_session, org, debtor, [invoice.id], org.today(), comment=MARKUP)
    db_session.flush()

    page = client.get("/cockpit/requests/paid")
    assert page.status_code == 200 and "Z-1" in page.text and "to check" in page.text
    _inert(page.text)

    response = client.post(f"/cockpit/requests/paid/{invoice.id}/resume", data={"csrf_token": csrf_from(page.text)})

    assert response.status_code == 303 and response.headers["Location"] == "/cockpit/requests/paid"
    db_session.expire_all()
    assert invoice.hold_until is None and invoice.hold_reason == ""
    assert db_session.scalar(select(Event.kind).where(Event.kind == "hold:lifted", Event.invoice_id == invoice.id))
    assert "reminders resumed" in client.get("/cockpit/requests/paid").text


def test_messages_from_debtors_are_listed_inert(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org, name="Schrijver B.V.")
    messages.message_supplier(db_session, org, debtor, MARKUP, reply_to="0612345678")
    db_session.flush()
    page = client.get("/cockpit/requests/messages")
    assert page.status_code == 200 and "Schrijver B.V." in page.text and "0612345678" in page.text
    _inert(page.text)
    assert client.get("/cockpit/requests/messages?q=nobody").text.count("0612345678") == 0


def test_a_message_keeps_the_lines_the_debtor_typed(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org, name="Schrijver B.V.")
    messages.message_supplier(db_session, org, debtor, "Beste,\nDe factuur is betaald.\nGroet, Jan", reply_to="")
    db_session.flush()
    page = client.get("/cockpit/requests/messages").text
    # The text as typed, in a cell whose style keeps line breaks (static/app.css: .keep-lines, pre-line).
    assert '<td class="keep-lines">Beste,\nDe factuur is betaald.\nGroet, Jan</td>' in page
    with client.get("/static/app.css") as css:
        assert ".keep-lines { white-space: pre-line;" in css.text
