"""Page latency on a large organisation: 100,000 debtors and 1,000,000 invoices on PostgreSQL, over real HTTP.

``python -m bench.pages`` creates a scratch database duly_bench_<random>, migrates it, bulk-seeds it
(portal.bulk_seed, then VACUUM ANALYZE: this server runs without autovacuum), serves the app with gunicorn on a
free loopback port and times sequential requests of the signed-in owner through urllib (a new connection per
request, as a browser without keep-alive). gunicorn runs one worker with four threads: the requests are
sequential, so one process measures a request's own latency and keeps one connection pool warm.

It prints a markdown table (p50 / p95 per page and p95 against the bare /healthz endpoint), skips pages that do
not answer 200 (and says so), and for every page whose p95 is over 50 ms times each SQL statement of one request
in-process and runs the slowest ones with EXPLAIN (ANALYZE, BUFFERS). The database is dropped at the end, also
on error or Ctrl-C.

Not a test: nothing here asserts a time. ``--debtors/--invoices/--requests`` scale it down for a quick look.
"""

import argparse
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, build_opener

import psycopg
from cryptography.fernet import Fernet

os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
os.environ.setdefault("ENCRYPTION_KEYS", Fernet.generate_key().decode())

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
SLUG = "bench"
SLOW_MS = 50.0
WARM_UP = 20


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--debtors", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page (after 20 warm-up)")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=120,
        help="stop timing a page after this long (at least 30 requests), so that a 2-second page does not take 7 min",
    )
    args = parser.parse_args(argv)

    name, dsn, url = create_scratch_database()
    server = app = None
    try:
        app = _migrated_app(url)
        facts = _seed(app, args.debtors, args.invoices)
        started = time.perf_counter()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
        print(f"VACUUM ANALYZE: {time.perf_counter() - started:.1f} s", flush=True)

        server, base = _serve(name)
        client = _Client(base)
        client.login(f"owner@{SLUG}.duly.test", "bench")
        paths = [
            "/healthz",
            "/cockpit/",
            "/cockpit/invoices",
            "/cockpit/invoices?status=overdue",
            f"/cockpit/invoices?q={quote(facts['number'])}",
            "/cockpit/debtors",
            f"/cockpit/debtors?q={quote(facts['name_part'])}",
            f"/cockpit/debtors?q={quote(facts['debtor_number'])}",  # a rare match: the worst case of a search
        ]
        results, skipped = [], []
        for path in paths:
            status, _ = client.get(path)
            if status != 200:
                skipped.append((path, status))
                print(f"skip {path}: HTTP {status}", flush=True)
                continue
            p50, p95, n = _measure(client, path, args.requests, args.max_seconds)
            results.append((path, p50, p95, n))
            print(f"{path}: p50 {p50:.1f} ms, p95 {p95:.1f} ms ({n} requests)", flush=True)

        print(
            f"\n{args.debtors:,} debtors, {args.invoices:,} invoices ({facts['rows']}); "
            f"seed {facts['seconds']:.1f} s; database {facts['size']}; "
            f"gunicorn 1 worker x 4 threads; up to {args.requests} sequential requests per page (at most "
            f"{args.max_seconds:.0f} s) after {WARM_UP} warm-up\n"
        )
        baseline = results[0][2] if results and results[0][0] == "/healthz" else None
        print("| path | p50 ms | p95 ms | ratio p95 to /healthz p95 | requests |\n|---|---|---|---|---|")
        for path, p50, p95, n in results:
            ratio = f"{p95 / baseline:.1f}x" if baseline else "-"
            print(f"| `{path}` | {p50:.1f} | {p95:.1f} | {ratio} | {n} |")
        for path, status in skipped:
            print(f"| `{path}` | skipped: HTTP {status} | | | |")

        slow = [path for path, _, p95, _ in results if p95 > SLOW_MS]
        if "/cockpit/" not in slow and any(path == "/cockpit/" for path, *_ in results):
            print(f"\nThe overview's p95 is within {SLOW_MS:.0f} ms: no profile needed.")
        for path in slow:
            _profile(app, dsn, path)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        _dispose(app)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        print(f"\ndropped {name}")


def create_scratch_database() -> tuple[str, str, str]:
    """A new PostgreSQL database for one benchmark run: (name, psycopg DSN, SQLAlchemy URL). The caller drops it."""
    name = f"duly_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    print(f"database {name}", flush=True)
    return (
        name,
        f"host=127.0.0.1 port=5432 user=postgres dbname={name}",
        f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
    )


def _migrated_app(url: str):
    from flask_migrate import upgrade

    from portal import create_app

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_STORAGE_URI": "memory://", "LOGIN_RATE_LIMIT": "1000 per minute"}
    )
    with app.app_context():
        upgrade()
    return app


def _dispose(app) -> None:
    if app is None:
        return
    from portal.extensions import db

    with app.app_context():
        db.engine.dispose()


