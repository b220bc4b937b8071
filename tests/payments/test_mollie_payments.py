"""Paying through Mollie, end to end with the official client against the simulator: one open payment per choice,
bookings exactly once whatever the webhooks do, refunds and chargebacks reopen, Mollie's outages are caught up."""

import re
import threading
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import requests
from mollie.api.client import Client
from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from portal.events import Event
from portal.invoices.models import Invoice
from portal.ledger.models import Payment
from portal.ledger.service import ledger_discrepancies
from portal.links.service import new_link
from portal.mail.models import MailMessage
from portal.payments.models import MolliePayment
from portal.types import utcnow
from tests.conftest import csrf_from
from tests.factories import make_debtor, make_invoice, make_organisation
from tests.payments.conftest import API_KEY, OTHER_KEY


@pytest.fixture
def shop(live_db):
    """A supplier with a Mollie key, a debtor with two open invoices, committed for other threads to see."""
    organisation = make_organisation(
        live_db, name="Winkel B.V.", mollie_api_key=API_KEY, sender_email="debiteuren@winkel.example"
    )
    debtor = make_debtor(live_db, organisation, name="Klant B.V.", email="klant@example.com", language="nl")
    first = make_invoice(live_db, debtor, "100.00", number="F-1", days_overdue=10)
    second = make_invoice(live_db, debtor, "21.50", number="F-2", days_overdue=3)
    return committed(live_db, organisation, debtor, first, second)


def visitor(app, live_db, debtor):
    """A browser that has opened the debtor's link."""
    url, link = new_link(debtor.organisation_id, debtor.id, "http://localhost", utcnow())
    live_db.add(link)
    live_db.commit()
    live_db.expunge_all()
    client = app.test_client()
    assert client.get(urlsplit(url).path).status_code == 303
    return client


def pay(client, *invoice_ids):
    page = client.get("/s/").text
    # Without a pay form on the page, the token htmx sends in its header will do.
    token = csrf_from(page) if 'name="csrf_token"' in page else re.search(r'"X-CSRFToken": "([^"]+)"', page)[1]
    return client.post("/s/pay", data={"csrf_token": token, "invoice": [str(i) for i in invoice_ids]})


def webhook(client, mollie_id):
    return client.post("/mollie/webhook", data={"id": mollie_id})


# On SQLite every transaction holds the write lock (BEGIN IMMEDIATE): the test's reads end theirs at once, and
# what they loaded is detached so that touching it later does not start another.
def count(session, model, *where):
    session.rollback()
    return _done(session, session.scalar(select(func.count()).select_from(model).where(*where)))


def one(session, stmt):
    session.rollback()
    return _done(session, session.scalar(stmt))


def every(session, stmt):
    session.rollback()
    return _done(session, session.scalars(stmt).all())


def get(session, model, object_id):
    session.rollback()
    return _done(session, session.get(model, object_id))


def balanced(session, organisation_id) -> bool:
    session.rollback()
    problems = _done(session, ledger_discrepancies(session, organisation_id))
    assert problems == []
    return True


def committed(session, *objects):
    """Commit, and hand back the objects loaded and detached."""
    session.commit()
    for obj in objects:
        session.refresh(obj)
    return _done(session, objects)


def _done(session, result):
    session.expunge_all()
    session.rollback()
    return result


def test_paying_starts_one_mollie_payment_even_on_a_double_click(app, live_db, shop, mollie_sim):
    organisation, debtor, first, second = shop
    client = visitor(app, live_db, debtor)
    page = client.get("/s/").text
    assert "Pay online" in page or "Online betalen" in page

    response = pay(client, first.id, second.id)
    again = pay(client, first.id, second.id)

    assert response.status_code == 303 and response.headers["Location"].startswith(mollie_sim.url + "/checkout/tr_")
    assert again.headers["Location"] == response.headers["Location"]
    assert count(live_db, MolliePayment) == 1 and len(mollie_sim.payments()) == 1
    remote = mollie_sim.payments()[0]
    assert remote["amount"] == {"currency": "EUR", "value": "121.50"}
    mp = one(live_db, select(MolliePayment))
    assert remote["metadata"]["duly_payment"] == mp.id and sorted(remote["metadata"]["invoices"]) == sorted(
        [first.id, second.id]
    )
    assert remote["redirectUrl"] == f"{app.config['PUBLIC_BASE_URL']}/s/payments/{mp.id}"
    assert remote["webhookUrl"] == f"{app.config['PUBLIC_BASE_URL']}/mollie/webhook"
    # Another choice is another payment.
    assert pay(client, first.id).headers["Location"] != response.headers["Location"]
    assert count(live_db, MolliePayment) == 2


