"""The simulator app: ``create_simulator(state_path)`` builds a Flask app with

- the v2 API (``api.py``): ``POST/GET /v2/payments``, ``GET/DELETE /v2/payments/{id}``,
  ``POST/GET /v2/payments/{id}/refunds``, ``GET /v2/payments/{id}/chargebacks`` (and single refunds, chargebacks);
- a checkout page (``control.py``): ``GET/POST /checkout/{id}``, where the tester picks the outcome;
- control endpoints for tests (``control.py``): ``/_sim/payments[/{id}[/status|/chargeback]]``, ``/_sim/fail-next``,
  ``/_sim/reset``.
"""

from pathlib import Path

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from portal.config import BASE_DIR, ConfigError, is_production
from portal.mollie_sim import api, control
from portal.mollie_sim.payments import ApiError
from portal.mollie_sim.render import error_json
from portal.mollie_sim.simulator import Simulator, hal
from portal.mollie_sim.store import Store
from portal.mollie_sim.webhooks import WebhookSender

# The checkout page has no script and no inline style, so it needs nothing the portal's own CSP would not allow
# (data: images are Pico's select arrows). form-action stays open: the form ends in a redirect to the merchant.
CSP = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"


def create_simulator(
    state_path: Path,
    *,
    base_url: str | None = None,
    webhook_background: bool = True,
    webhook_attempts: int = 4,
    webhook_backoff: float = 2.0,
    webhook_timeout: float = 5.0,
) -> Flask:
    """The simulator app, its state kept in ``state_path``. ``webhook_background=False`` makes every webhook
    attempt (retries too) before the request that caused it answers - for tests. Refused when DULY_ENV=production:
    anyone who reaches it can mark payments paid through /_sim/."""
    if is_production():
        raise ConfigError("the Mollie simulator is for the demo and the tests: refused when DULY_ENV=production")
    app = Flask(__name__, template_folder=str(BASE_DIR / "templates"), static_folder=str(BASE_DIR / "static"))
    app.extensions["mollie_sim"] = Simulator(
        store=Store(Path(state_path)),
        webhooks=WebhookSender(
            background=webhook_background, attempts=webhook_attempts, backoff=webhook_backoff, timeout=webhook_timeout
        ),
        base_url=base_url.rstrip("/") if base_url else None,
    )

    app.register_blueprint(api.bp)
    app.register_blueprint(control.bp)

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        return hal(error_json(error), error.status)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response | HTTPException:
        # Clients of /v2 and /_sim read JSON, even for a route that does not exist; the checkout page gets HTML.
        if request.path.startswith(("/v2/", "/_sim/")):
            return hal(error_json(ApiError(error.code or 500, error.description or error.name)), error.code or 500)
        return error

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    return app
