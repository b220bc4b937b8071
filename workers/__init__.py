"""RQ jobs and the clock. Jobs are thin: they take ids, open an app context and call a service."""

import os
from contextlib import contextmanager

_app = None


def get_app():
    """One Flask app per worker process, built on first use (never at import, so `rq` can import us cheaply)."""
    global _app
    if _app is None:
        from portal import create_app
        from portal.extensions import db

        _app = create_app()
        with _app.app_context():
            engine = db.engine

        # RQ forks a work horse per job: the child must open its own database connections, never reuse the
        # parent's sockets (two processes on one PostgreSQL connection corrupt each other's protocol state).
        os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
    return _app


@contextmanager
def app_context():
    app = get_app()
    with app.app_context():
        yield app
