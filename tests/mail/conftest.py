import pytest

from tests.mail.rq_queue import private_queue
from tests.mail.smtp_server import smtp_server


@pytest.fixture
def smtpd():
    """A real SMTP server that accepts and records every message."""
    with smtp_server() as server:
        yield server


@pytest.fixture
def make_smtpd():
    """Starts SMTP servers with the given handler; all of them are stopped after the test."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        yield lambda handler=None: stack.enter_context(smtp_server(handler))


@pytest.fixture
def rq_queue(app, monkeypatch):
    """A queue of this test's own (the app's RQ_QUEUE points at it); every key it leaves in Redis is removed."""
    with private_queue(app) as queue:
        monkeypatch.setitem(app.config, "RQ_QUEUE", queue.name)
        yield queue
