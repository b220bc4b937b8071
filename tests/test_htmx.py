from portal.mail.models import MailMessage
from tests.factories import make_organisation, make_user


def test_mailbox_answers_htmx_with_its_rows_fragment(client, db_session, auth):
    organisation = make_organisation(db_session)
    user = make_user(db_session, organisation)
    db_session.add(
        MailMessage(
            organisation_id=organisation.id,
            template="invitation",
            to_address="a@example.com",
            from_address="b@example.com",
            subject="Hello there",
            body_text="x",
            status="outbox",
        )
    )
    db_session.flush()
    auth.login(user.email)
    page = client.get("/cockpit/mailbox")
    fragment = client.get("/cockpit/mailbox", headers={"HX-Request": "true"})
    boosted = client.get("/cockpit/mailbox", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in page.text and "Hello there" in page.text
    assert "<html" not in fragment.text and "Hello there" in fragment.text and "<tr>" in fragment.text
    assert "<html" in boosted.text  # a boosted navigation wants the whole page
    assert "HX-Request" in page.headers["Vary"] and "HX-Request" in fragment.headers["Vary"]


def test_a_reset_link_is_readable_by_its_addressee_only(client, db_session, auth):
    organisation = make_organisation(db_session)
    owner = make_user(db_session, organisation, role="owner")
    viewer = make_user(db_session, organisation, role="viewer")
    message = MailMessage(
        organisation_id=organisation.id,
        template="password_reset",
        to_address=owner.email,
        from_address="b@example.com",
        subject="Choose a new Duly password",
        body_text="http://localhost/password/reset/SECRET",
        status="outbox",
        sensitive=True,
    )
    db_session.add(message)
    db_session.flush()
    auth.login(viewer.email)
    assert "SECRET" not in client.get(f"/cockpit/mailbox/{message.id}").text
    auth.logout()
    co_owner = make_user(db_session, organisation, role="owner")
    auth.login(co_owner.email)
    assert "SECRET" not in client.get(f"/cockpit/mailbox/{message.id}").text  # a reset link is its addressee's only
    auth.logout()
    auth.login(owner.email)
    assert "SECRET" in client.get(f"/cockpit/mailbox/{message.id}").text
