"""The debtor's side: the self-service page of a debtor with 200 open invoices, and Mollie webhooks booked per second.

``python -m bench.selfservice`` creates a scratch database duly_bench_<random> (bench.pages' helpers), migrates it
and seeds, through the portal's own services, one organisation with a Mollie test key and an IBAN: a debtor with
--invoices open invoices (every tenth partly paid by bank, three credit notes), five other debtors, and
--payments payers with two open invoices each, all due on the same two days (as those a reminder run reaches
together). The Mollie simulator runs in a process of its own (``flask mollie-simulator``); the portal is served
by gunicorn as bench.pages serves it (one worker, four threads, limits in memory, SELFSERVICE_RATE_LIMIT 100000 per
minute, a private RQ_QUEUE on the local Redis).

1. Page latency. A urllib client with a cookie jar opens the big debtor's link (GET /s/<token>, 303) and times
   --requests sequential GET /s/ after 20 warm-up, a new connection each: p50, p95, the page's size, and /healthz
   the same way as the baseline. Over 100 ms at p95, the SQL statements of one request are timed in-process.
2. Webhook bookings. Every payer opens its link, reads the page and POSTs /s/pay for both invoices (its own
   loopback address, 127.0.1.x, as debtors have theirs: /s/pay allows 20 a minute per address); the simulator
   marks each payment paid without ringing. Then --concurrency client threads POST /mollie/webhook id=tr_... at
   the portal, one per payment, as Mollie does; each makes the portal fetch the payment from the simulator and
   book it (ledger payment, allocations, receipt mail, a planning job) before it answers. bookings/s = payments /
   the wall time until the last answer. The database must then hold exactly that many 'mollie' payments and
   ledger_discrepancies must be empty; a second round of the same webhooks must book nothing (its rate is given).

Prints a markdown table. The database, the queue, the servers and temporary files go at the end, also on error.
Not a test: nothing here asserts a time.
"""

import argparse
import os
import re
import secrets
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from http.client import HTTPConnection
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit
from urllib.request import HTTPCookieProcessor, HTTPHandler, build_opener, urlopen

import psycopg
from redis import Redis
from rq import Queue
from sqlalchemy import event, func, select

from bench.pages import (
    PG_ADMIN,
    ROOT,
    WARM_UP,
    _Client,
    _dispose,
    _free_port,
    _measure,
    _migrated_app,
    _NoRedirect,
    _serve,
    create_scratch_database,
)
from portal.debtors.service import create_debtor
from portal.extensions import db
from portal.ledger.invoices import create_invoice
from portal.ledger.models import Payment
from portal.ledger.service import ledger_discrepancies, record_payment
from portal.links.service import new_link
from portal.organisations.models import Organisation
from portal.types import utcnow

