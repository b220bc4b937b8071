"""Links that stop working (revoked, replaced) and a fresh link by mail from the expired-link page."""

import re
import secrets
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from portal.events import Event
from portal.links import service
from portal.links.models import AccessLink
from portal.mail import service as mail
from portal.mail.models import MailMessage
from portal.selfservice import links as fresh_links
from portal.types import utcnow
from tests.conftest import csrf_from
from tests.factories import make_debtor, make_invoice, make_organisation
from tests.mail.smtp_server import smtp_server


@pytest.fixture(autouse=True)
def quick_answers(monkeypatch):
    """The answer's floor (equal timing for known and unknown addresses) is tested once, below."""
    monkeypatch.setattr(fresh_links, "ANSWER_SECONDS", 0)


@pytest.fixture(autouse=True)
def own_address(client):
    """Opening links is rate limited per client address: these tests spend their own budget, not 127.0.0.1's."""
    client.environ_base["REMOTE_ADDR"] = f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


def _message_link(db_session, debtor, **values) -> str:
    url, link = service.new_link(debtor.organisation_id, debtor.id, "http://localhost", utcnow())
    for name, value in values.items():
        setattr(link, name, value)
    db_session.add(link)
    db_session.flush()
    return urlsplit(url).path


def _opens(client, path: str) -> bool:
    """Whether the link opens the debtor's page (a new browser each time: no link left in the session)."""
    client.delete_cookie("session")
    entered = client.get(path)
    return entered.status_code == 303 and client.get("/s/").status_code == 200


def _ask(client, email: str, lang: str = "nl"):
    page = client.get(f"/s/new-link?lang={lang}")
    return client.post(f"/s/new-link?lang={lang}", data={"email": email, "csrf_token": csrf_from(page.text)})


def _mails(db_session, **where):
    stmt = select(MailMessage).where(MailMessage.template == "selfservice_link").order_by(MailMessage.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(MailMessage, name) == value)
    return db_session.scalars(stmt).all()


def test_revoking_kills_every_link_of_the_debtor_and_only_that_debtor(client, db_session):
    organisation = make_organisation(db_session)
    debtor = make_debtor(db_session, organisation, language="en")
    other = make_debtor(db_session, organisation)
    make_invoice(db_session, debtor, "80.00", number="REV-1", days_overdue=4)
    first, second = _message_link(db_session, debtor), _message_link(db_session, debtor)
    others = _message_link(db_session, other)
    assert _opens(client, first)  # this browser now holds the link in its session

    count = service.revoke_links(db_session, organisation.id, debtor.id, utcnow(), actor_user_id=None)

    assert count == 2
    page = client.get("/s/")
    assert page.status_code == 404 and "Deze link werkt niet meer" in page.text and "REV-1" not in page.text
    assert not _opens(client, first) and not _opens(client, second)
    assert client.get(second).status_code == 404
    assert _opens(client, others)
    event = db_session.scalar(select(Event).where(Event.kind == "selfservice:links:revoked"))
    assert event.debtor_id == debtor.id and event.data == {"count": 2}
    assert service.working_links(db_session, organisation.id, debtor.id, utcnow()) == {}


def test_a_new_manual_link_replaces_the_manual_one_and_leaves_message_links_alone(client, db_session):
    organisation = make_organisation(db_session, link_lifetime_days=10)
    debtor = make_debtor(db_session, organisation)
    in_reminder = _message_link(db_session, debtor)
    now = utcnow()

    first = service.manual_link(db_session, organisation.id, debtor.id, "http://localhost", now)
    second = service.manual_link(db_session, organisation.id, debtor.id, "http://localhost", now)

    assert first != second and first.startswith("http://localhost/s/")
    assert not _opens(client, urlsplit(first).path)
    assert _opens(client, urlsplit(second).path)
    assert _opens(client, in_reminder)
    assert service.working_links(db_session, organisation.id, debtor.id, utcnow()) == {"message": 1, "manual": 1}
    made = db_session.scalar(select(AccessLink).where(AccessLink.kind == "manual", AccessLink.revoked_at.is_(None)))
    assert made.expires_at == now + timedelta(days=10)
    events = db_session.scalars(select(Event).where(Event.kind == "selfservice:link:made").order_by(Event.id)).all()
    assert [e.data["replaced"] for e in events] == [0, 1]
    for url in (first, second):  # the token is in the URL only: not in an event, not in the database
        token = url.rsplit("/", 1)[1]
        assert all(token not in str(e.data) for e in events)
        assert db_session.scalar(select(func.count()).where(AccessLink.token_hash == token)) == 0


