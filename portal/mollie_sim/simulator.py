"""The simulator's state as the request handlers reach it: its store, its webhook sender and its base URL."""

import json
from dataclasses import dataclass

from flask import Response, after_this_request, current_app, request

from portal.mollie_sim.render import HAL
from portal.mollie_sim.store import Store
from portal.mollie_sim.webhooks import WebhookSender


@dataclass
class Simulator:
    store: Store
    webhooks: WebhookSender
    base_url: str | None

    def base(self) -> str:
        """Links point where the caller reached us, unless a public base URL was given (behind a proxy)."""
        return self.base_url or request.host_url.rstrip("/")

    def notify_after_response(self, record: dict, *, wait: bool) -> None:
        """Call the payment's webhook once this request is done with the state (never while holding its lock),
        so that a webhook handler that calls back into the simulator cannot deadlock it."""
        payment = record["payment"]
        if not payment.get("webhookUrl"):
            return

        @after_this_request
        def deliver(response: Response) -> Response:
            if response.status_code < 400:
                self.webhooks.deliver(payment["webhookUrl"], payment["id"], wait=wait)
            return response

    def take_injected_failure(self) -> int | None:
        """The status the next API call must fail with, set by ``POST /_sim/fail-next``; counts one down."""
        if not self.store.data["failNext"]["count"]:
            return None
        with self.store.change() as state:
            fail = state["failNext"]
            if fail["count"] <= 0:
                return None
            fail["count"] -= 1
            return fail["status"]


def simulator() -> Simulator:
    return current_app.extensions["mollie_sim"]


def hal(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype=HAL, headers=headers)
