"""Mollie's v2 payments API: API-key authentication, each key seeing only its own payments, ``Idempotency-Key``."""

import functools
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, g, request

from portal.mollie_sim.payments import ApiError, add_refund, create_payment, now, set_status
from portal.mollie_sim.render import chargeback_json, list_json, payment_json, refund_json
from portal.mollie_sim.simulator import hal, simulator

bp = Blueprint("mollie_api", __name__, url_prefix="/v2")

API_KEY = re.compile(r"(test|live)_[A-Za-z0-9]{30}")
IDEMPOTENCY_LIFETIME = timedelta(hours=24)


@bp.before_request
def authenticate() -> None:
    injected = simulator().take_injected_failure()
    if injected:
        raise ApiError(injected, "Simulated failure, as asked for with POST /_sim/fail-next")
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not API_KEY.fullmatch(key):
        raise ApiError(401, "Missing authentication, or failed to authenticate")
    # The state file keeps a hash of the key, never the key.
    g.owner = hashlib.sha256(key.encode()).hexdigest()
    g.mode = key[:4]
    g.profile_id = f"pfl_{g.owner[:10]}"


def idempotent(view: Callable[..., Response]) -> Callable[..., Response]:
    """The same ``Idempotency-Key`` (for the same API key) answers with the first response again, without doing
    the work twice; the key used for another request is refused."""

    @functools.wraps(view)
    def wrapper(**kwargs: str) -> Response:
        key = request.headers.get("Idempotency-Key")
        if not key:
            return view(**kwargs)
        sim = simulator()
        slot = f"{g.owner}:{key}"
        fingerprint = hashlib.sha256(f"{request.method} {request.path}\n".encode() + request.get_data()).hexdigest()
        # Held from the look-up until the response is stored, so that two requests racing with one key do the work once.
        with sim.store.lock:
            seen = sim.store.data["idempotency"].get(slot)
            if seen and seen["fingerprint"] != fingerprint:
                raise ApiError(422, "This Idempotency-Key was used before for another request")
            if seen:
                return hal(seen["body"], seen["status"], {"Idempotent-Replayed": "true"})
            response = view(**kwargs)
            if response.status_code < 300:  # a refused request may be corrected and sent again with the same key
                cutoff = (datetime.now(UTC) - IDEMPOTENCY_LIFETIME).replace(microsecond=0).isoformat()
                with sim.store.change() as state:
                    kept = {k: v for k, v in state["idempotency"].items() if v["storedAt"] > cutoff}
                    kept[slot] = {
                        "fingerprint": fingerprint,
                        "status": response.status_code,
                        "body": response.get_json(force=True),
                        "storedAt": now(),
                    }
                    state["idempotency"] = kept
        return response

    return wrapper


def _json_body() -> object:
    body = request.get_json(force=True, silent=True)
    if body is None and request.get_data():
        raise ApiError(400, "The request body is not valid JSON")
    return body if body is not None else {}


def _owned(state: dict, payment_id: str) -> dict:
    record = state["payments"].get(payment_id)
    if record is None or record["owner"] != g.owner:
        # Another key's payment is as unknown as one that does not exist.
        raise ApiError(404, f"No payment exists with token {payment_id}.")
    return record


def _page() -> tuple[str | None, int]:
    limit = request.args.get("limit", "50")
    if not limit.isdigit() or not 1 <= int(limit) <= 250:
        raise ApiError(422, "The limit must be a number from 1 to 250", "limit")
    return request.args.get("from") or None, int(limit)


@bp.post("/payments")
@idempotent
def create() -> Response:
    """Create a payment."""
    sim = simulator()
    record = create_payment(_json_body(), owner=g.owner, mode=g.mode, profile_id=g.profile_id)
    with sim.store.change() as state:
        state["payments"][record["payment"]["id"]] = record
    return hal(payment_json(record, sim.base()), 201)


@bp.get("/payments")
def list_payments() -> Response:
    """List this key's payments, newest first."""
    sim = simulator()
    start, limit = _page()
    records = [r for r in reversed(sim.store.data["payments"].values()) if r["owner"] == g.owner]
    items = [payment_json(r, sim.base()) for r in records]
    url = f"{sim.base()}/v2/payments"
    return hal(list_json("payments", items, url=url, start=start, limit=limit, documentation="list-payments"))


@bp.get("/payments/<payment_id>")
def get(payment_id: str) -> Response:
    """Get a payment."""
    sim = simulator()
    return hal(payment_json(_owned(sim.store.data, payment_id), sim.base()))


@bp.delete("/payments/<payment_id>")
@idempotent
def cancel(payment_id: str) -> Response:
    """Cancel an open payment."""
    sim = simulator()
    with sim.store.change() as state:
        record = _owned(state, payment_id)
        if record["payment"]["status"] != "open":
            raise ApiError(422, f"The payment is {record['payment']['status']} and can no longer be canceled")
        set_status(record, "canceled")
    sim.notify_after_response(record, wait=False)
    return hal(payment_json(record, sim.base()))


@bp.post("/payments/<payment_id>/refunds")
@idempotent
def refund(payment_id: str) -> Response:
    """Refund (part of) a paid payment."""
    sim = simulator()
    body = _json_body()
    with sim.store.change() as state:
        record = _owned(state, payment_id)
        created = add_refund(record, body)
    # Mollie calls the payment's webhook about refunds too, later; here in the background, not before answering.
    sim.notify_after_response(record, wait=False)
    return hal(refund_json(created, sim.base()), 201)


@bp.get("/payments/<payment_id>/refunds")
def list_refunds(payment_id: str) -> Response:
    """List a payment's refunds."""
    return _list_of(payment_id, "refunds", refund_json, "list-refunds")


@bp.get("/payments/<payment_id>/chargebacks")
def list_chargebacks(payment_id: str) -> Response:
    """List a payment's chargebacks."""
    return _list_of(payment_id, "chargebacks", chargeback_json, "list-chargebacks")


@bp.get("/payments/<payment_id>/refunds/<item_id>")
def get_refund(payment_id: str, item_id: str) -> Response:
    """Get one refund."""
    return _one_of(payment_id, "refunds", item_id, refund_json)


@bp.get("/payments/<payment_id>/chargebacks/<item_id>")
def get_chargeback(payment_id: str, item_id: str) -> Response:
    """Get one chargeback."""
    return _one_of(payment_id, "chargebacks", item_id, chargeback_json)


def _list_of(payment_id: str, name: str, shape: Callable[[dict, str], dict], documentation: str) -> Response:
    sim = simulator()
    start, limit = _page()
    items = [shape(item, sim.base()) for item in reversed(_owned(sim.store.data, payment_id)[name])]
    url = f"{sim.base()}/v2/payments/{payment_id}/{name}"
    return hal(list_json(name, items, url=url, start=start, limit=limit, documentation=documentation))


def _one_of(payment_id: str, name: str, item_id: str, shape: Callable[[dict, str], dict]) -> Response:
    sim = simulator()
    for item in _owned(sim.store.data, payment_id)[name]:
        if item["id"] == item_id:
            return hal(shape(item, sim.base()))
    raise ApiError(404, f"No {name[:-1]} exists with token {item_id}.")
