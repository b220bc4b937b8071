"""A running simulator (a real HTTP server on 127.0.0.1) and a webhook receiver; no database, no Redis."""

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from flask import Flask
from mollie.api.client import Client
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from portal.mollie_sim import create_simulator

KEY = "test_" + "a" * 30
OTHER_KEY = "test_" + "b" * 30


class Server:
    """A WSGI app served for real in a thread, on a free port."""

    def __init__(self, app: Callable) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # A short poll keeps shutdown() quick; the default waits up to half a second per server.
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@dataclass
class Receiver:
    """Records the webhook calls it gets; answers 500 to the first ``failures`` of them."""

    failures: int = 0
    calls: list[dict] = field(default_factory=list)
    called: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        self.calls.append(
            {"path": request.path, "content_type": request.mimetype, **parse_qs(request.get_data(as_text=True))}
        )
        failing = len(self.calls) <= self.failures
        if not failing:
            self.called.set()
        return Response("no" if failing else "ok", status=500 if failing else 200)(environ, start_response)

    def ids(self) -> list[str]:
        return [value for call in self.calls for value in call.get("id", [])]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    server = Server(receiver)
    receiver.url = f"{server.url}/webhooks/mollie"
    yield receiver
    server.stop()


@dataclass
class Simulator:
    app: Flask
    server: Server

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def start_simulator() -> Iterator[Callable[[Path], Simulator]]:
    """Start a simulator on a state file; webhooks synchronous, retried at once, so tests never wait."""
    started: list[Server] = []

    def start(state_path: Path) -> Simulator:
        app = create_simulator(state_path, webhook_background=False, webhook_attempts=3, webhook_backoff=0)
        started.append(Server(app))
        return Simulator(app, started[-1])

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "mollie-sim.json"


@pytest.fixture
def simulator(start_simulator, state_path: Path) -> Simulator:
    return start_simulator(state_path)


@pytest.fixture
def make_client(simulator: Simulator) -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(key: str = KEY, url: str | None = None) -> Client:
        client = Client(api_endpoint=url or simulator.url)
        client.set_api_key(key)
        clients.append(client)
        return client

    yield make
    for client in clients:
        if hasattr(client, "_client"):  # the client's requests.Session, made on its first call
            client._client.close()


@pytest.fixture
def mollie(make_client) -> Client:
    return make_client()
