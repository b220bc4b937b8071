"""Benchmarks for `make bench`: seed time, allocation throughput and the overview page, on PostgreSQL and SQLite.

Run on a quiet machine; figures go into docs/benchmarks.md. Not a test: nothing here asserts a time.
"""

import os
import statistics
import tempfile
import time
import uuid
from datetime import date
from decimal import Decimal

import psycopg
from cryptography.fernet import Fernet

os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("ENCRYPTION_KEYS", Fernet.generate_key().decode())

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def _app(url: str):
    from flask_migrate import upgrade

    from portal import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_STORAGE_URI": "memory://"})
    with app.app_context():
        upgrade()
    return app


def bench(url: str) -> dict[str, str]:
    from portal.demo import DEMO_LOGIN, seed_demo
    from portal.extensions import db
    from portal.ledger.service import record_payment
    from tests.factories import make_debtor, make_invoice, make_organisation

    app = _app(url)
    results = {}
    with app.app_context():
        started = time.perf_counter()
        seed_demo(db.session)
        db.session.commit()
        results["seed-demo (40 debtors, ~760 invoices, ~650 payments)"] = f"{time.perf_counter() - started:.1f} s"

        organisation = make_organisation(db.session)
        debtor = make_debtor(db.session, organisation)
        invoices = [make_invoice(db.session, debtor, "100.00", number=f"B{i}") for i in range(1000)]
        db.session.commit()
        started = time.perf_counter()
        for invoice in invoices:
            record_payment(
                db.session,
                organisation.id,
                debtor.id,
                Decimal("100.00"),
                "EUR",
                date.today(),
                allocations=[(invoice.id, Decimal("100.00"))],
            )
            db.session.commit()
        elapsed = time.perf_counter() - started
        results["record_payment + allocation, one commit each"] = f"{len(invoices) / elapsed:.0f} /s"

    client = app.test_client()
    with app.app_context():
        page = client.get("/login").text
    import re

    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/login", data={"email": DEMO_LOGIN[0], "password": DEMO_LOGIN[1], "csrf_token": token})
    timings = []
    for _ in range(200):
        started = time.perf_counter()
        assert client.get("/cockpit/").status_code == 200
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    results["overview page, demo data (p50 / p95 of 200)"] = (
        f"{statistics.median(timings):.1f} / {timings[int(len(timings) * 0.95)]:.1f} ms"
    )
    with app.app_context():
        db.engine.dispose()
    return results


def main() -> None:
    name = f"duly_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        pg = bench(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DULY_INSTANCE_DIR"] = tmp
        lite = bench(f"sqlite:///{tmp}/bench.sqlite3")
    print("\n| what | PostgreSQL | SQLite |\n|---|---|---|")
    for key in pg:
        print(f"| {key} | {pg[key]} | {lite[key]} |")


if __name__ == "__main__":
    main()