SLOW_MS = 100.0
CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.selfservice", description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=200, help="open invoices of the page's debtor")
    parser.add_argument("--requests", type=int, default=300, help=f"timed GET /s/ (after {WARM_UP} warm-up)")
    parser.add_argument("--payments", type=int, default=200, help="payments booked through webhooks (at most 60000)")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads ringing the webhook")
    args = parser.parse_args(argv)
    begun, load = time.perf_counter(), os.getloadavg()[0]
    queue_name = f"duly-bench-selfservice-{uuid.uuid4().hex[:8]}"
    state = Path(tempfile.mkdtemp(prefix="duly-bench-mollie-")) / "state.json"  # the simulator's, new
    name, dsn, url = create_scratch_database()
    server = simulator = app = None
    try:
        app = _migrated_app(url)
        facts = _seed(app, args.invoices, args.payments)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
        simulator, sim_url = _simulator(state)
        # The limits a debtor or Mollie meets are lifted: the bench is one client making hundreds of calls, and each
        # repeated webhook is fetched from the simulator as a first one is (no de-duplication window).
        limits = {
            "RATELIMIT_KEY_PREFIX": queue_name,
            "SELFSERVICE_RATE_LIMIT": "100000 per minute",
            "SELFSERVICE_PAY_RATE_LIMIT": "100000 per minute",
            "MOLLIE_WEBHOOK_RATE_LIMIT": "100000 per minute",
            "MOLLIE_WEBHOOK_DEDUPE_SECONDS": "0",
        }
        os.environ.update(MOLLIE_API_ENDPOINT=sim_url, RQ_QUEUE=queue_name, **limits)
        server, base = _serve(name)

        client = _Client(base)
        if client.get(facts["token"])[0] != 303:
            raise RuntimeError("the big debtor's link did not answer 303")
        status, body = client.get("/s/")
        if status != 200 or "pay-online" not in body:
            raise RuntimeError(f"/s/ answered {status} without the pay form")
        size = len(body.encode())
        page = _measure(client, "/s/", args.requests, 600)
        health = _measure(client, "/healthz", args.requests, 600)
        print(f"/s/: p50 {page[0]:.1f} ms, p95 {page[1]:.1f} ms, {size:,} bytes; /healthz p95 {health[1]:.1f} ms")

        started = time.perf_counter()
        mollie_ids = [_start_payment(base, n, token, ids) for n, (token, ids) in enumerate(facts["payers"])]
        start_rate = len(mollie_ids) / (time.perf_counter() - started)
        for mollie_id in mollie_ids:
            _post(f"{sim_url}/_sim/payments/{mollie_id}/status", {"status": "paid", "webhook": "false"})
        print(f"{len(mollie_ids)} payments started ({start_rate:.1f}/s) and marked paid at the simulator", flush=True)
        rate, booked, problems = _ring(base, mollie_ids, args.concurrency), *_booked(app, facts["org_id"])
        again, booked_again, problems_again = _ring(base, mollie_ids, args.concurrency), *_booked(app, facts["org_id"])
        if booked != len(mollie_ids) or booked_again != booked or problems or problems_again:
            raise RuntimeError(f"booked {booked}, then {booked_again}; discrepancies {problems or problems_again}")
        print(f"webhooks: {rate:.1f} bookings/s, then {again:.1f}/s booking nothing more; ledger balances", flush=True)
        print(
            f"\n{args.invoices} invoices on the page ({facts['partly']} partly paid, 3 credit notes), "
            f"{args.payments} payers; gunicorn 1 worker x 4 threads, Mollie simulator in its own process; "
            f"machine: 2 cores, shared (load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end); "
            f"run {time.perf_counter() - begun:.0f} s\n"
        )
        print("| figure | value | how |\n|---|---|---|")
        print(
            f"| self-service page `/s/`, {args.invoices} open invoices | p50 {page[0]:.1f} ms, p95 {page[1]:.1f} ms "
            f"({page[1] / health[1]:.1f}x `/healthz` p95 {health[1]:.1f} ms); {size / 1024:.0f} KiB | "
            f"{page[2]} sequential GETs after {WARM_UP} warm-up, new connection each, session cookie of the link |"
        )
        print(
            f"| Mollie webhook bookings | {rate:.1f} bookings/s | {booked} paid payments, `POST /mollie/webhook` from "
            f"{args.concurrency} threads, each answered after the portal fetched it from the simulator and booked it; "
            f"then exactly {booked} 'mollie' ledger payments, `ledger_discrepancies` empty |"
        )
        print(f"| the same webhooks again | {again:.1f} webhooks/s | duplicates: fetched, compared, 0 booked |")
        print(
            f"| a payer starting a payment | {start_rate:.1f}/s | one after another: GET /s/<token>, GET /s/, "
            f"`POST /s/pay` (Mollie create included) |"
        )
        if page[1] > SLOW_MS:
            _profile(app, facts["token"])
    finally:
        for process in (server, simulator):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        with Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")) as redis:
            Queue(queue_name, connection=redis).delete(delete_jobs=True)  # the jobs the bookings asked for
        shutil.rmtree(state.parent, ignore_errors=True)
        _dispose(app)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        print(f"\ndropped {name}")


