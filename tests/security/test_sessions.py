"""Sessions (issue 16, case 6): signing out ends the session on the server. Before, Flask's signed cookie was the
whole session: a copy of it (a shared computer, a stolen cookie) stayed signed in for up to 31 days after the owner
signed out, until the password changed."""

from sqlalchemy import func, select

from portal.organisations.models import UserSession
from tests.conftest import Auth, csrf_from
from tests.factories import make_organisation, make_user


def _copy_cookies(source, target) -> None:
    """Give ``target`` (a second test client) the cookies ``source`` holds: a copied session cookie."""
    for cookie in source._cookies.values():
        target.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)


def test_signing_out_ends_every_copy_of_the_session(app, client, db_session, auth):
    user = make_user(db_session, make_organisation(db_session))
    assert auth.login(user.email).status_code == 303
    thief = app.test_client()
    _copy_cookies(client, thief)
    assert thief.get("/cockpit/").status_code == 200  # the copy works while the session lives

    assert auth.logout().status_code == 303
    after = thief.get("/cockpit/")
    assert after.status_code == 302 and after.headers["Location"].startswith("/login")
    assert db_session.scalar(select(func.count()).select_from(UserSession)) == 0


def test_signing_out_in_one_browser_leaves_the_others_signed_in(app, client, db_session, auth):
    user = make_user(db_session, make_organisation(db_session))
    laptop, phone = client, app.test_client()
    auth.login(user.email)
    assert Auth(phone).login(user.email).status_code == 303

    auth.logout()
    assert laptop.get("/cockpit/").status_code == 302
    assert phone.get("/cockpit/").status_code == 200
    # The phone signs out with its own form, its own token.
    assert phone.post("/logout", data={"csrf_token": csrf_from(phone.get("/cockpit/").text)}).status_code == 303
    assert phone.get("/cockpit/").status_code == 302
