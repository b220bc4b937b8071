"""The database goes away under a dispatching worker: no mail without a committed claim, and never a second one.

A loopback TCP proxy the test controls stands in front of PostgreSQL (the machine's PostgreSQL itself is shared and
is never stopped). The worker's app talks to the database through the proxy; the test's own session does not.
"""

import contextlib
import socket
import threading
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from portal import create_app
from portal.mail import service as mail
from portal.reminders.dispatch import dispatch, sweep
from tests.mail.smtp_server import RecordingHandler
from tests.reminders.test_dispatch import _due_now, _planned, _reminders

pytestmark = pytest.mark.postgres_only


class Proxy:
    """Forwards 127.0.0.1:<port> to PostgreSQL until ``cut()``: then drops every connection and refuses new ones."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            server = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up.clear()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.sockets.clear()

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def proxied_app(app, test_config):
    """A second app whose database connections go through the proxy."""
    from sqlalchemy.engine import make_url

    url = make_url(test_config["SQLALCHEMY_DATABASE_URI"])
    proxy = Proxy((url.host, url.port or 5432))
    proxied = create_app({**test_config, "SQLALCHEMY_DATABASE_URI": str(url.set(host="127.0.0.1", port=proxy.port))})
    yield proxied, proxy
    with proxied.app_context():
        from portal.extensions import db

        db.session.remove()
        db.engine.dispose()
    proxy.close()


def _dispatch_via(proxied_app, smtp_url, now):
    from portal.extensions import db

    with proxied_app.app_context():
        try:
            return dispatch(db.session, smtp_url=smtp_url, config=proxied_app.config, now=now)
        finally:
            with contextlib.suppress(OperationalError):
                db.session.remove()
            db.engine.dispose()


def test_database_down_at_claim_time_sends_nothing_then_once(app, live_db, smtpd, proxied_app):
    proxied, proxy = proxied_app
    organisation, _ = _planned(live_db)
    now = _due_now(live_db, organisation)
    live_db.close()

    proxy.cut()
    with pytest.raises(OperationalError):
        _dispatch_via(proxied, smtpd.url, now)
    assert smtpd.messages == []
    assert _reminders(live_db, organisation)[0].status == "scheduled"

    proxy.restore()  # the job is retried (the sweeper rings again): one mail
    assert _dispatch_via(proxied, smtpd.url, now)["sent"] == 1
    assert _dispatch_via(proxied, smtpd.url, now + timedelta(minutes=10)) == {}
    assert len(smtpd.messages) == 1


class CutDuringData(RecordingHandler):
    """Takes the mail, and the database goes away before the worker can record that it did."""

    def __init__(self, proxy: Proxy):
        super().__init__()
        self.proxy = proxy

    def reply_to_data(self, server, session, envelope) -> str:
        self.proxy.cut()
        return super().reply_to_data(server, session, envelope)


def test_database_lost_during_smtp_leaves_unknown_and_no_second_mail(app, live_db, make_smtpd, proxied_app):
    proxied, proxy = proxied_app
    server = make_smtpd(CutDuringData(proxy))
    organisation, _ = _planned(live_db)
    now = _due_now(live_db, organisation)
    live_db.close()

    with pytest.raises(OperationalError):
        _dispatch_via(proxied, server.url, now)
    proxy.restore()

    assert len(server.messages) == 1
    [reminder] = _reminders(live_db, organisation)
    assert reminder.status == "sending"  # committed before SMTP; its outcome could not be written
    live_db.close()
    later = now + mail.SENDING_LEASE + timedelta(minutes=1)
    mail.sweep(live_db, now=later)
    sweep(live_db, now=later)
    assert _dispatch_via(proxied, server.url, later) == {}
    assert _reminders(live_db, organisation)[0].status == "unknown"
    assert len(server.messages) == 1
