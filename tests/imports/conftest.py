"""The organisation the CSV import's tests import into (test_cli and test_ubl have their own)."""

import pytest

from tests.factories import make_organisation


@pytest.fixture
def org(db_session):
    return make_organisation(db_session)
