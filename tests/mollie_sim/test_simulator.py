"""The Mollie simulator, served for real and driven by Mollie's official client (and by plain HTTP where a browser or
a test would talk to it)."""

import json
import re
import threading
from datetime import datetime, timedelta

import pytest
import requests
from flask import Flask
from mollie.api.error import NotFoundError, ResponseError, UnauthorizedError, UnprocessableEntityError

from portal.mollie_sim import cli as sim_cli
from portal.mollie_sim.webhooks import WebhookSender
from tests.mollie_sim.conftest import KEY, OTHER_KEY, Receiver, Server

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")


def payment_data(**changes) -> dict:
    return {
        "amount": {"currency": "EUR", "value": "10.00"},
        "description": "Invoice 2026-001",
        "redirectUrl": "https://portal.example/pay/return",
        "metadata": {"invoice_id": 7},
        **changes,
    }


def sim_post(simulator, path: str, body: dict | None = None) -> requests.Response:
    return requests.post(f"{simulator.url}{path}", json=body or {}, timeout=10)


def paid_payment(mollie, simulator, **changes):
    payment = mollie.payments.create(payment_data(**changes))
    assert sim_post(simulator, f"/_sim/payments/{payment.id}/status", {"status": "paid"}).status_code == 200
    return mollie.payments.get(payment.id)


def test_create_get_and_list_with_the_official_client(mollie, simulator):
    created = mollie.payments.create(payment_data(webhookUrl="https://portal.example/webhooks/mollie", locale="nl_NL"))

    assert re.fullmatch(r"tr_[A-Za-z0-9]{10}", created.id)
    assert created.resource == "payment" and created.mode == "test" and created.status == "open"
    assert created.amount == {"currency": "EUR", "value": "10.00"}
    assert created.metadata == {"invoice_id": 7} and created.locale == "nl_NL"
    assert created.sequence_type == "oneoff" and created.is_cancelable is True
    assert created.profile_id.startswith("pfl_") and not created.is_paid()
    assert ISO_UTC.fullmatch(created.created_at) and ISO_UTC.fullmatch(created.expires_at)
    expires = datetime.fromisoformat(created.expires_at) - datetime.fromisoformat(created.created_at)
    assert expires == timedelta(minutes=15)
    assert created.checkout_url == f"{simulator.url}/checkout/{created.id}"
    links = created["_links"]
    assert links["self"]["href"] == f"{simulator.url}/v2/payments/{created.id}"
    assert {"self", "checkout", "dashboard", "documentation"} <= set(links)
    assert "amountRefunded" not in created and not created.has_refunds()

    fetched = mollie.payments.get(created.id)
    assert dict(fetched) == dict(created)
    listed = mollie.payments.list()
    assert listed.count == 1 and listed[0].id == created.id


def test_create_answers_201_in_hal_json(simulator):
    response = requests.post(
        f"{simulator.url}/v2/payments", json=payment_data(), headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    )
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/hal+json"


def test_list_pages_newest_first_with_from_and_limit(mollie):
    ids = [mollie.payments.create(payment_data(description=f"Invoice {n}")).id for n in range(3)]

    first = mollie.payments.list(limit=2)
    assert [p.id for p in first] == [ids[2], ids[1]]
    assert first.has_next() and not first.has_previous()
    second = first.get_next()
    assert [p.id for p in second] == [ids[0]]
    assert second.has_previous() and not second.has_next()
    assert [p.id for p in mollie.payments.list(**{"from": ids[1], "limit": 5})] == [ids[1], ids[0]]


def test_a_bad_key_is_unauthorized(make_client, simulator):
    with pytest.raises(UnauthorizedError):
        make_client("test_tooshort").payments.list()

    response = requests.get(f"{simulator.url}/v2/payments", timeout=10)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/hal+json"
    body = response.json()
    assert body["status"] == 401 and body["title"] == "Unauthorized Request"
    assert body["detail"] == "Missing authentication, or failed to authenticate"
    assert body["_links"]["documentation"]["href"].startswith("https://docs.mollie.com/")


def test_each_key_sees_only_its_own_payments(mollie, make_client, simulator):
    payment = paid_payment(mollie, simulator)
    other = make_client(OTHER_KEY)

    with pytest.raises(NotFoundError):
        other.payments.get(payment.id)
    with pytest.raises(NotFoundError):
        other.payments.delete(payment.id)
    assert other.payments.list().count == 0
    response = requests.get(
        f"{simulator.url}/v2/payments/{payment.id}/refunds",
        headers={"Authorization": f"Bearer {OTHER_KEY}"},
        timeout=10,
    )
    assert response.status_code == 404 and response.json()["title"] == "Not Found"

    live = make_client("live_" + "c" * 30).payments.create(payment_data())
    assert live.mode == "live" and live.profile_id != payment.profile_id


