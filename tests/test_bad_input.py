"""Odd input gets a clear answer, never a 500."""

from datetime import date
from decimal import Decimal

import pytest

from portal.ledger.service import change_total, record_payment
from portal.money import MoneyError, parse_amount, parse_typed_amount
from tests.conftest import csrf_from
from tests.factories import make_debtor, make_invoice, make_organisation, make_user


@pytest.mark.parametrize("text", ["1e30", "9e99", "1e3", "123456789012345678901234567890", "NaN", "inf"])
def test_amounts_in_exponent_form_or_too_large_are_money_errors(text):
    with pytest.raises(MoneyError):
        parse_typed_amount(text)
    with pytest.raises(MoneyError):
        parse_amount(text)


@pytest.fixture
def controller(client, auth, db_session):
    organisation = make_organisation(db_session)
    user = make_user(db_session, organisation, role="controller")
    auth.login(user.email)
    return organisation


def test_huge_amount_in_a_form_is_a_field_error(client, db_session, controller):
    debtor = make_debtor(db_session, controller)
    url = f"/cockpit/debtors/{debtor.id}/invoices/new"
    data = {
        "csrf_token": csrf_from(client.get(url).text),
        "number": "X1",
        "issue_date": "2026-11-01",
        "due_date": "2026-12-01",
        "total": "9e99",
        "currency": "EUR",
    }
    response = client.post(url, data=data)
    assert response.status_code == 422 and "Not an amount" in response.text


@pytest.mark.parametrize("url", ["/cockpit/invoices?q=a%00b", "/cockpit/debtors?q=a%00b"])
def test_nul_bytes_are_refused_with_400(client, controller, url):
    assert client.get(url).status_code == 400


@pytest.mark.parametrize("extra", ["endpoint=x", "_method=POST", "_anchor=x", "_external=1"])
def test_pager_links_ignore_unknown_query_parameters(client, db_session, controller, extra):
    for n in range(55):
        make_debtor(db_session, controller, name=f"Debtor {n:02d}")
    response = client.get(f"/cockpit/debtors?page=2&{extra}")
    assert response.status_code == 200 and "Previous" in response.text
    assert extra.split("=")[0] not in response.text.split('rel="prev"')[0].rsplit("href=", 1)[1]


def test_debtor_search_treats_wildcards_literally(client, db_session, controller):
    make_debtor(db_session, controller, name="Percent Shop")
    assert "Percent Shop" not in client.get("/cockpit/debtors?q=%25").text
    assert "Percent Shop" not in client.get("/cockpit/debtors?q=_").text


def test_login_works_with_redis_away(app, client, db_session, monkeypatch):
    from portal.extensions import limiter

    user = make_user(db_session, make_organisation(db_session))
    monkeypatch.setattr(limiter._storage, "incr", lambda *a, **k: (_ for _ in ()).throw(ConnectionError("down")))
    response = client.post(
        "/login",
        data={
            "email": user.email,
            "password": "correct horse battery",
            "csrf_token": csrf_from(client.get("/login").text),
        },
    )
    assert response.status_code == 303


def test_a_changed_total_keeps_settled_on_true(db_session):
    debtor = make_debtor(db_session, make_organisation(db_session))
    invoice = make_invoice(db_session, debtor, "100.00")
    record_payment(
        db_session, debtor.organisation_id, debtor.id, Decimal("60.00"), "EUR", date(2026, 2, 1), auto_allocate=True
    )
    change_total(db_session, invoice.id, Decimal("60.00"))
    assert invoice.status == "paid" and invoice.settled_on is not None
    change_total(db_session, invoice.id, Decimal("90.00"))
    assert invoice.status == "open" and invoice.settled_on is None
