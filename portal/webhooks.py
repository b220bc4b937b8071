"""Webhooks other systems call.

Mollie's carries only a payment id and proves nothing: we fetch the payment from Mollie with the organisation's own
key and act on that. CSRF-exempt (Mollie has no token); unknown ids get 200 and change nothing."""

import requests
from flask import Blueprint, current_app, request
from mollie.api.error import Error as MollieError
from rq import Retry

from portal.extensions import csrf, db
from portal.jobs import get_queue
from portal.payments import service

bp = Blueprint("webhooks", __name__)


@bp.post("/mollie/webhook")
@csrf.exempt
def mollie():
    mollie_id = request.form.get("id", "")
    if not mollie_id.startswith("tr_") or len(mollie_id) > 40:
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