def test_a_payment_is_booked_once_however_often_the_webhook_comes(app, live_db, shop, mollie_sim):
    organisation, debtor, first, second = shop
    client = visitor(app, live_db, debtor)
    pay(client, first.id, second.id)
    mp = one(live_db, select(MolliePayment))
    assert webhook(client, mp.mollie_id).status_code == 200  # still open: nothing to book
    assert count(live_db, Payment) == 0

    mollie_sim.set_status(mp.mollie_id, "paid")
    for _ in range(10):
        assert webhook(client, mp.mollie_id).status_code == 200

    assert count(live_db, Payment) == 1
    payment = one(live_db, select(Payment))
    assert (payment.amount, payment.method, payment.reference) == (Decimal("121.50"), "mollie", mp.mollie_id)
    assert {i.status for i in every(live_db, select(Invoice))} == {"paid"}
    receipts = every(live_db, select(MailMessage).where(MailMessage.template == "payment_receipt"))
    assert len(receipts) == 1 and receipts[0].to_address == "klant@example.com"
    assert "Betaling ontvangen" in receipts[0].subject and "F-1" in receipts[0].body_text
    assert balanced(live_db, organisation.id)
    page = client.get(f"/s/payments/{mp.id}")
    assert page.status_code == 200 and "hx-trigger" not in page.text and "121,50" in page.text


