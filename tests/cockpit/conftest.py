import pytest

from tests.factories import make_organisation, make_user


@pytest.fixture
def org(db_session):
    return make_organisation(db_session, name="Acme B.V.")


@pytest.fixture
def signed_in(client, auth, db_session, org):
    """A controller of ``org``, signed in; returns the user."""
    user = make_user(db_session, org, role="controller")
    auth.login(user.email)
    return user