def test_the_state_file_keeps_no_api_key(mollie, state_path):
    mollie.payments.create(payment_data())
    assert KEY not in state_path.read_text()


def test_an_idempotency_key_replays_the_first_response(mollie, simulator):
    first = mollie.payments.create(payment_data(), idempotency_key="invoice-7-attempt-1")
    again = mollie.payments.create(payment_data(), idempotency_key="invoice-7-attempt-1")

    assert again.id == first.id and dict(again) == dict(first)
    assert mollie.payments.list().count == 1
    with pytest.raises(UnprocessableEntityError):
        mollie.payments.create(payment_data(description="Another"), idempotency_key="invoice-7-attempt-1")

    replayed = requests.post(
        f"{simulator.url}/v2/payments",
        data=json.dumps(payment_data()),
        headers={"Authorization": f"Bearer {KEY}", "Idempotency-Key": "invoice-7-attempt-1"},
        timeout=10,
    )
    assert replayed.status_code == 201 and replayed.json()["id"] == first.id
    assert replayed.headers["Idempotent-Replayed"] == "true"


def test_the_client_sends_a_new_idempotency_key_per_call(mollie):
    """Mollie's client makes up a key for each create(): only a key Duly passes itself spans retries."""
    mollie.payments.create(payment_data())
    mollie.payments.create(payment_data())
    assert mollie.payments.list().count == 2


def test_an_idempotency_key_is_per_api_key(mollie, make_client):
    mine = mollie.payments.create(payment_data(), idempotency_key="same")
    theirs = make_client(OTHER_KEY).payments.create(payment_data(), idempotency_key="same")
    assert theirs.id != mine.id


def test_checkout_page_shows_the_payment_and_the_outcomes(mollie, simulator):
    payment = mollie.payments.create(payment_data(method=["ideal", "bancontact"]))

    page = requests.get(payment.checkout_url, timeout=10)

    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "Invoice 2026-001" in page.text and "EUR 10.00" in page.text
    for outcome in ("paid", "failed", "canceled", "expired"):
        assert f'name="status" value="{outcome}"' in page.text
    assert '<option value="bancontact"' in page.text and "creditcard" not in page.text
    assert "<script" not in page.text and "style=" not in page.text and "<style" not in page.text


def test_checkout_paid_calls_the_webhook_then_redirects(mollie, simulator, receiver):
    payment = mollie.payments.create(payment_data(webhookUrl=receiver.url))

    response = requests.post(
        payment.checkout_url, data={"status": "paid", "method": "creditcard"}, allow_redirects=False, timeout=10
    )

    assert response.status_code == 303
    assert response.headers["Location"] == "https://portal.example/pay/return"
    assert receiver.calls == [
        {"path": "/webhooks/mollie", "content_type": "application/x-www-form-urlencoded", "id": [payment.id]}
    ]
    paid = mollie.payments.get(payment.id)
    assert paid.is_paid() and paid.status == "paid" and paid.method == "creditcard"
    assert ISO_UTC.fullmatch(paid.paid_at) and paid.is_cancelable is False
    assert paid.amount_refunded == {"currency": "EUR", "value": "0.00"}
    assert paid.amount_remaining == {"currency": "EUR", "value": "10.00"}


@pytest.mark.parametrize(
    ("outcome", "stamp"), [("failed", "failedAt"), ("canceled", "canceledAt"), ("expired", "expiredAt")]
)
def test_checkout_other_outcomes(mollie, simulator, receiver, outcome, stamp):
    payment = mollie.payments.create(payment_data(webhookUrl=receiver.url))

    response = requests.post(payment.checkout_url, data={"status": outcome}, allow_redirects=False, timeout=10)

    assert response.status_code == 303 and receiver.ids() == [payment.id]
    finished = mollie.payments.get(payment.id)
    assert finished.status == outcome and ISO_UTC.fullmatch(finished[stamp])
    assert not finished.is_paid() and "amountRemaining" not in finished


def test_a_finished_payment_checkout_says_so_and_links_back(mollie, simulator, receiver):
    payment = paid_payment(mollie, simulator, webhookUrl=receiver.url)

    page = requests.get(payment.checkout_url, timeout=10)
    again = requests.post(payment.checkout_url, data={"status": "failed"}, allow_redirects=False, timeout=10)

    assert "already finished" in page.text and 'href="https://portal.example/pay/return"' in page.text
    assert again.status_code == 409 and mollie.payments.get(payment.id).status == "paid"
    assert receiver.ids() == [payment.id]  # the control endpoint's call; the refused choice made none


