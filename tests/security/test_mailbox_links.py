"""Self-service links in the Mailbox (issue 16, case 4): a reminder mail carries the debtor's link, and whoever holds
it acts as the debtor (``POST /s/paid`` paused the debtor's reminders). Before: every role, a viewer too, read the live
link in the Mailbox (always without SMTP, with SMTP until delivery). Now roles below controller see it hidden, on
every page that shows a stored mail; a controller, who may pause reminders anyway, still sees what was sent."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.links.models import AccessLink
from portal.links.service import hash_token
from portal.mail.models import MailMessage
from portal.reminders.dispatch import dispatch
from portal.reminders.models import Reminder
from portal.reminders.planning import plan
from tests.factories import make_debtor, make_invoice, make_organisation, make_user

HIDDEN = "[self-service link hidden]"


@pytest.fixture
def sent(app, db_session):
    """A reminder sent without an SMTP server (kept in the outbox, link and all); its organisation, mail and token."""
    organisation = make_organisation(db_session, name="Acme Supplies B.V.", iban="NL91ABNA0417164300")
    debtor = make_debtor(db_session, organisation, name="Klant", language="en", email="ap@example.com")
    make_invoice(db_session, debtor, "121.00", days_overdue=10)
    today = organisation.today()
    plan(db_session, organisation.id, today=today, first=today)
    send_at = db_session.scalar(select(Reminder.send_at).where(Reminder.organisation_id == organisation.id))
    assert dispatch(db_session, smtp_url=None, config=app.config, now=send_at + timedelta(minutes=1))["sent"] == 1
    message = db_session.scalar(select(MailMessage).where(MailMessage.organisation_id == organisation.id))
    token = message.body_text.split("/s/")[1].split()[0]
    assert db_session.scalar(select(AccessLink).where(AccessLink.token_hash == hash_token(token))) is not None
    assert token in message.body_html  # the stored copy holds the live link in both bodies
    return organisation, message, token


def _pages(client, message: MailMessage) -> list:
    """Every cockpit page that shows a stored mail, whole and as the htmx fragment."""
    return [
        client.get("/cockpit/mailbox"),
        client.get("/cockpit/mailbox", headers={"HX-Request": "true"}),
        client.get(f"/cockpit/mailbox/{message.id}"),
        client.get(f"/cockpit/reminders/{message.reminder_id}"),
    ]


def test_a_viewer_never_sees_a_self_service_token(client, auth, db_session, sent):
    organisation, message, token = sent
    auth.login(make_user(db_session, organisation, role="viewer").email)
    pages = _pages(client, message)
    assert [page.status_code for page in pages] == [200, 200, 200, 200]
    for page in pages:
        assert token not in page.text
    assert f"/s/{HIDDEN}" in pages[2].text  # the mail is still there to read, link hidden


@pytest.mark.parametrize("role", ["controller", "owner"])
def test_a_controller_or_owner_sees_the_mail_as_sent(client, auth, db_session, sent, role):
    organisation, message, token = sent
    auth.login(make_user(db_session, organisation, role=role).email)
    pages = _pages(client, message)
    assert token in pages[2].text and token in pages[3].text
    assert HIDDEN not in pages[2].text
