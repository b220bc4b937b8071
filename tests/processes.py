"""The environment and commands of the processes tests start (workers, the CLI, jobs run by ``python -c``).

One place builds them, so that every child gets the test database, Redis, queue and secrets of the test's app, and
runs on the test's clock (tests.clock).
"""

import os
import sys
import time
import uuid
from pathlib import Path

from tests.clock import process_env

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# How long a process may take before a test calls it hung. Only a hang reaches it: tests wait for what they need (a
# process's exit, a row's status), so a slow machine waits longer and a fast one not at all.
PROCESS_DEADLINE = 300


def child_env(
    app, *, smtp_url: str = "", redis_url: str | None = None, queue: str | None = None, **extra: str
) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": redis_url or app.config["REDIS_URL"],
        "RQ_QUEUE": queue or app.config["RQ_QUEUE"],
        "SMTP_URL": smtp_url,
        "DULY_ENV": os.environ["DULY_ENV"],
        "SECRET_KEY": os.environ["SECRET_KEY"],
        "ENCRYPTION_KEYS": os.environ["ENCRYPTION_KEYS"],
        **process_env(str(ROOT)),
        **extra,
    }
    env.pop("RQ_ASYNC", None)
    return env


def rq_worker_command(redis_url: str, queue: str, *, burst: bool = True) -> list[str]:
    """``rq worker`` as the Procfile runs it: Duly's Worker class (workers.worker)."""
    command = [str(BIN / "rq"), "worker", "-w", "workers.worker.Worker", "--url", redis_url, "--path", str(ROOT)]
    command += ["--name", f"{queue}-{uuid.uuid4().hex[:6]}"]
    if burst:
        command.append("--burst")
    return [*command, queue]


def poll(condition, *, timeout: float = PROCESS_DEADLINE, interval: float = 0.1, message: str = "condition"):
    """Wait for ``condition()`` to return something true and return it; a generous deadline, never a fixed sleep.

    The deadline only turns a hang into a failure: a slow machine waits longer, a fast one not at all."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not met within {timeout:.0f} s")
        time.sleep(interval)
