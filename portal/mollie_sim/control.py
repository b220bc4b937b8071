"""What Mollie's side does without an API call: the checkout page where the customer (the tester) picks an outcome,
and control endpoints that let tests do the same, add chargebacks and make API calls fail. No API key needed."""

from flask import Blueprint, Response, abort, redirect, render_template, request

from portal.mollie_sim.payments import CHECKOUT_OUTCOMES, ApiError, add_chargeback, set_status
from portal.mollie_sim.render import chargeback_json, payment_json
from portal.mollie_sim.simulator import hal, simulator

bp = Blueprint("mollie_sim", __name__)

CHECKOUT_METHODS = ("ideal", "creditcard", "bancontact", "banktransfer", "paypal", "applepay", "klarna")
_FALSE = ("false", "0", "no", "off")


@bp.get("/checkout/<payment_id>")
def checkout(payment_id: str) -> str:
    """The hosted checkout: the payment and a button per outcome, or a note that it is finished."""
    return _checkout_page(_record(simulator().store.data, payment_id, page=True))


@bp.post("/checkout/<payment_id>")
def checkout_choose(payment_id: str) -> Response | tuple[str, int]:
    """Set the chosen outcome, call the webhook before the customer is back, and send them to the redirectUrl."""
    status, method = request.form.get("status"), request.form.get("method") or None
    if status not in CHECKOUT_OUTCOMES:
        abort(400, f"Choose one of {', '.join(CHECKOUT_OUTCOMES)}.")
    sim = simulator()
    with sim.store.change() as state:
        record = _record(state, payment_id, page=True)
        if record["payment"]["status"] != "open":
            return _checkout_page(record), 409
        set_status(record, status, method)
    sim.notify_after_response(record, wait=True)
    return redirect(record["payment"]["redirectUrl"], 303)


def _checkout_page(record: dict) -> str:
    payment = record["payment"]
    methods = record["methods"] or CHECKOUT_METHODS
    return render_template(
        "mollie_sim/checkout.html",
        payment=payment,
        methods=methods,
        chosen=payment["method"] or methods[0],
        outcomes=CHECKOUT_OUTCOMES,
    )


@bp.post("/_sim/payments/<payment_id>/status")
def change_status(payment_id: str) -> Response:
    """Set any status (``{"status": "paid", "method": "ideal", "webhook": true}``) and call the webhook."""
    body = _control_body()
    sim = simulator()
    with sim.store.change() as state:
        record = _record(state, payment_id)
        set_status(record, str(body.get("status")), body.get("method") or None)
    if str(body.get("webhook", True)).lower() not in _FALSE:
        sim.notify_after_response(record, wait=True)
    return hal(payment_json(record, sim.base()))


@bp.post("/_sim/payments/<payment_id>/chargeback")
def chargeback(payment_id: str) -> Response:
    """Add a chargeback (``{"amount": {"currency": "EUR", "value": "5.00"}}``, default what is left) and call the
    webhook."""
    amount = _control_body().get("amount")
    sim = simulator()
    with sim.store.change() as state:
        record = _record(state, payment_id)
        created = add_chargeback(record, amount)
    sim.notify_after_response(record, wait=True)
    return hal(chargeback_json(created, sim.base()), 201)


@bp.post("/_sim/fail-next")
def fail_next() -> Response:
    """The next ``count`` calls to /v2/ answer ``status`` with a Mollie error object (``count`` 0 stops that)."""
    body = _control_body()
    try:
        status, count = int(body.get("status", 503)), int(body.get("count", 1))
    except (TypeError, ValueError):
        raise ApiError(422, "status and count must be numbers") from None
    if not 400 <= status <= 599 or count < 0:
        raise ApiError(422, "status must be from 400 to 599 and count not negative")
    with simulator().store.change() as state:
        state["failNext"] = {"status": status, "count": count}
    return hal(state["failNext"])


@bp.get("/_sim/payments")
def all_payments() -> Response:
    """Every payment of every key, newest first (for tests and debugging)."""
    sim = simulator()
    payments = [payment_json(r, sim.base()) for r in reversed(sim.store.data["payments"].values())]
    return hal({"count": len(payments), "payments": payments})


@bp.get("/_sim/payments/<payment_id>")
def one_payment(payment_id: str) -> Response:
    """One payment, whoever's it is (the payments' dashboard link)."""
    sim = simulator()
    return hal(payment_json(_record(sim.store.data, payment_id), sim.base()))


@bp.post("/_sim/reset")
def reset() -> Response:
    """Forget everything: payments, idempotency keys, injected failures."""
    simulator().store.reset()
    return Response(status=204)


def _record(state: dict, payment_id: str, *, page: bool = False) -> dict:
    record = state["payments"].get(payment_id)
    if record is None:
        if page:
            abort(404, f"There is no payment {payment_id}.")
        raise ApiError(404, f"No payment exists with token {payment_id}.")
    return record


def _control_body() -> dict:
    body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if not isinstance(body, dict):
        raise ApiError(400, "Send a JSON object or a form")
    return body
