"""A Mollie simulator on 127.0.0.1 for the payment tests, and a live portal that it can ring."""

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from werkzeug.serving import make_server

from portal.mollie_sim import create_simulator

API_KEY = "test_" + "Duly0Payments0Test0Key00000000"[:30]
OTHER_KEY = "test_" + "Other0Organisation0Key00000000"[:30]


class Served:
    """A WSGI app on a free port in a background thread."""

    def __init__(self, app, name: str):
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()


@dataclass
class Simulator:
    url: str

    def set_status(self, mollie_id: str, status: str, *, webhook: bool = False) -> dict:
        response = requests.post(
            f"{self.url}/_sim/payments/{mollie_id}/status", json={"status": status, "webhook": webhook}, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def chargeback(self, mollie_id: str, value: str | None = None, currency: str = "EUR") -> dict:
        body = {"amount": {"currency": currency, "value": value}} if value else {}
        response = requests.post(f"{self.url}/_sim/payments/{mollie_id}/chargeback", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def fail_next(self, status: int, count: int) -> None:
        requests.post(
            f"{self.url}/_sim/fail-next", json={"status": status, "count": count}, timeout=10
        ).raise_for_status()

    def payments(self) -> list[dict]:
        body = requests.get(f"{self.url}/_sim/payments", timeout=10).json()
        return body if isinstance(body, list) else body.get("payments", body.get("_embedded", {}).get("payments", []))


@pytest.fixture
def mollie_sim(app, tmp_path, monkeypatch) -> Iterator[Simulator]:
    """A fresh simulator; the app talks to it. Webhooks are tried once, at once (tests ring them themselves)."""
    server = Served(
        create_simulator(tmp_path / "mollie-sim.json", webhook_background=False, webhook_attempts=1, webhook_timeout=5),
        "mollie-simulator",
    )
    monkeypatch.setitem(app.config, "MOLLIE_API_ENDPOINT", server.url)
    yield Simulator(server.url)
    server.stop()


@pytest.fixture
def live_portal(app, monkeypatch) -> Iterator[str]:
    """The portal on a real port, and PUBLIC_BASE_URL pointing at it, so that the simulator's webhooks arrive."""
    server = Served(app, "portal")
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", server.url)
    yield server.url
    server.stop()