def test_ten_concurrent_webhooks_book_one_payment(app, live_db, shop, mollie_sim, live_portal):
    organisation, debtor, first, second = shop
    client = visitor(app, live_db, debtor)
    pay(client, first.id)
    mp = one(live_db, select(MolliePayment))
    mollie_sim.set_status(mp.mollie_id, "paid")
    barrier = threading.Barrier(10)
    statuses = []

    def ring():
        barrier.wait()
        statuses.append(
            requests.post(f"{live_portal}/mollie/webhook", data={"id": mp.mollie_id}, timeout=30).status_code
        )

    threads = [threading.Thread(target=ring) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 10
    assert count(live_db, Payment) == 1
    assert count(live_db, MailMessage, MailMessage.template == "payment_receipt") == 1
    assert balanced(live_db, organisation.id)


def test_paying_through_the_checkout_page_books_it_before_the_debtor_is_back(
    app, live_db, shop, mollie_sim, live_portal
):
    organisation, debtor, first, second = shop
    client = visitor(app, live_db, debtor)
    checkout = pay(client, second.id).headers["Location"]
    mp = one(live_db, select(MolliePayment))
    assert client.get(f"/s/payments/{mp.id}").text.count('hx-trigger="every 2s"') == 1  # processing

    # The tester picks "paid"; the simulator rings our webhook, then sends the browser back.
    back = requests.post(checkout, data={"status": "paid", "method": "ideal"}, allow_redirects=False, timeout=30)

    assert back.status_code == 303 and back.headers["Location"] == f"{live_portal}/s/payments/{mp.id}"
    live_db.rollback()
    assert get(live_db, Invoice, second.id).status == "paid" and get(live_db, Invoice, first.id).status == "open"
    done = client.get(urlsplit(back.headers["Location"]).path)
    assert "hx-trigger" not in done.text and "21,50" in done.text
    assert get(live_db, MolliePayment, mp.id).method == "ideal"


def test_statuses_out_of_order_end_as_mollie_has_them(app, live_db, shop, mollie_sim):
    from portal.payments import service

    organisation, debtor, first, second = shop
    client = visitor(app, live_db, debtor)
    pay(client, first.id)
    mp = one(live_db, select(MolliePayment))
    stale_open = mollie_sim.payments()[0]  # what a slow webhook read while the payment was still open
    mollie_sim.set_status(mp.mollie_id, "paid")
    webhook(client, mp.mollie_id)

    live_db.rollback()
    with live_db.begin():
        row = live_db.get(MolliePayment, mp.id)
        assert service._apply(live_db, row, stale_open) == "unchanged"
    live_db.rollback()
    assert get(live_db, MolliePayment, mp.id).status == "paid" and count(live_db, Payment) == 1

    # A failed attempt after a paid one (a second checkout) cannot unbook it either.
    mollie_sim.set_status(mp.mollie_id, "failed")
    webhook(client, mp.mollie_id)
    live_db.rollback()
    assert get(live_db, MolliePayment, mp.id).status == "paid" and get(live_db, Invoice, first.id).status == "paid"


def test_forged_and_foreign_ids_change_nothing(app, live_db, shop, mollie_sim):
    organisation, debtor, first, second = shop
    client = visitor(app, live_db, debtor)
    # A payment made at Mollie with someone else's key, marked paid: its id means nothing to us.
    foreign = Client(api_endpoint=mollie_sim.url)
    foreign.set_api_key(OTHER_KEY)
    theirs = foreign.payments.create(
        {"amount": {"currency": "EUR", "value": "100.00"}, "description": "x", "redirectUrl": "https://example.com/"}
    )
    mollie_sim.set_status(theirs.id, "paid")

    for forged in (theirs.id, "tr_doesnotexist", "not-an-id", ""):
        assert webhook(client, forged).status_code == 200
    assert client.post("/mollie/webhook").status_code == 200

    assert count(live_db, Payment) == 0 and {i.status for i in every(live_db, select(Invoice))} == {"open"}


def test_a_wrong_amount_is_flagged_not_booked(app, live_db, shop, mollie_sim):
    organisation, debtor, first, second = shop
    client = visitor(app, live_db, debtor)
    pay(client, first.id)
    mp = one(live_db, select(MolliePayment))
    live_db.get(MolliePayment, mp.id).amount = Decimal("90.00")  # our record and Mollie's disagree
    live_db.commit()
    mollie_sim.set_status(mp.mollie_id, "paid")

    webhook(client, mp.mollie_id)
    webhook(client, mp.mollie_id)

    live_db.rollback()
    mp = get(live_db, MolliePayment, mp.id)
    assert mp.payment_id is None and "EUR 100.00" in mp.flag
    assert count(live_db, Payment) == 0
    assert count(live_db, Event, Event.kind == "payment:mollie:flagged") == 1


def test_mollie_unavailable_is_retried_and_then_reconciled(app, live_db, shop, mollie_sim, monkeypatch):
    import workers
    from workers.jobs import reconcile_mollie

    monkeypatch.setattr(workers, "_app", app)  # the job's app is this test's app, not one built from os.environ

    organisation, debtor, first, second = shop
    client = visitor(app, live_db, debtor)
    pay(client, first.id)
    mp = one(live_db, select(MolliePayment))
    mollie_sim.set_status(mp.mollie_id, "paid")
    mollie_sim.fail_next(503, 3)  # the client retries connects only: each webhook fetch gets a 503

    assert webhook(client, mp.mollie_id).status_code == 200
    assert count(live_db, Payment) == 0
    queue = Queue(app.config["RQ_QUEUE"], connection=Redis.from_url(app.config["REDIS_URL"]))
    jobs = [queue.fetch_job(job_id) for job_id in queue.job_ids]
    retry_jobs = [
        j for j in jobs if j and j.func_name == "workers.jobs.sync_mollie_payment" and j.args == (mp.mollie_id,)
    ]
    assert retry_jobs and retry_jobs[0].retries_left == 5
    for job in retry_jobs:
        job.delete()

    # The periodic job asks again about payments whose webhook did not get through.
    mollie_sim.fail_next(503, 0)
    live_db.rollback()
    row = live_db.get(MolliePayment, mp.id)
    row.updated_at = utcnow().replace(year=2000)
    live_db.commit()
    assert reconcile_mollie() == {"booked": 1}
    assert count(live_db, Payment) == 1
    assert reconcile_mollie() == {}


def test_refunds_and_chargebacks_reopen_what_they_reverse(app, live_db, shop, mollie_sim):
    organisation, debtor, first, second = shop
    client = visitor(app, live_db, debtor)
    pay(client, first.id, second.id)
    mp = one(live_db, select(MolliePayment))
    mollie_sim.set_status(mp.mollie_id, "paid")
    webhook(client, mp.mollie_id)

    mollie = Client(api_endpoint=mollie_sim.url)
    mollie.set_api_key(API_KEY)
    payment = mollie.payments.get(mp.mollie_id)
    payment.refunds.create({"amount": {"currency": "EUR", "value": "20.00"}, "description": "goodwill"})
    webhook(client, mp.mollie_id)
    webhook(client, mp.mollie_id)

    live_db.rollback()
    # The latest allocation goes back first: F-2 (21.50) reopens for 20.00.
    assert get(live_db, Invoice, second.id).open_amount == Decimal("20.00")
    assert get(live_db, Invoice, first.id).status == "paid"
    assert one(live_db, select(Payment)).reversed_amount == Decimal("20.00")

    mollie_sim.chargeback(mp.mollie_id, "101.50")  # the rest charged back: everything reopens, once
    webhook(client, mp.mollie_id)
    webhook(client, mp.mollie_id)

    live_db.rollback()
    assert get(live_db, Invoice, first.id).open_amount == Decimal("100.00")
    assert get(live_db, Invoice, second.id).open_amount == Decimal("21.50")
    assert balanced(live_db, organisation.id)
    assert count(live_db, Event, Event.kind == "invoice:payment:reversed") >= 2


def test_the_pay_routes_only_serve_the_visitors_own_invoices_and_payments(app, live_db, shop, mollie_sim):
    organisation, debtor, first, second = shop
    other = make_debtor(live_db, organisation, name="Ander")
    theirs = make_invoice(live_db, other, "50.00", number="O-1", days_overdue=3)
    other_org = make_organisation(live_db, mollie_api_key=OTHER_KEY)
    foreign = make_invoice(live_db, make_debtor(live_db, other_org), "60.00", number="X-1", days_overdue=3)
    other, theirs, foreign = committed(live_db, other, theirs, foreign)
    client = visitor(app, live_db, debtor)

    assert pay(client, first.id, theirs.id).status_code == 404
    assert pay(client, foreign.id).status_code == 404
    assert pay(client, "1 OR 1=1").status_code == 404
    assert count(live_db, MolliePayment) == 0
    # Their payment's return page is not ours to see.
    them = visitor(app, live_db, other)
    pay(them, theirs.id)
    their_mp = one(live_db, select(MolliePayment))
    assert client.get(f"/s/payments/{their_mp.id}").status_code == 404
    # No CSRF token, no payment.
    assert client.post("/s/pay", data={"invoice": str(first.id)}).status_code == 400
    # Without a link in the session there is nothing to pay.
    assert app.test_client().post("/s/pay", data={"invoice": str(first.id)}).status_code in (400, 404)


def test_without_a_mollie_key_the_page_offers_bank_transfer_only(app, live_db, mollie_sim):
    organisation = make_organisation(live_db, iban="NL91ABNA0417164300")
    debtor = make_debtor(live_db, organisation, language="en")
    invoice = make_invoice(live_db, debtor, "10.00", days_overdue=1)
    debtor, invoice = committed(live_db, debtor, invoice)
    client = visitor(app, live_db, debtor)

    page = client.get("/s/").text
    assert "Pay online" not in page and "NL91ABNA0417164300" in page
    response = pay(client, invoice.id)
    assert response.status_code == 303 and response.headers["Location"] == "/s/"
    assert "pay by bank transfer" in client.get("/s/").text
    assert count(live_db, MolliePayment) == 0


def test_mollie_refusing_the_payment_leaves_nothing_half_made(app, live_db, shop, mollie_sim):
    organisation, debtor, first, second = shop
    client = visitor(app, live_db, debtor)
    mollie_sim.fail_next(503, 1)

    response = pay(client, first.id)

    assert response.status_code == 303 and response.headers["Location"] == "/s/"
    assert "op dit moment niet mogelijk" in client.get("/s/").text  # in the debtor's language
    assert one(live_db, select(MolliePayment)).status == "failed" and not mollie_sim.payments()
    # The debtor tries again: a new payment, and the failed one is not in its way.
    assert pay(client, first.id).headers["Location"].startswith(mollie_sim.url + "/checkout/")


def test_method_names_that_are_words_come_in_the_debtors_language(app, live_db, shop):
    organisation, debtor, first, second = shop
    page = visitor(app, live_db, debtor).get("/s/").text  # the debtor reads Dutch
    assert "Veilig via Mollie: iDEAL · Creditcard · Apple Pay" in page


def test_the_receipt_says_what_was_booked_and_what_stays_as_credit(app, live_db, shop, mollie_sim):
    """A bank transfer paid F-2 while the debtor was paying both online: the receipt lists what the payment paid
    (F-1) and the rest kept as the debtor's credit, in the debtor's language."""
    from portal.ledger import service as ledger

    organisation, debtor, first, second = shop
    client = visitor(app, live_db, debtor)
    pay(client, first.id, second.id)
    mp = one(live_db, select(MolliePayment))
    ledger.record_payment(
        live_db,
        organisation.id,
        debtor.id,
        Decimal("21.50"),
        "EUR",
        organisation.today(),
        method="bank",
        allocations=[(second.id, Decimal("21.50"))],
    )
    live_db.commit()
    mollie_sim.set_status(mp.mollie_id, "paid")
    assert webhook(client, mp.mollie_id).status_code == 200

    receipt = one(live_db, select(MailMessage).where(MailMessage.template == "payment_receipt"))
    text = receipt.body_text.replace("\xa0", " ")
    assert "F-1: € 100,00" in text and "F-2" not in text
    assert "Als tegoed bij ons bewaard: € 21,50" in text
    assert balanced(live_db, organisation.id)


def test_klarna_gets_the_invoices_as_lines_and_the_debtors_address(app, live_db, mollie_sim):
    """With Klarna offered, the payment carries the invoices as order lines and the debtor as billing address (the
    simulator refuses it otherwise, as Mollie does); a debtor without an address on file is offered the rest."""
    organisation = make_organisation(live_db, name="Winkel B.V.", mollie_api_key=API_KEY, mollie_methods="ideal,klarna")
    known = make_debtor(
        live_db,
        organisation,
        name="Klant B.V.",
        email="klant@example.com",
        language="nl",
        address="Kerkstraat 1",
        postcode="1011 AA",
        city="Amsterdam",
    )
    unknown = make_debtor(live_db, organisation, name="Ander B.V.", email="ander@example.com", language="nl")
    first = make_invoice(live_db, known, "100.00", number="K-1", days_overdue=5)
    second = make_invoice(live_db, known, "21.50", number="K-2", days_overdue=2)
    other = make_invoice(live_db, unknown, "40.00", number="A-1", days_overdue=5)
    organisation, known, unknown, first, second, other = committed(
        live_db, organisation, known, unknown, first, second, other
    )

    assert pay(visitor(app, live_db, known), first.id, second.id).status_code == 303
    assert pay(visitor(app, live_db, unknown), other.id).status_code == 303

    by_amount = {p["amount"]["value"]: p for p in mollie_sim.payments()}
    with_klarna = by_amount["121.50"]
    assert [(line["description"], line["totalAmount"]["value"]) for line in with_klarna["lines"]] == [
        ("K-1", "100.00"),
        ("K-2", "21.50"),
    ]
    assert with_klarna["billingAddress"]["organizationName"] == "Klant B.V."
    assert with_klarna["billingAddress"]["postalCode"] == "1011 AA"
    assert "lines" not in by_amount["40.00"]  # created: Klarna left out for want of an address
