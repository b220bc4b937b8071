"""Bank statement import: a camt.053 with 10,000 entries matched and booked against the bench organisation.

``python -m bench.bank`` creates a scratch PostgreSQL database (bench.pages' helpers), seeds the bench organisation
with ``seed_bulk`` (--debtors, --invoices; VACUUM ANALYZE and a CHECKPOINT after), and writes a camt.053.001.02
statement of --entries credits for its open invoices, the ways customers pay: 50% by structured payment reference,
25% by invoice number in the free text (a tenth of those naming two invoices of one debtor), 10% in part by
reference, and 15% that name nothing we know (some for the amount of an open invoice: suggestions). Then,
in-process, it times ``import_statement`` with its commit: parsing, deduplication, matching, booking through the
ledger (payments, allocations, events, the trigger-kept summaries). A second import of the same file must book
nothing; the ledger check must be clean. Over the 5 s target, the slowest statements are printed.

Prints a markdown table. The database goes at the end, also on error. Not a test: nothing here asserts a time.
"""

import argparse
import random
import time
from collections import Counter
from datetime import date
from decimal import Decimal

import psycopg
from sqlalchemy import func, select

from bench.pages import PG_ADMIN, _dispose, _migrated_app, create_scratch_database
from bench.reminders import _Statements, _vacuum

TARGET_SECONDS = 5.0
SLUG = "bench"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bank", description=__doc__.split("\n\n")[0])
    parser.add_argument("--debtors", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--profile", choices=("auto", "always", "never"), default="auto")
    args = parser.parse_args(argv)
    name, dsn, url = create_scratch_database()
    app = None
    try:
        app = _migrated_app(url)
        org_id, content, shape = _prepare(app, dsn, args.debtors, args.invoices, args.entries)
        first = _import(app, org_id, content, profile=args.profile == "always")
        if first["seconds"] > TARGET_SECONDS and args.profile == "auto":
            print("over the target: --profile always lists the slowest statements of the import", flush=True)
        again = _import(app, org_id, content)
        clean = _ledger_clean(app, org_id)
    finally:
        _dispose(app)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        print(f"dropped {name}", flush=True)
    size_kib = len(content) // 1024
    print()
    print(f"Bank import, {args.entries:,} entries ({size_kib:,} KiB camt.053) against {args.invoices:,} invoices")
    print()
    print("| what | figure | target |")
    print("|---|---|---|")
    print(f"| import and match, with the commit | {first['seconds']:.2f} s | <= {TARGET_SECONDS:.0f} s |")
    print(f"| of which parsing the file | {first['parse']:.2f} s | |")
    print(f"| outcome | {first['line']} | |")
    repeat = f"{again['seconds']:.2f} s, {again['line']} ({again['known']:,} known)"
    print(f"| the same file again | {repeat} | nothing twice |")
    print(f"| ledger check after | {'clean' if clean else 'DISCREPANCIES'} | clean |")
    print(f"| statement shape | {shape} | |")


def _prepare(app, dsn: str, debtors: int, invoices: int, entries: int):
    from portal.bank.generate import Credit, camt053
    from portal.bulk_seed import seed_bulk
    from portal.extensions import db
    from portal.invoices.models import Invoice

    rng = random.Random(7)
    with app.app_context():
        started = time.perf_counter()
        organisation = seed_bulk(db.session, slug=SLUG, debtors=debtors, invoices=invoices)
        db.session.commit()
        org_id = organisation.id
        print(f"seed_bulk: {time.perf_counter() - started:.0f} s", flush=True)
        rows = db.session.execute(
            select(Invoice.id, Invoice.debtor_id, Invoice.number, Invoice.payment_reference, Invoice.open_amount)
            .where(
                Invoice.organisation_id == org_id,
                Invoice.kind == "invoice",
                Invoice.status == "open",
                Invoice.currency == "EUR",
            )
            .order_by(func.random())
            .limit(entries * 2)
        ).all()
        account = organisation.iban or "NL91ABNA0417164300"
        db.session.remove()
    _vacuum(dsn)
    # Seeding wrote a million rows that are still going to disk (dirty buffers, a checkpoint due): flushed before
    # the clock starts, so that the figure is the import's and not the seeding's tail (as pgbench checkpoints first).
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    by_debtor: dict[int, list] = {}
    for row in rows:
        by_debtor.setdefault(row.debtor_id, []).append(row)
    used: set[int] = set()
    credits: list = []
    shape: Counter = Counter()
    pool = iter(rows)
    while len(credits) < entries:
        row = next(pool)
        if row.id in used:
            continue
        used.add(row.id)
        roll = rng.random()
        if roll < 0.50:
            credits.append(Credit(row.open_amount, name="Klant", reference=row.payment_reference))
            shape["reference"] += 1
        elif roll < 0.75:
            pair = [r for r in by_debtor[row.debtor_id] if r.id not in used][:1] if rng.random() < 0.1 else []
            used.update(r.id for r in pair)
            total = row.open_amount + sum((r.open_amount for r in pair), Decimal("0"))
            numbers = " ".join([row.number, *(r.number for r in pair)])
            credits.append(Credit(total, name="Klant", text=f"Factuur {numbers}"))
            shape["numbers"] += 1
        elif roll < 0.85:
            part = max(Decimal("0.01"), (row.open_amount / 3).quantize(Decimal("0.01")))
            credits.append(Credit(part, name="Klant", reference=row.payment_reference))
            shape["part"] += 1
        else:
            amount = row.open_amount if rng.random() < 0.5 else Decimal(rng.randint(100, 99_999)) / 100
            credits.append(Credit(amount, name="Onbekend", text="betaling"))
            shape["unknown"] += 1
    content = camt053(account, date.today(), credits, statement_id="BENCH-1")
    return org_id, content, ", ".join(f"{k} {v:,}" for k, v in shape.items())


def _import(app, org_id: int, content: bytes, profile: bool = False) -> dict:
    from portal.bank.parse import parse
    from portal.bank.service import import_statement
    from portal.extensions import db

    with app.app_context():
        started = time.perf_counter()
        parse(content)
        parse_seconds = time.perf_counter() - started
        started = time.perf_counter()
        if profile:
            with _Statements(db.engine) as statements:
                summary = import_statement(db.session, org_id, content, filename="bench.xml")
                db.session.commit()
            _print_top(statements.rows)
        else:
            summary = import_statement(db.session, org_id, content, filename="bench.xml")
            db.session.commit()
        seconds = time.perf_counter() - started
        db.session.remove()
    print(f"import: {seconds:.2f} s: {summary.line()} known={summary.known}", flush=True)
    return {"seconds": seconds, "parse": parse_seconds, "line": summary.line(), "known": summary.known}


def _print_top(rows: list[tuple[str, float, int]], top: int = 10) -> None:
    totals: dict[str, list] = {}
    for statement, seconds, _ in rows:
        entry = totals.setdefault(" ".join(statement.split())[:140], [0.0, 0])
        entry[0] += seconds
        entry[1] += 1
    print(f"{len(rows):,} statements, {sum(s for _, s, _ in rows):.2f} s in the database")
    for statement, (seconds, count) in sorted(totals.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"  {seconds:7.2f} s {count:7,} x  {statement}")


def _ledger_clean(app, org_id: int) -> bool:
    from portal.extensions import db
    from portal.ledger.service import ledger_discrepancies

    with app.app_context():
        problems = ledger_discrepancies(db.session, org_id)
        db.session.remove()
    for problem in problems:
        print("ledger:", problem)
    return not problems


if __name__ == "__main__":
    main()
