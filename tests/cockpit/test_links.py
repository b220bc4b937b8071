"""The debtor page's self-service links: counts, revoke all, make one to pass on, mail one."""

import re
import secrets
from urllib.parse import urlsplit

from sqlalchemy import select

from portal.events import Event
from portal.links.models import AccessLink
from portal.links.service import hash_token, manual_link, new_link
from portal.mail.models import MailMessage
from portal.types import utcnow
from tests.conftest import csrf_from
from tests.factories import make_debtor, make_user

URL = re.compile(r"http://localhost/s/[A-Za-z0-9_-]+")


def _message_link(db_session, debtor) -> str:
    url, link = new_link(debtor.organisation_id, debtor.id, "http://localhost", utcnow())
    db_session.add(link)
    db_session.flush()
    return urlsplit(url).path


def _opens(app, path: str) -> bool:
    """Whether the link opens the debtor's page, in a browser of the debtor's own."""
    debtor_browser = app.test_client()
    # Opening links is rate limited per client address: a browser of its own, not 127.0.0.1's budget.
    debtor_browser.environ_base["REMOTE_ADDR"] = f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"
    return debtor_browser.get(path).status_code == 303 and debtor_browser.get("/s/").status_code == 200


def _post(client, debtor, action: str, **data):
    page = client.get(f"/cockpit/debtors/{debtor.id}")
    return client.post(
        f"/cockpit/debtors/{debtor.id}/links/{action}", data={"csrf_token": csrf_from(page.text), **data}
    )


def test_the_debtor_page_counts_working_links_by_kind(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org, email="ap@example.com")
    _message_link(db_session, debtor)
    _message_link(db_session, debtor)
    manual_link(db_session, org.id, debtor.id, "http://localhost", utcnow())

    page = client.get(f"/cockpit/debtors/{debtor.id}").text

    assert 'id="selfservice-links"' in page and "3 working" in page
    assert "2 in sent messages" in page and "1 made by hand" in page
    assert "Mail a new link" in page and "to ap@example.com" in page and "Revoke all links" in page
    assert not URL.search(page)  # no link is ever shown again


def test_revoke_all_needs_the_box_ticked_and_kills_every_link(app, client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org)
    paths = [_message_link(db_session, debtor) for _ in range(2)]

    unconfirmed = _post(client, debtor, "revoke")
    assert unconfirmed.status_code == 303 and all(_opens(app, p) for p in paths)

    response = _post(client, debtor, "revoke", confirm="yes")

    assert response.status_code == 303
    assert response.headers["Location"] == f"/cockpit/debtors/{debtor.id}#selfservice-links"
    assert not any(_opens(app, p) for p in paths)
    page = client.get(f"/cockpit/debtors/{debtor.id}").text
    assert "2 self-service links of" in page and "No working link" in page
    event = db_session.scalar(select(Event).where(Event.kind == "selfservice:links:revoked"))
    assert event.actor_user_id == signed_in.id and event.data == {"count": 2}


def test_a_made_link_is_shown_once_and_replaces_the_previous_one(app, client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org)
    in_reminder = _message_link(db_session, debtor)

    first = _post(client, debtor, "manual")

    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    url = URL.search(first.text).group(0)
    token = url.rsplit("/", 1)[1]
    assert len(token) == 32 and _opens(app, urlsplit(url).path)
    stored = db_session.scalar(select(AccessLink).where(AccessLink.kind == "manual"))
    assert stored.token_hash == hash_token(token)  # the hash, never the token
    event = db_session.scalar(select(Event).where(Event.kind == "selfservice:link:made"))
    assert event.actor_user_id == signed_in.id and token not in str(event.data)
    assert token not in client.get(f"/cockpit/debtors/{debtor.id}").text

    second = URL.search(_post(client, debtor, "manual").text).group(0)

    assert second != url and not _opens(app, urlsplit(url).path)
    assert _opens(app, urlsplit(second).path) and _opens(app, in_reminder)


def test_mail_a_new_link_to_the_dunning_address(app, client, db_session, org, signed_in):
    org.sender_name = "Acme debiteuren"
    debtor = make_debtor(
        db_session,
        org,
        email="info@klant.example",
        language="en",
        contacts=[{"role": "dunning", "name": "AP", "email": "ap@klant.example"}],
    )

    response = _post(client, debtor, "mail")

    assert response.status_code == 303
    [message] = db_session.scalars(select(MailMessage).where(MailMessage.template == "selfservice_link")).all()
    assert message.to_address == "ap@klant.example" and message.from_address.startswith("Acme debiteuren <")
    assert message.subject == "Your link to your invoices at Acme B.V." and "Acme B.V. sends you" in message.body_text
    assert _opens(app, urlsplit(URL.search(message.body_text).group(0)).path)
    assert "on its way to ap@klant.example" in client.get(response.headers["Location"]).text
    link = db_session.scalar(select(AccessLink).where(AccessLink.debtor_id == debtor.id))
    assert link.kind == "mailed"
    event = db_session.scalar(select(Event).where(Event.kind == "selfservice:link:mailed"))
    assert event.data["to"] == "ap@klant.example" and event.data["requested"] is False
    assert link.token_hash not in str(event.data) and "/s/" not in str(event.data)


def test_no_mail_without_an_address(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org, email="")
    response = _post(client, debtor, "mail")
    assert response.status_code == 303
    assert "No link mailed: the debtor has no email address" in client.get(response.headers["Location"]).text
    assert db_session.scalar(select(AccessLink).where(AccessLink.debtor_id == debtor.id)) is None


def test_viewers_see_the_counts_but_cannot_act(app, client, auth, db_session, org):
    viewer = make_user(db_session, org, role="viewer")
    debtor = make_debtor(db_session, org)
    path = _message_link(db_session, debtor)
    auth.login(viewer.email)
    page = client.get(f"/cockpit/debtors/{debtor.id}").text
    assert "1 working" in page and "Revoke all links" not in page and "Make a new link" not in page
    token = csrf_from(page)
    for action in ("revoke", "manual", "mail"):
        response = client.post(f"/cockpit/debtors/{debtor.id}/links/{action}", data={"csrf_token": token})
        assert response.status_code == 403
    assert _opens(app, path)
    assert db_session.scalar(select(AccessLink).where(AccessLink.kind != "message")) is None


def test_every_link_action_needs_the_csrf_token(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org, email="ap@example.com")
    _message_link(db_session, debtor)
    for action in ("revoke", "manual", "mail"):
        response = client.post(f"/cockpit/debtors/{debtor.id}/links/{action}", data={"confirm": "yes"})
        assert response.status_code == 400, action
    assert db_session.scalar(select(AccessLink.revoked_at)) is None
    assert db_session.scalar(select(AccessLink).where(AccessLink.kind != "message")) is None
