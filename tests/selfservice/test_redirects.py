"""The self-service routes send the debtor nowhere but our own pages and Mollie's checkout."""

import pytest

from portal.selfservice.payments import _is_checkout
from tests.factories import make_debtor, make_invoice, make_organisation
from tests.selfservice.test_links import _link

EVIL = [
    "//evil.example/checkout",
    "/\\evil.example",
    "javascript:alert(1)",
    "https:evil.example",
    "http://www.mollie.com/checkout/select-method/x",  # Mollie, but not over https
    "https://mollie.com.evil.example/checkout",
    "https://evilmollie.com/checkout",
    "data:text/html,<script>alert(1)</script>",
]


@pytest.mark.parametrize("url", EVIL)
def test_a_checkout_url_that_is_not_mollies_is_not_followed(app, monkeypatch, url):
    monkeypatch.setitem(app.config, "MOLLIE_API_ENDPOINT", "https://api.mollie.com")
    with app.test_request_context():
        assert not _is_checkout(url)


def test_mollies_checkout_and_the_configured_endpoint_are_followed(app, monkeypatch):
    monkeypatch.setitem(app.config, "MOLLIE_API_ENDPOINT", "http://127.0.0.1:5055")
    with app.test_request_context():
        assert _is_checkout("https://www.mollie.com/checkout/select-method/7UhSN1zuXS")
        assert _is_checkout("http://127.0.0.1:5055/checkout/tr_abc")  # the simulator
        assert not _is_checkout("http://127.0.0.1:5056/checkout/tr_abc")


@pytest.mark.parametrize("value", ["//evil.example", "javascript:alert(1)", "de", "/\\evil.example"])
def test_the_language_switch_takes_only_its_two_languages_and_redirects_nowhere(client, db_session, value):
    organisation = make_organisation(db_session)
    debtor = make_debtor(db_session, organisation, language="en")
    make_invoice(db_session, debtor, "10.00", number="L-1", days_overdue=1)
    client.get(_link(db_session, debtor))

    response = client.get("/s/", query_string={"lang": value})

    assert response.status_code == 200 and "Location" not in response.headers
    assert 'lang="en"' in response.text and "evil" not in response.text and "javascript" not in response.text