def _seed(app, invoices: int, payers: int) -> dict:
    """Through the portal's services: the organisation, the big debtor, five others and the payers, with links."""
    today, started = date.today(), time.perf_counter()
    key = "test_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(30))

    def invoice(debtor, number: str, total: Decimal, age: int, **credit):
        issue = today - timedelta(days=age)
        due = {} if credit else {"due_date": issue + timedelta(days=30)}
        return create_invoice(session, org.id, debtor.id, number=number, issue_date=issue, total=total, **due, **credit)

    def link(debtor) -> str:
        url, access = new_link(org.id, debtor.id, "http://bench", utcnow())
        session.add(access)
        return urlsplit(url).path

    with app.app_context():
        session = db.session
        org = Organisation(slug="bench-selfservice", name="Bench Leverancier B.V.", mollie_api_key=key)
        org.iban, org.sender_email = "NL91ABNA0417164300", "debiteuren@bench.example"
        session.add(org)
        session.flush()
        big = create_debtor(session, org.id, name="Grote Klant B.V.", number="D-BIG", email="ap@klant.example")
        for n in range(invoices):
            total = Decimal(50 + (n * 37) % 900) + Decimal("0.95")
            inv = invoice(big, f"F-{n + 1:05d}", total, 400 - n * 380 // invoices)
            if n % 10 == 3:  # partly paid by bank transfer
                part = (total / 3).quantize(Decimal("0.01"))
                record_payment(session, org.id, big.id, part, "EUR", today, method="bank", allocations=[(inv.id, part)])
        for n in range(3):
            invoice(big, f"C-{n + 1}", Decimal("-25.00") * (n + 1), 20 + n, kind="credit_note")
        for n in range(5):
            other = create_debtor(session, org.id, name=f"Andere Klant {n}", number=f"D-O{n}")
            for m in range(3):
                invoice(other, f"O-{n}-{m}", Decimal("120.00") + m, 40 + m)
        token, payer_links = link(big), []
        for n in range(payers):
            payer = create_debtor(session, org.id, name=f"Betaler {n}", number=f"D-P{n}", email=f"p{n}@klant.example")
            ids = [invoice(payer, f"P-{n}-{m}", Decimal("75.00") + n % 50 + m, 35 + m).id for m in range(2)]
            payer_links.append((link(payer), ids))
        session.commit()
        org_id = org.id
        session.remove()
    print(f"seed: {time.perf_counter() - started:.1f} s", flush=True)
    return {"org_id": org_id, "token": token, "payers": payer_links, "partly": (invoices + 6) // 10}


def _simulator(state_path: Path) -> tuple[subprocess.Popen, str]:
    """``flask mollie-simulator`` in a process of its own (werkzeug threaded), so it does not share our GIL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(prefix="duly-bench-mollie-", suffix=".log", delete=False)  # noqa: SIM115
    command = [sys.executable, "-m", "flask", "--app", "portal:create_app", "mollie-simulator"]
    process = subprocess.Popen(  # noqa: S603
        [*command, "--port", str(port), "--state", str(state_path)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the simulator exited with {process.returncode}; see {log.name}")
        try:
            with urlopen(f"{url}/_sim/payments", timeout=5) as response:  # noqa: S310 - our own loopback server
                if response.status == 200:
                    print(f"Mollie simulator pid {process.pid} on {url} (log {log.name})", flush=True)
                    return process, url
        except URLError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"the simulator did not answer within 30 s; see {log.name}")


class _From(HTTPHandler):
    """Connections from one loopback address: a debtor's own, as far as the rate limits can tell."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def http_open(self, req):
        return self.do_open(partial(HTTPConnection, source_address=(self.address, 0)), req)


def _start_payment(base: str, n: int, token: str, invoice_ids: list[int]) -> str:
    """A payer opens its link, reads its page and pays both invoices; the Mollie payment id from the redirect."""
    client = _Client(base)
    client.opener = build_opener(
        _From(f"127.0.{1 + n // 250}.{1 + n % 250}"), HTTPCookieProcessor(CookieJar()), _NoRedirect()
    )
    if client.get(token)[0] != 303:
        raise RuntimeError(f"payer {n}: the link did not answer 303")
    match = CSRF.search(client.get("/s/")[1])
    if not match:
        raise RuntimeError(f"payer {n}: no pay form on /s/")
    form = urlencode({"csrf_token": match.group(1), "invoice": invoice_ids}, doseq=True).encode()
    try:
        with client.opener.open(base + "/s/pay", data=form, timeout=60) as response:
            status, location = response.status, response.headers.get("Location", "")
    except HTTPError as error:
        with error:
            status, location = error.code, error.headers.get("Location", "")
    found = re.search(r"/checkout/(tr_\w+)$", location)
    if status != 303 or not found:
        raise RuntimeError(f"payer {n}: POST /s/pay answered {status} to {location!r}")
    return found.group(1)


def _post(url: str, form: dict) -> int:
    with urlopen(url, data=urlencode(form).encode(), timeout=60) as response:  # noqa: S310 - our own servers
        response.read()
        return response.status


def _ring(base: str, mollie_ids: list[str], concurrency: int) -> float:
    """Every payment's webhook once, from ``concurrency`` threads, a new connection each; webhooks per second."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        statuses = list(pool.map(lambda i: _post(f"{base}/mollie/webhook", {"id": i}), mollie_ids))
    elapsed = time.perf_counter() - started
    if set(statuses) != {200}:
        raise RuntimeError(f"webhooks answered {sorted(set(statuses))}")
    return len(mollie_ids) / elapsed


def _booked(app, org_id: int) -> tuple[int, list[str]]:
    """How many 'mollie' payments the ledger holds, and its discrepancies."""
    with app.app_context():
        mollie = (Payment.organisation_id == org_id) & (Payment.method == "mollie")
        booked = db.session.scalar(select(func.count()).select_from(Payment).where(mollie))
        problems = ledger_discrepancies(db.session, org_id)
        db.session.remove()
    return booked, problems


def _profile(app, token: str, runs: int = 5) -> None:
    """The SQL statements of GET /s/, timed in-process over ``runs`` requests (as bench.pages._profile does)."""
    with app.app_context():
        engine = db.engine
    client, statements = app.test_client(), {}
    client.get(token)
    client.get("/s/")  # warm the pool and the caches before listening

    def before(conn, *_):
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn, cursor, statement, *_):
        statements.setdefault(statement, []).append((time.perf_counter() - conn.info["bench_started"].pop()) * 1000)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    started = time.perf_counter()
    try:
        for _ in range(runs):
            client.get("/s/")
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    page_ms, sql_ms = (time.perf_counter() - started) * 1000 / runs, sum(map(sum, statements.values())) / runs
    print(
        f"\n### Profile of `/s/` (in-process): {page_ms:.1f} ms a request, of which SQL {sql_ms:.1f} ms in "
        f"{sum(map(len, statements.values())) // runs} statements\n\n| ms (median) | per request | statement |"
    )
    print("|---|---|---|")
    for statement, times in sorted(statements.items(), key=lambda item: -sum(item[1]))[:6]:
        print(f"| {statistics.median(times):.1f} | {len(times) // runs}x | `{' '.join(statement.split())[:160]}` |")


if __name__ == "__main__":
    main()