def _seed(app, debtors: int, invoices: int) -> dict:
    from sqlalchemy import func, select

    from portal.bulk_seed import seed_bulk
    from portal.debtors.models import Debtor
    from portal.extensions import db
    from portal.invoices.models import Invoice
    from portal.ledger.models import Allocation, Payment

    with app.app_context():
        started = time.perf_counter()
        organisation = seed_bulk(db.session, slug=SLUG, debtors=debtors, invoices=invoices)
        db.session.commit()
        seconds = time.perf_counter() - started
        print(f"seed_bulk: {seconds:.1f} s", flush=True)
        org_id = organisation.id
        # What a user searches for: the number of an open invoice (the list shows open ones unless told
        # otherwise), a word of a debtor's name, and a debtor number (one match).
        number = db.session.scalar(
            select(Invoice.number)
            .where(Invoice.organisation_id == org_id, Invoice.kind == "invoice", Invoice.status == "open")
            .order_by(Invoice.id.desc())
            .offset(1_000)
            .limit(1)
        )
        name = db.session.scalar(
            select(Debtor.name).where(Debtor.organisation_id == org_id, Debtor.kind == "business").limit(1)
        )
        debtor_number = db.session.scalar(
            select(Debtor.number).where(Debtor.organisation_id == org_id).order_by(Debtor.id.desc()).limit(1)
        )
        counts = {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Invoice, Payment, Allocation)
        }
        size = db.session.scalar(select(func.pg_size_pretty(func.pg_database_size(func.current_database()))))
        db.session.remove()
    return {
        "seconds": seconds,
        "number": number or "1",
        "name_part": name.split()[1] if name else "Jansen",
        "debtor_number": debtor_number or "D1",
        "rows": ", ".join(f"{n:,} {t}" for t, n in counts.items()),
        "size": size,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(database: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{database}",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "RATELIMIT_STORAGE_URI": "memory://",
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "PUBLIC_BASE_URL": base,
        "DULY_INSTANCE_DIR": tempfile.mkdtemp(prefix="duly-bench-"),
    }
    log = tempfile.NamedTemporaryFile(prefix="duly-bench-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--threads",
        "4",
        "--log-level",
        "warning",
        "portal:create_app()",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    deadline = time.monotonic() + 60
    client = _Client(base)
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}; see {log.name}")
        try:
            if client.get("/healthz")[0] == 200:
                print(f"gunicorn pid {server.pid} on {base} (log {log.name})", flush=True)
                return server, base
        except URLError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise RuntimeError(f"gunicorn did not answer /healthz within 60 s; see {log.name}")


class _NoRedirect(HTTPRedirectHandler):
    """A redirect is an answer to measure (or a sign the session was lost), not something to follow."""

    def redirect_request(self, *args, **kwargs):
        return None


class _Client:
    """A browser-ish client: a cookie jar, no redirects, every body read to the end."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()), _NoRedirect())

    def get(self, path: str) -> tuple[int, str]:
        return self._open(path)

    def _open(self, path: str, data: bytes | None = None) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, data=data, timeout=120) as response:
                return response.status, response.read().decode()
        except HTTPError as error:
            with error:
                return error.code, error.read().decode(errors="replace")

    def login(self, email: str, password: str) -> None:
        status, page = self.get("/login")
        match = re.search(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"', page)
        if status != 200 or not match:
            raise RuntimeError(f"/login answered {status} without a CSRF token")
        form = {"email": email, "password": password, "csrf_token": match.group(1), "next": ""}
        status, _ = self._open("/login", urlencode(form).encode())
        if status != 303 or self.get("/cockpit/")[0] != 200:
            raise RuntimeError(f"login as {email} failed (HTTP {status})")


def _measure(client: _Client, path: str, count: int, max_seconds: float) -> tuple[float, float, int]:
    for _ in range(WARM_UP):
        client.get(path)
    timings: list[float] = []
    deadline = time.perf_counter() + max_seconds
    while len(timings) < count and (len(timings) < 30 or time.perf_counter() < deadline):
        started = time.perf_counter()
        status, _ = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"{path} answered {status} during the run")
    p95 = statistics.quantiles(timings, n=20, method="inclusive")[-1]
    return statistics.median(timings), p95, len(timings)


def _profile(app, dsn: str, path: str, runs: int = 5) -> None:
    """Time every SQL statement of a page in-process (median of ``runs`` requests), EXPLAIN ANALYZE the slowest."""
    from sqlalchemy import event

    from portal.extensions import db

    with app.app_context():
        engine = db.engine
    client = app.test_client()
    token = re.search(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"email": f"owner@{SLUG}.duly.test", "password": "bench", "csrf_token": token})
    statements: dict[str, list[float]] = {}
    parameters: dict[str, object] = {}
    page_ms: list[float] = []
    status = 0

    def before(conn, cursor, statement, params, context, executemany):
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn, cursor, statement, params, context, executemany):
        elapsed = (time.perf_counter() - conn.info["bench_started"].pop()) * 1000
        statements.setdefault(statement, []).append(elapsed)
        parameters[statement] = params

    client.get(path)  # warm the pool and the caches before listening
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        for _ in range(runs):
            started = time.perf_counter()
            status = client.get(path).status_code
            page_ms.append((time.perf_counter() - started) * 1000)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    ranked = sorted(statements.items(), key=lambda item: -sum(item[1]))
    sql_ms = sum(sum(times) for times in statements.values()) / runs
    print(
        f"\n### Profile of `{path}` (in-process, HTTP {status}, median {statistics.median(page_ms):.1f} ms a request,"
        f" of which SQL {sql_ms:.1f} ms in {sum(len(t) for t in statements.values()) // runs} statements)\n"
    )
    print("| ms (median) | share of SQL | statement |\n|---|---|---|")
    for statement, times in ranked[:6]:
        share = sum(times) / runs / sql_ms if sql_ms else 0
        print(f"| {statistics.median(times):.1f} | {share:.0%} | `{' '.join(statement.split())[:160]}` |")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement, _ in ranked[:2]:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            plan = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters[statement]).fetchall()
            print(f"\n```\n{' '.join(statement.split())}\n{parameters[statement]}\n")
            print("\n".join(row[0] for row in plan))
            print("```")


if __name__ == "__main__":
    main()