def test_the_expired_page_offers_a_new_link_by_mail(client, db_session):
    organisation = make_organisation(db_session, name="Acme B.V.", sender_name="Acme debiteuren")
    debtor = make_debtor(
        db_session,
        organisation,
        name="Klant Eén",
        language="nl",
        email="info@klant.example",
        contacts=[{"role": "dunning", "name": "Crediteuren", "email": "crediteuren@klant.example"}],
    )
    make_invoice(db_session, debtor, "121.00", number="FRESH-1", days_overdue=5)
    expired = _message_link(db_session, debtor, expires_at=utcnow() - timedelta(seconds=1))

    page = client.get(expired)
    assert page.status_code == 404 and 'action="/s/new-link?lang=nl"' in page.text
    asked = client.post(
        "/s/new-link?lang=nl", data={"email": " Crediteuren@Klant.example ", "csrf_token": csrf_from(page.text)}
    )

    assert asked.status_code == 303 and asked.headers["Location"] == "/s/new-link?lang=nl"
    assert "Kijk in uw mail" in client.get(asked.headers["Location"]).text
    [message] = _mails(db_session)
    assert message.to_address == "crediteuren@klant.example"  # the address asked for, which is the debtor's
    assert message.from_address.startswith("Acme debiteuren <") and message.sensitive
    assert message.subject == "Uw link naar uw facturen bij Acme B.V."  # the debtor's language
    assert message.status == "queued"  # through the outbox: no SMTP while the debtor waits
    link = db_session.scalar(select(AccessLink).where(AccessLink.kind == "mailed"))
    assert link.debtor_id == debtor.id and link.revoked_at is None

    with smtp_server() as server:  # delivered as the worker would, and followed from the mail that arrived
        assert mail.deliver(db_session, message.id, server.url) == "sent"
        [received] = server.messages
    assert "Acme debiteuren" in received["From"] and received["To"] == "crediteuren@klant.example"
    url = re.search(r"http://localhost/s/\S+", received.get_body(("plain",)).get_content()).group(0)
    assert _opens(client, urlsplit(url).path)
    assert "FRESH-1" in client.get("/s/").text
    event = db_session.scalar(select(Event).where(Event.kind == "selfservice:link:mailed"))
    assert event.data["requested"] is True and url.rsplit("/", 1)[1] not in str(event.data)


def test_one_address_of_debtors_at_two_suppliers_gets_a_link_for_each(client, db_session):
    first, second = make_organisation(db_session, name="One B.V."), make_organisation(db_session, name="Two B.V.")
    make_debtor(db_session, first, email="shared@example.com", language="en")
    make_debtor(
        db_session, second, contacts=[{"role": "invoice", "name": "AP", "email": "shared@example.com"}], language="en"
    )
    make_debtor(db_session, second, contacts=[{"role": "other", "name": "X", "email": "other-role@example.com"}])

    assert _ask(client, "shared@example.com").status_code == 303
    assert _ask(client, "other-role@example.com").status_code == 303  # only invoice and dunning contacts count

    mails = _mails(db_session)
    assert sorted(m.subject for m in mails) == [
        "Your link to your invoices at One B.V.",
        "Your link to your invoices at Two B.V.",
    ]
    assert {m.to_address for m in mails} == {"shared@example.com"}


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, db_session):
    organisation = make_organisation(db_session)
    make_debtor(db_session, organisation, email="known@example.com")
    before = db_session.scalar(select(func.count()).select_from(MailMessage))

    unknown = _ask(client, "nobody@example.com")
    assert db_session.scalar(select(func.count()).select_from(MailMessage)) == before
    known = _ask(client, "known@example.com")
    assert db_session.scalar(select(func.count()).select_from(MailMessage)) == before + 1

    assert (unknown.status_code, unknown.headers["Location"]) == (known.status_code, known.headers["Location"])
    assert unknown.get_data() == known.get_data()
    answer = client.get(unknown.headers["Location"])
    assert answer.status_code == 200 and "Kijk in uw mail" in answer.text


def test_known_and_unknown_addresses_take_the_same_time(client, db_session, monkeypatch):
    monkeypatch.setattr(fresh_links, "ANSWER_SECONDS", 0.3)
    organisation = make_organisation(db_session)
    for _ in range(3):
        make_debtor(db_session, organisation, email="many@example.com")
    timings = {}
    for address in ("many@example.com", "none@example.com"):
        page = client.get("/s/new-link")
        started = time.monotonic()
        client.post("/s/new-link", data={"email": address, "csrf_token": csrf_from(page.text)})
        timings[address] = time.monotonic() - started
    assert all(seconds >= 0.3 for seconds in timings.values()), timings
    assert len(_mails(db_session, to_address="many@example.com")) == 3


def test_a_bad_address_is_a_form_error(client, db_session):
    response = _ask(client, "not an address", lang="en")
    assert response.status_code == 422 and "Enter an email address" in response.text
    assert 'aria-invalid="true"' in response.text


def test_asking_for_links_is_rate_limited_per_address_and_client(client, db_session):
    client.environ_base["REMOTE_ADDR"] = "198.51.100.23"  # its own counters, whatever other tests did
    codes = [_ask(client, "flood@example.com").status_code for _ in range(6)]
    assert codes == [303] * 5 + [429]
    assert _ask(client, "another@example.com").status_code == 303  # the limit is per address
    client.environ_base["REMOTE_ADDR"] = "198.51.100.24"
    assert _ask(client, "flood@example.com").status_code == 303  # and per client


def test_one_address_gets_at_most_ten_requests_a_day_from_all_clients_together(client, db_session):
    address = f"target-{secrets.token_hex(4)}@example.com"
    codes = []
    for _ in range(11):
        client.environ_base["REMOTE_ADDR"] = f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"
        codes.append(_ask(client, address).status_code)
    assert codes == [303] * 10 + [429]


def test_the_form_needs_its_csrf_token(client, db_session):
    organisation = make_organisation(db_session)
    make_debtor(db_session, organisation, email="csrf@example.com")
    response = client.post("/s/new-link", data={"email": "csrf@example.com"})
    assert response.status_code == 400
    assert _mails(db_session) == []
