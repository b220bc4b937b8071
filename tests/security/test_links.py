"""Account links (issue 16, case 1): one live invitation and one live reset link per person at a time, and an
invitation never sets the password of someone who has joined. Before: invite twice, the invitee joins with the second
link, whoever holds the first (an old mail, the Mailbox, a forward) set a new password and was signed in as them."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from portal.mail.models import MailMessage
from portal.organisations import service as accounts
from portal.organisations.models import User
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_organisation, make_user

INVITEE = "carl@example.com"


def _invite(client) -> None:
    response = client.post(
        "/cockpit/team/invite",
        data={
            "name": "Carl Controller",
            "email": INVITEE,
            "role": "controller",
            "csrf_token": csrf_from(client.get("/cockpit/team").text),
        },
    )
    assert response.status_code == 303


def _links(db_session, template: str, address: str, pattern: str) -> list[str]:
    """The links mailed to ``address`` with this template, oldest first."""
    messages = db_session.scalars(
        select(MailMessage)
        .where(MailMessage.to_address == address, MailMessage.template == template)
        .order_by(MailMessage.id)
    ).all()
    return [re.search(pattern, message.body_text).group(1) for message in messages]


def _join(client, link: str, password: str):
    """Follow an invitation link and choose a password; the response of the last step."""
    form = client.get(link, follow_redirects=True)
    if form.status_code != 200:
        return form
    return client.post(
        "/invitation",
        data={"name": "Carl", "password": password, "confirm": password, "csrf_token": csrf_from(form.text)},
    )


def test_an_earlier_invitation_stops_working_when_a_new_one_is_sent(app, client, db_session, auth):
    organisation = make_organisation(db_session)
    owner = make_user(db_session, organisation, role="owner")
    auth.login(owner.email)
    _invite(client)
    _invite(client)  # "I did not get it": the owner sends it again
    auth.logout()
    first, second = _links(db_session, "invitation", INVITEE, r"http://localhost(/invitation/\S+)")

    assert _join(client, second, "carls own password").status_code == 303
    auth.logout()

    stranger = app.test_client()
    assert stranger.get(first).status_code == 410  # the old mail's link is dead, before and after joining
    assert _join(stranger, first, "the strangers password").status_code == 410
    db_session.expire_all()
    carl = db_session.scalar(select(User).where(User.email == INVITEE))
    assert auth.login(INVITEE, "carls own password").status_code == 303
    assert check_password_hash(carl.password_hash, "carls own password")


def test_an_invitation_cannot_be_used_twice_nor_after_joining(app, client, db_session, auth):
    organisation = make_organisation(db_session)
    owner = make_user(db_session, organisation, role="owner")
    auth.login(owner.email)
    _invite(client)
    auth.logout()
    (link,) = _links(db_session, "invitation", INVITEE, r"http://localhost(/invitation/\S+)")
    assert _join(client, link, "carls own password").status_code == 303
    auth.logout()

    assert _join(app.test_client(), link, "the strangers password").status_code == 410
    # Inviting someone who has joined is refused: a password is changed by its owner, through a reset link.
    auth.login(owner.email)
    refused = client.post(
        "/cockpit/team/invite",
        data={
            "name": "Carl",
            "email": INVITEE,
            "role": "owner",
            "csrf_token": csrf_from(client.get("/cockpit/team").text),
        },
    )
    assert refused.status_code == 422 and "already has a Duly account" in refused.text
    assert len(_links(db_session, "invitation", INVITEE, r"http://localhost(/invitation/\S+)")) == 1


def test_an_earlier_reset_link_stops_working_when_a_new_one_is_asked_for(client, db_session, auth):
    user = make_user(db_session, make_organisation(db_session))
    for _ in range(2):
        client.post(
            "/password/forgot",
            data={"email": user.email, "csrf_token": csrf_from(client.get("/password/forgot").text)},
        )
    first, second = _links(db_session, "password_reset", user.email, r"http://localhost(/password/reset/\S+)")

    assert client.get(first).status_code == 410
    assert client.get(second).status_code == 303
    form = client.get("/password/reset")
    done = client.post(
        "/password/reset",
        data={"password": "brand new password", "confirm": "brand new password", "csrf_token": csrf_from(form.text)},
    )
    assert done.status_code == 303
    auth.logout()
    assert auth.login(user.email, PASSWORD).status_code == 422
    assert auth.login(user.email, "brand new password").status_code == 303


def test_an_invitation_never_sets_the_password_of_someone_who_has_one(db_session):
    """Defence in depth behind the voided links: even a live invitation token is refused for a user with a password
    (a password is changed by its owner, through a reset link)."""
    organisation = make_organisation(db_session)
    owner = make_user(db_session, organisation, role="owner")
    user, token = accounts.invite_user(
        db_session,
        organisation.id,
        email=INVITEE,
        name="Carl",
        role="viewer",
        lifetime=timedelta(days=7),
        actor_id=owner.id,
    )
    user.password_hash = generate_password_hash("carls own password")  # joined some other way
    db_session.flush()
    assert accounts.peek_token(db_session, token, "invite") is None  # the form is not shown
    with pytest.raises(accounts.AccountError, match="joined already"):
        accounts.accept_invitation(db_session, token, "Stranger", "the strangers password")