def test_control_endpoint_sets_a_status_and_calls_the_webhook(mollie, simulator, receiver):
    payment = mollie.payments.create(payment_data(webhookUrl=receiver.url))

    response = sim_post(simulator, f"/_sim/payments/{payment.id}/status", {"status": "failed"})

    assert response.status_code == 200 and response.json()["status"] == "failed"
    assert receiver.ids() == [payment.id]
    assert mollie.payments.get(payment.id).is_failed()

    sim_post(simulator, f"/_sim/payments/{payment.id}/status", {"status": "paid", "webhook": False})
    assert receiver.ids() == [payment.id]
    reopened = sim_post(simulator, f"/_sim/payments/{payment.id}/status", {"status": "open", "webhook": False}).json()
    assert reopened["status"] == "open" and "paidAt" not in reopened


def test_control_endpoint_takes_a_form_and_refuses_unknown_statuses(mollie, simulator):
    payment = mollie.payments.create(payment_data())

    form = requests.post(f"{simulator.url}/_sim/payments/{payment.id}/status", data={"status": "pending"}, timeout=10)
    unknown = sim_post(simulator, f"/_sim/payments/{payment.id}/status", {"status": "refunded"})
    missing = sim_post(simulator, "/_sim/payments/tr_nothere000/status", {"status": "paid"})

    assert form.json()["status"] == "pending"
    assert unknown.status_code == 422 and unknown.json()["field"] == "status"
    assert missing.status_code == 404


def test_a_failing_webhook_is_retried_and_never_fails_the_request(mollie, simulator, receiver):
    receiver.failures = 2
    payment = mollie.payments.create(payment_data(webhookUrl=receiver.url))

    assert sim_post(simulator, f"/_sim/payments/{payment.id}/status", {"status": "paid"}).status_code == 200
    assert receiver.ids() == [payment.id] * 3  # two 500s, then the retry that worked

    unreachable = mollie.payments.create(payment_data(webhookUrl="http://127.0.0.1:9/unreachable"))
    assert sim_post(simulator, f"/_sim/payments/{unreachable.id}/status", {"status": "paid"}).status_code == 200


def test_background_webhook_retries():
    receiver = Receiver(failures=1)
    server = Server(receiver)
    try:
        WebhookSender(background=True, attempts=3, backoff=0.01).deliver(f"{server.url}/hook", "tr_x", wait=True)
        assert receiver.called.wait(timeout=10)
        assert receiver.ids() == ["tr_x", "tr_x"]
    finally:
        server.stop()


def test_refund_only_when_paid_and_not_more_than_what_is_left(mollie, simulator, receiver):
    payment = mollie.payments.create(payment_data(webhookUrl=receiver.url))
    with pytest.raises(UnprocessableEntityError):
        payment.refunds.create({"amount": {"currency": "EUR", "value": "1.00"}})
    sim_post(simulator, f"/_sim/payments/{payment.id}/status", {"status": "paid", "webhook": False})

    with pytest.raises(UnprocessableEntityError) as too_much:
        payment.refunds.create({"amount": {"currency": "EUR", "value": "10.01"}})
    assert too_much.value.field == "amount"
    refund = payment.refunds.create(
        {"amount": {"currency": "EUR", "value": "4.00"}, "description": "Credit note", "metadata": {"credit": 3}}
    )

    assert re.fullmatch(r"re_[A-Za-z0-9]{10}", refund.id)
    assert refund.resource == "refund" and refund.status == "pending" and refund.payment_id == payment.id
    assert refund.amount == {"currency": "EUR", "value": "4.00"} and refund.description == "Credit note"
    assert refund.settlement_amount == {"currency": "EUR", "value": "-4.00"} and refund.metadata == {"credit": 3}
    assert ISO_UTC.fullmatch(refund.created_at)
    assert refund["_links"]["payment"]["href"] == f"{simulator.url}/v2/payments/{payment.id}"
    assert receiver.ids() == [payment.id]  # Mollie calls the payment's webhook about refunds

    after = mollie.payments.get(payment.id)
    assert after.amount_refunded == {"currency": "EUR", "value": "4.00"}
    assert after.amount_remaining == {"currency": "EUR", "value": "6.00"}
    assert after.has_refunds() and after.status == "paid"
    after.refunds.create({"amount": {"currency": "EUR", "value": "6.00"}})
    with pytest.raises(UnprocessableEntityError):
        after.refunds.create({"amount": {"currency": "EUR", "value": "0.01"}})
    refunds = after.refunds.list()
    assert refunds.count == 2 and refunds[1].id == refund.id
    assert after.refunds.get(refund.id).id == refund.id


