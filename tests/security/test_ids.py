"""Ids beyond what the id columns hold (issue 16, case 9): every route with an id in its path, the self-service
forms that carry invoice ids and the cockpit's forms answer as for any id that does not exist, never a 500.
Before: /cockpit/invoices/2147483648 raised NumericValueOutOfRange on PostgreSQL (INTEGER ids), and a number
beyond 2**63 - 1 raised OverflowError on SQLite, on every id route and in /s/pay's form."""

import re
from urllib.parse import urlsplit

import pytest

from portal.links.service import new_link
from portal.types import utcnow
from tests.conftest import csrf_from
from tests.factories import make_debtor, make_invoice, make_organisation, make_user

# Just beyond PostgreSQL's INTEGER, beyond SQLite's 64-bit INTEGER, and far beyond both.
TOO_LARGE = [2**31, 2**63, 10**20]
ID_IN_PATH = re.compile(r"<int:\w+>")


@pytest.fixture
def both_sides(client, db_session):
    """A signed-in owner and, in the same browser, a debtor's self-service visit: every route gets past its
    sign-in or link check to the id."""
    organisation = make_organisation(db_session, name="Acme B.V.")
    owner = make_user(db_session, organisation, role="owner")
    debtor = make_debtor(db_session, organisation, name="Klant B.V.")
    invoice = make_invoice(db_session, debtor, "121.00", number="A-1", days_overdue=10)
    url, link = new_link(organisation.id, debtor.id, "http://localhost", utcnow())
    db_session.add(link)
    db_session.flush()
    assert client.get(urlsplit(url).path).status_code == 303
    return organisation, owner, debtor, invoice


def _id_rules(app):
    return [rule for rule in app.url_map.iter_rules() if ID_IN_PATH.search(rule.rule)]


@pytest.mark.parametrize("number", TOO_LARGE)
def test_every_route_with_an_id_answers_404_for_an_id_beyond_the_columns(app, client, auth, both_sides, number):
    _, owner, _, _ = both_sides
    auth.login(owner.email)
    token = csrf_from(client.get("/cockpit/").text)
    answers = {}
    for rule in _id_rules(app):
        url = ID_IN_PATH.sub(str(number), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            try:
                status = client.open(url, method=method, data={"csrf_token": token}).status_code
            except Exception as exc:  # noqa: BLE001 - what the server would have answered with a 500
                status = type(exc).__name__
            answers[f"{method} {url}"] = status
    assert len(answers) > 50 and any(key.startswith("GET /s/") for key in answers)
    assert {key: status for key, status in answers.items() if status != 404} == {}


@pytest.mark.parametrize("number", TOO_LARGE)
@pytest.mark.parametrize(
    "method, path, field",
    [
        ("POST", "/s/pay", "invoice"),
        ("GET", "/s/promise", "invoice"),
        ("POST", "/s/promise", "invoice_ids"),
        ("GET", "/s/paid", "invoice"),
        ("POST", "/s/paid", "invoice_ids"),
        ("GET", "/s/plan", "invoice"),
        ("POST", "/s/plan", "invoice_ids"),
    ],
)
def test_self_service_forms_answer_404_for_an_invoice_id_beyond_the_columns(
    client, both_sides, number, method, path, field
):
    _, _, _, invoice = both_sides
    token = csrf_from(client.get("/s/contact").text)
    values = {field: [str(invoice.id), str(number)]}
    if method == "GET":
        response = client.get(path, query_string=values)
    else:
        response = client.post(path, data={"csrf_token": token, **values})
    assert response.status_code == 404


@pytest.mark.parametrize("number", TOO_LARGE)
def test_cockpit_forms_leave_an_invoice_id_beyond_the_columns_out(client, auth, both_sides, number):
    organisation, owner, debtor, _ = both_sides
    auth.login(owner.email)
    token = csrf_from(client.get("/cockpit/").text)
    today = organisation.today().isoformat()
    plan = client.post(
        f"/cockpit/debtors/{debtor.id}/arrangements",
        data={
            "csrf_token": token,
            "invoice_ids": [str(number)],
            "installments": "2",
            "frequency": "monthly",
            "first_due": today,
        },
    )
    assert plan.status_code == 422  # as if no invoice were ticked
    payment = client.post(
        f"/cockpit/debtors/{debtor.id}/payments",
        data={"csrf_token": token, "invoice_id": [str(number)], "amount": "21,00", "received_on": today},
    )
    assert payment.status_code == 303  # booked on the oldest open invoice, as with none ticked
