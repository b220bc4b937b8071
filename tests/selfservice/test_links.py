"""The link in a reminder opens the debtor's own page, once the token has left the address; nothing else does."""

from datetime import timedelta
from urllib.parse import urlsplit

from portal.links.service import new_link
from portal.types import utcnow
from tests.factories import make_debtor, make_invoice, make_organisation


def _link(db_session, debtor, **values):
    url, link = new_link(debtor.organisation_id, debtor.id, "http://localhost", utcnow())
    for name, value in values.items():
        setattr(link, name, value)
    db_session.add(link)
    db_session.flush()
    return urlsplit(url).path


def test_a_link_opens_the_debtors_page_without_the_token_in_the_address(client, db_session):
    organisation = make_organisation(db_session, name="Acme B.V.", iban="NL91ABNA0417164300")
    debtor = make_debtor(db_session, organisation, name="Klant Eén", language="nl")
    make_invoice(db_session, debtor, "121.00", number="A-1", days_overdue=5)
    other = make_debtor(db_session, organisation, name="Andere Klant")
    make_invoice(db_session, other, "999.00", number="OTHER-1", days_overdue=5)
    path = _link(db_session, debtor)

    response = client.get(path)

    assert response.status_code == 303 and response.headers["Location"] == "/s/"
    assert response.headers["Referrer-Policy"] == "no-referrer" and response.headers["Cache-Control"] == "no-store"
    page = client.get("/s/")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "Openstaande facturen" in page.text and "A-1" in page.text and "121,00" in page.text
    assert "NL91ABNA0417164300" in page.text and "Acme B.V." in page.text
    assert "OTHER-1" not in page.text and "999" not in page.text
    english = client.get("/s/?lang=en")
    assert "Open invoices" in english.text
    assert client.get(path).status_code == 303  # still usable: mail scanners open links first


def test_expired_revoked_and_unknown_links_open_nothing(client, db_session):
    organisation = make_organisation(db_session)
    debtor = make_debtor(db_session, organisation, language="en")
    make_invoice(db_session, debtor, "50.00", number="SECRET-1", days_overdue=3)
    expired = _link(db_session, debtor, expires_at=utcnow() - timedelta(seconds=1))
    revoked = _link(db_session, debtor, revoked_at=utcnow())
    for path in (expired, revoked, "/s/" + "A" * 32, "/s/x"):
        response = client.get(path)
        assert (
            response.status_code == 404 and "no longer works" in response.text.lower() or "niet meer" in response.text
        )
        assert "SECRET-1" not in client.get("/s/").text
    assert client.get("/s/").status_code == 404


def test_guessing_tokens_is_rate_limited(app, client, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "SELFSERVICE_RATE_LIMIT", "5 per minute")
    codes = [client.get(f"/s/guess{n:020d}").status_code for n in range(8)]
    assert codes[:5] == [404] * 5 and codes[-1] == 429


def test_the_link_in_a_reminder_opens_the_page(app, live_db, time_machine):
    import re

    from sqlalchemy import select

    from portal.mail.models import MailMessage
    from portal.reminders.dispatch import dispatch
    from portal.reminders.models import Reminder
    from portal.reminders.planning import plan

    organisation = make_organisation(live_db, name="Acme B.V.", link_lifetime_days=14)
    debtor = make_debtor(live_db, organisation, name="Klant", email="ap@example.com", language="en")
    make_invoice(live_db, debtor, "75.00", number="R-1", days_overdue=10)
    today = organisation.today()
    plan(live_db, organisation.id, today=today, first=today)
    live_db.commit()
    # Sent by a worker that runs when the reminder falls due (on a Saturday: the next sending day).
    sent_at = live_db.scalar(select(Reminder.send_at)) + timedelta(minutes=1)
    time_machine.move_to(sent_at, tick=True)
    dispatch(live_db, smtp_url="", config=app.config, now=sent_at)
    body = live_db.scalar(select(MailMessage.body_text).where(MailMessage.reminder_id.isnot(None)))
    path = urlsplit(re.search(r"http://localhost(/s/\S+)", body).group(0)).path
    live_db.close()

    from portal.links.models import AccessLink

    link = live_db.scalar(select(AccessLink))
    assert link.expires_at == sent_at + timedelta(days=14)  # the organisation's link lifetime
    live_db.close()
    client = app.test_client()
    assert client.get(path).status_code == 303
    page = client.get("/s/")
    assert "R-1" in page.text and "Open invoices" in page.text


def test_what_is_not_the_debtors_is_a_plain_not_found_in_its_language(client, db_session):
    organisation = make_organisation(db_session)
    debtor = make_debtor(db_session, organisation, language="nl")
    make_invoice(db_session, debtor, "10.00", number="MINE-1", days_overdue=1)
    other = make_invoice(db_session, make_debtor(db_session, organisation), "20.00", number="THEIRS-1")
    client.get(_link(db_session, debtor))

    response = client.get(f"/s/invoices/{other.id}")

    assert response.status_code == 404 and "Niet gevonden" in response.text and "THEIRS-1" not in response.text
    assert 'href="/s/"' in response.text  # back to their own page