def test_chargeback_is_listed_and_shown_on_the_payment(mollie, simulator, receiver):
    open_payment = mollie.payments.create(payment_data())
    assert sim_post(simulator, f"/_sim/payments/{open_payment.id}/chargeback").status_code == 422
    payment = paid_payment(mollie, simulator, webhookUrl=receiver.url)

    created = sim_post(
        simulator, f"/_sim/payments/{payment.id}/chargeback", {"amount": {"currency": "EUR", "value": "3.00"}}
    )

    assert created.status_code == 201 and receiver.ids() == [payment.id, payment.id]
    chargebacks = mollie.payments.get(payment.id).chargebacks.list()
    assert chargebacks.count == 1
    chargeback = chargebacks[0]
    assert re.fullmatch(r"chb_[A-Za-z0-9]{10}", chargeback.id) and chargeback["resource"] == "chargeback"
    assert chargeback.amount == {"currency": "EUR", "value": "3.00"}
    assert chargeback.settlement_amount == {"currency": "EUR", "value": "-3.00"}
    assert chargeback.reversed_at is None and chargeback.payment_id == payment.id
    assert ISO_UTC.fullmatch(chargeback.created_at)
    after = mollie.payments.get(payment.id)
    assert after.has_chargebacks() and after.amount_chargedback == {"currency": "EUR", "value": "3.00"}
    assert after.amount_remaining == {"currency": "EUR", "value": "7.00"}

    rest = sim_post(simulator, f"/_sim/payments/{payment.id}/chargeback").json()  # default: what is left
    assert rest["amount"]["value"] == "7.00"
    assert sim_post(simulator, f"/_sim/payments/{payment.id}/chargeback").status_code == 422


def test_fail_next_makes_the_next_calls_fail(mollie, simulator):
    payment = mollie.payments.create(payment_data())
    assert sim_post(simulator, "/_sim/fail-next", {"status": 503, "count": 2}).json() == {"status": 503, "count": 2}

    for _ in range(2):
        with pytest.raises(ResponseError) as failed:
            mollie.payments.get(payment.id)
        assert failed.value.status == 503 and type(failed.value) is ResponseError
    assert mollie.payments.get(payment.id).id == payment.id


def test_a_failed_create_can_be_retried_with_the_same_idempotency_key(mollie, simulator):
    sim_post(simulator, "/_sim/fail-next", {"status": 500, "count": 1})
    with pytest.raises(ResponseError):
        mollie.payments.create(payment_data(), idempotency_key="retry-me")
    created = mollie.payments.create(payment_data(), idempotency_key="retry-me")
    assert mollie.payments.list().count == 1 and mollie.payments.list()[0].id == created.id


def test_cancel_an_open_payment(mollie, receiver):
    payment = mollie.payments.create(payment_data(webhookUrl=receiver.url))

    canceled = mollie.payments.delete(payment.id)

    assert canceled.is_canceled() and canceled.canceled_at and canceled.is_cancelable is False
    assert receiver.ids() == [payment.id]
    with pytest.raises(UnprocessableEntityError):
        mollie.payments.delete(payment.id)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": {"currency": "EUR", "value": "10"}}, "amount.value"),
        ({"amount": {"currency": "EUR", "value": 10.0}}, "amount.value"),
        ({"amount": {"currency": "EUR", "value": "0.00"}}, "amount.value"),
        ({"amount": {"currency": "euro", "value": "10.00"}}, "amount.currency"),
        ({"amount": None}, "amount"),
        ({"description": ""}, "description"),
        ({"description": "x" * 256}, "description"),
        ({"redirectUrl": "not a url"}, "redirectUrl"),
        ({"webhookUrl": "ftp://portal.example/hook"}, "webhookUrl"),
        ({"method": "bitcoin"}, "method"),
        ({"method": ["ideal", "cash"]}, "method"),
        ({"metadata": {"notes": "x" * 1100}}, "metadata"),
        ({"locale": "xx_XX"}, "locale"),
    ],
)
def test_malformed_input_is_a_422_naming_the_field(mollie, simulator, changes, field):
    with pytest.raises(UnprocessableEntityError) as refused:
        mollie.payments.create(payment_data(**changes))
    assert refused.value.field == field

    response = requests.post(
        f"{simulator.url}/v2/payments",
        json=payment_data(**changes),
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=10,
    )
    body = response.json()
    assert response.status_code == 422 and response.headers["Content-Type"] == "application/hal+json"
    assert body["status"] == 422 and body["title"] == "Unprocessable Entity" and body["field"] == field
    assert body["detail"] and body["_links"]["documentation"]["type"] == "text/html"


