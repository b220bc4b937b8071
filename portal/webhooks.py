"""Webhooks other systems call.

Mollie's carries only a payment id and proves nothing: we fetch the payment from Mollie with the organisation's own
key and act on that. CSRF-exempt (Mollie has no token); unknown ids get 200 and change nothing."""

import requests
from flask import Blueprint, current_app, request
from limits import parse
from mollie.api.error import Error as MollieError
from redis.exceptions import RedisError
from rq import Retry

from portal.extensions import csrf, db, limiter
from portal.jobs import get_queue
from portal.payments import service

bp = Blueprint("webhooks", __name__)


def _webhook_limit() -> str:
    return current_app.config["MOLLIE_WEBHOOK_RATE_LIMIT"]


def _rang_just_now(mollie_id: str) -> bool:
    """True if this id was fetched within the last few seconds: a repeat is answered without asking Mollie again
    (a lost change is still found by the periodic reconcile). Storage trouble never stops a webhook."""
    seconds = current_app.config["MOLLIE_WEBHOOK_DEDUPE_SECONDS"]
    if seconds <= 0:
        return False
    try:
        return not limiter.limiter.hit(parse(f"1 per {seconds} seconds"), "mollie-webhook-id", mollie_id)
    except (RedisError, OSError):
        return False


@bp.post("/mollie/webhook")
@csrf.exempt
# Per source address, generous: Mollie rings from a few addresses, many payments at once, and retries a failed
# call (up to 10 times over 26 hours), so an answer of 429 only delays a legitimate change.
@limiter.limit(_webhook_limit)
def mollie():
    mollie_id = request.form.get("id", "")
    if not mollie_id.startswith("tr_") or len(mollie_id) > 40 or _rang_just_now(mollie_id):
        return "", 200
    try:
        outcome = service.sync(db.session, mollie_id, endpoint=current_app.config["MOLLIE_API_ENDPOINT"])
    except (MollieError, requests.RequestException, service.PaymentError):
        db.session.rollback()
        # Mollie could not tell us now: a job asks again shortly (and the periodic reconcile after that). If
        # even that cannot be queued, a non-2xx makes Mollie ring again later.
        current_app.logger.warning("webhook %s: Mollie did not answer; retrying in a job", mollie_id, exc_info=True)
        try:
            queue = get_queue()
            try:
                queue.enqueue(
                    "workers.jobs.sync_mollie_payment", mollie_id, retry=Retry(max=5, interval=[5, 30, 120, 600, 1800])
                )
            finally:
                queue.connection.close()
        except Exception:  # noqa: BLE001 - Redis away too: let Mollie retry
            return "", 503
        return "", 200
    current_app.logger.info("webhook %s: %s", mollie_id, outcome)
    return "", 200