def test_a_body_that_is_not_json_is_a_400(simulator):
    response = requests.post(
        f"{simulator.url}/v2/payments", data="{amount:", headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    )
    assert response.status_code == 400 and response.json()["title"] == "Bad Request"


def test_unknown_api_routes_answer_with_an_error_object(simulator):
    response = requests.get(f"{simulator.url}/v2/orders", headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert response.status_code == 404 and response.json()["status"] == 404


def test_state_survives_a_restart(mollie, make_client, simulator, start_simulator, state_path):
    payment = paid_payment(mollie, simulator)
    payment.refunds.create({"amount": {"currency": "EUR", "value": "2.50"}})
    created = mollie.payments.create(payment_data(), idempotency_key="before-restart")
    simulator.server.stop()

    restarted = start_simulator(state_path)
    client = make_client(url=restarted.url)

    kept = client.payments.get(payment.id)
    assert kept.is_paid() and kept.amount_remaining == {"currency": "EUR", "value": "7.50"}
    assert client.payments.create(payment_data(), idempotency_key="before-restart").id == created.id
    assert client.payments.list().count == 2
    assert not list(state_path.parent.glob("*.tmp"))  # written through a temp file, none left behind


def test_concurrent_requests_lose_nothing(mollie, make_client, simulator, start_simulator, state_path):
    def create_five() -> None:
        client = make_client()
        for _ in range(5):
            client.payments.create(payment_data())

    threads = [threading.Thread(target=create_five) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(json.loads(state_path.read_text())["payments"]) == 40
    assert mollie.payments.list(limit=250).count == 40


def test_control_listing_and_reset(mollie, make_client, simulator):
    mollie.payments.create(payment_data())
    make_client(OTHER_KEY).payments.create(payment_data())

    assert requests.get(f"{simulator.url}/_sim/payments", timeout=10).json()["count"] == 2
    assert sim_post(simulator, "/_sim/reset").status_code == 204
    assert requests.get(f"{simulator.url}/_sim/payments", timeout=10).json()["count"] == 0
    assert mollie.payments.list().count == 0


def test_the_cli_command_serves_the_simulator(monkeypatch, tmp_path):
    served: list[tuple] = []
    monkeypatch.setattr(sim_cli, "serve", lambda app, host, port: served.append((app, host, port)))
    monkeypatch.setattr(sim_cli, "INSTANCE_DIR", tmp_path)
    app = Flask("portal-under-test")
    app.cli.add_command(sim_cli.mollie_simulator)

    result = app.test_cli_runner().invoke(args=["mollie-simulator", "--port", "6055"])

    assert result.exit_code == 0, result.output
    simulator, host, port = served[0]
    assert (host, port) == ("127.0.0.1", 6055)
    assert simulator.extensions["mollie_sim"].store.path == tmp_path / "mollie-sim.json"
    assert "MOLLIE_API_ENDPOINT=http://127.0.0.1:6055" in result.output


def test_klarna_needs_lines_adding_up_and_a_billing_address(mollie):
    """As Mollie: Klarna through the Payments API is refused without order lines that add up to the amount and a
    billing address with a name (DOMAIN.md)."""
    line = {
        "description": "F-1",
        "quantity": 1,
        "unitPrice": {"currency": "EUR", "value": "10.00"},
        "totalAmount": {"currency": "EUR", "value": "10.00"},
    }
    address = {
        "organizationName": "Klant B.V.",
        "streetAndNumber": "Kerkstraat 1",
        "postalCode": "1011 AA",
        "city": "Amsterdam",
        "country": "NL",
        "email": "ap@klant.example",
    }
    for changes, field in [
        ({}, "lines"),
        ({"lines": [{**line, "totalAmount": {"currency": "EUR", "value": "9.00"}}]}, "lines.0.totalAmount"),
        ({"lines": [line], "billingAddress": {**address, "organizationName": ""}}, "billingAddress.givenName"),
        ({"lines": [line]}, "billingAddress"),
    ]:
        with pytest.raises(UnprocessableEntityError) as refused:
            mollie.payments.create(payment_data(method=["ideal", "klarna"], **changes))
        assert refused.value.field == field, changes
    created = mollie.payments.create(payment_data(method=["ideal", "klarna"], lines=[line], billingAddress=address))
    assert created.status == "open"
