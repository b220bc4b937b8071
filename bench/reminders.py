"""The reminder engine at scale: planning on 100,000 debtors / 1,000,000 invoices, dispatch rate, worker memory.

``python -m bench.reminders`` creates a scratch database duly_bench_<random>, migrates it and measures:

1. Planning. The bench organisation of bench.pages (portal.bulk_seed, then VACUUM ANALYZE: this server runs
   without autovacuum) is planned with portal.reminders.planning.plan twice, plan() and its commit timed
   in-process: the first run creates the reminders, the second changes nothing. Between the two the reminder
   tables are VACUUM ANALYZEd, as autovacuum would have done between two daily runs. Beside each run ONE
   hand-written SQL statement computes the same plan (each open invoice's next step and its send day; per debtor
   the earliest, pushed past the minimum gap onto a send day; the items due by then and the highest step among
   them), executed plainly through psycopg and fetched to the last row; its rows are compared with the reminders
   plan() stored. Every statement of plan() is timed; when plan() misses a target (10 s, at most twice the
   statement) the slowest ones are run again under EXPLAIN (ANALYZE, BUFFERS) in the state each run met (see
   _Statements), and the run rolled back.
2. Dispatch rate. A second organisation gets --dispatch due reminders (planned by plan(), then made due now).
   Two real ``rq worker -w workers.worker.Worker --burst`` processes each run one workers.jobs.dispatch_reminders
   job from a private queue on the shared Redis, sending over SMTP to an aiosmtpd sink in a process of its own.
   The sink logs each message's Message-ID and arrival time: the rate is taken from the first to the last
   arrival, and every reminder is checked to have arrived exactly once. Beside it: the same number of processes
   sending as many similar mails with bare smtplib (the ceiling SMTP sets on this machine) and, when the rate
   misses 200 mails/s, dispatch() in-process with its SQL statements and SMTP exchanges timed, then under cProfile.
3. Worker memory. A third organisation gets --memory due reminders, sent the same way; the VmRSS of each work
   horse (the process RQ forks to run the job) is read from /proc/<pid>/status every second.

It prints a markdown table of the figures at the end, with the machine's load average (it is shared). The
database, the queue's Redis keys and every process it started are removed at the end, also on error or Ctrl-C.
Not a test: nothing here asserts a time. ``--debtors/--invoices/--dispatch/--memory/--parts`` scale it down.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import psycopg

from bench.pages import PG_ADMIN, ROOT, SLUG, _dispose, _free_port, _migrated_app, _seed, create_scratch_database

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
RQ = Path(sys.executable).parent / "rq"
PLAN_SECONDS = 10.0  # target: plan() of the bench organisation within this
PLAN_RATIO = 2.0  # target: plan() at most this many times the one hand-written statement
MAILS_PER_SECOND = 200.0  # target: dispatch rate of two workers
REMINDER_TABLES = "reminders, reminder_items, reminder_plan_rows, reminder_plan_debtors"
PROFILED_MAILS = 300  # reminders sent in-process, every statement and SMTP call timed, when the rate misses
EXPLAIN_TOP = 3  # statements of plan() shown under EXPLAIN ANALYZE when it misses a target
MESSAGE_ID = re.compile(rb"(?im)^message-id:[ \t]*(<[^>\r\n]+>)")

# One statement for the plan that plan() computes with its staging tables, kind "reminder" only (the bench
# organisations do not deliver invoices). Parameters: org, today, first, calendar, default_scenario, gap.
PLAN_SQL = """
WITH steps AS (
    SELECT i.id AS invoice_id, i.debtor_id, st.position, day.send_on AS due_on
    FROM invoices i
    JOIN debtors d ON d.id = i.debtor_id
    JOIN scenario_steps st
      ON st.scenario_id = COALESCE(
             CASE WHEN d.override_scenario_id IS NOT NULL
                   AND (d.override_until IS NULL OR d.override_until >= %(today)s)
                  THEN d.override_scenario_id END,
             d.scenario_id,
             %(default_scenario)s)
     AND st.position = i.last_step + 1
    JOIN send_days day
      ON day.calendar = %(calendar)s
     AND day.day = GREATEST(
             CASE WHEN st.anchor = 'issue_date' THEN i.issue_date ELSE COALESCE(i.due_date, i.issue_date) END
             + st.offset_days,
             %(first)s)
    WHERE i.organisation_id = %(org)s
      AND i.kind = 'invoice' AND i.status = 'open' AND i.open_amount > 0 AND i.last_step >= 0
      AND (d.hold_until IS NULL OR d.hold_until < %(today)s)
      AND (i.hold_until IS NULL OR i.hold_until < %(today)s)
      AND (i.promised_on IS NULL OR i.promised_on < %(today)s)
      AND i.disputed_at IS NULL
      AND NOT EXISTS (
          SELECT FROM reminder_items ri JOIN reminders r ON r.id = ri.reminder_id
          WHERE ri.invoice_id = i.id AND (r.status IN ({held}) OR (r.status = 'scheduled' AND r.pinned)))
),
last_contact AS (
    SELECT debtor_id, max(send_on) + %(gap)s::int AS gap_ends
    FROM reminders
    WHERE organisation_id = %(org)s AND kind = 'reminder'
      AND (status IN ({contact}) OR (status = 'scheduled' AND pinned))
    GROUP BY debtor_id
),
wanted AS (
    SELECT s.debtor_id, GREATEST(min(s.due_on), max(c.gap_ends)) AS day
    FROM steps s LEFT JOIN last_contact c ON c.debtor_id = s.debtor_id
    GROUP BY s.debtor_id
)
SELECT w.debtor_id, day.send_on, day.send_at, max(s.position) AS step_position, count(*) AS items
FROM wanted w
JOIN send_days day ON day.calendar = %(calendar)s AND day.day = w.day
JOIN steps s ON s.debtor_id = w.debtor_id AND s.due_on <= day.send_on
GROUP BY w.debtor_id, day.send_on, day.send_at
"""

STORED_PLAN_SQL = """
SELECT r.debtor_id, r.send_on, r.send_at, r.step_position, count(ri.invoice_id)
FROM reminders r JOIN reminder_items ri ON ri.reminder_id = r.id
WHERE r.organisation_id = %(org)s AND r.kind = 'reminder' AND r.status = 'scheduled' AND NOT r.pinned
GROUP BY r.id
"""


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--sink"]:  # the SMTP sink's own process
        _sink(int(argv[1]), argv[2])
        return
    if argv[:1] == ["--smtp-load"]:  # a bare smtplib sender, for the SMTP-only baseline
        _smtp_load(int(argv[1]), int(argv[2]))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.reminders", description=__doc__.split("\n\n")[0])
    parser.add_argument("--debtors", type=int, default=100_000, help="debtors of the planning organisation")
    parser.add_argument("--invoices", type=int, default=1_000_000, help="invoices of the planning organisation")
    parser.add_argument("--dispatch", type=int, default=5_000, help="due reminders for the dispatch rate")
    parser.add_argument("--memory", type=int, default=20_000, help="due reminders for the worker memory run")
    parser.add_argument("--workers", type=int, default=2, help="rq worker processes (one dispatch job each)")
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="profile plan() (EXPLAIN ANALYZE) and dispatch (in-process) when they miss a target, always or never",
    )
    parser.add_argument(
        "--parts", default="planning,dispatch,memory", help="comma-separated subset of planning,dispatch,memory"
    )
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))

    whole = time.perf_counter()
    name, dsn, url = create_scratch_database()
    app = None
    figures: dict[str, dict] = {}
    try:
        app = _migrated_app(url)
        if "planning" in parts:
            figures["planning"] = _planning(app, dsn, args.debtors, args.invoices, args.profile)
        if "dispatch" in parts:
            figures["dispatch"] = _dispatch_run(
                app, dsn, name, "dispatch", args.dispatch, args.workers, sample=False, profile=args.profile
            )
        if "memory" in parts:
            figures["memory"] = _dispatch_run(
                app, dsn, name, "memory", args.memory, args.workers, sample=True, profile=args.profile
            )
    finally:
        _dispose(app)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        print(f"\ndropped {name}")
    _report(figures, args, time.perf_counter() - whole)


# 1. planning ----------------------------------------------------------------------------------------------------


def _planning(app, dsn: str, debtors: int, invoices: int, profile: str) -> dict:
    from sqlalchemy import select

    from portal.extensions import db
    from portal.organisations.calendar import first_day
    from portal.organisations.models import Organisation
    from portal.reminders.models import CONTACT_STATUSES, HELD_STATUSES
    from portal.reminders.planning import ensure_calendar
    from portal.scenarios.defaults import default_scenario_id

    print(f"\n## Planning\n\n{_load()}", flush=True)
    facts = _seed(app, debtors, invoices)
    _vacuum(dsn)
    with app.app_context():
        organisation = db.session.scalar(select(Organisation).where(Organisation.slug == SLUG))
        org_id = organisation.id
        today, first = organisation.today(), first_day(organisation)
        # What plan() would make on its first call anyway: the calendar and the default scenarios. Made here, so
        # that the statement can read them and both start from the same state.
        params = {
            "org": org_id,
            "today": today,
            "first": first,
            "calendar": ensure_calendar(db.session, organisation, first),
            "default_scenario": default_scenario_id(db.session, org_id),
            "gap": max(organisation.min_gap_days, 1),
        }
        db.session.commit()
        db.session.remove()
    print(f"today {today}, first day {first}, calendar {params['calendar']}", flush=True)
    _vacuum(dsn, "scenarios, scenario_steps, send_days")
    quoted = ", ".join(f"'{s}'" for s in HELD_STATUSES), ", ".join(f"'{s}'" for s in CONTACT_STATUSES)
    statement = PLAN_SQL.format(held=quoted[0], contact=quoted[1])

    sql_before, rows_before = _time_statement(dsn, statement, params)
    print(f"statement (no reminders yet): {sql_before:.2f} s, {len(rows_before):,} debtors", flush=True)
    first_run = _plan_run(app, org_id, today, first)
    print(f"plan() first run: {first_run['seconds']:.2f} s ({first_run['result']})", flush=True)
    with psycopg.connect(dsn) as conn:
        stored = {row[0]: row[1:] for row in conn.execute(STORED_PLAN_SQL, params)}
    computed = {row[0]: row[1:] for row in rows_before}
    differ = sum(1 for debtor in stored.keys() | computed.keys() if stored.get(debtor) != computed.get(debtor))
    items = sum(row[3] for row in stored.values())
    print(f"plan() stored {len(stored):,} reminders with {items:,} items; differences from the statement: {differ}")
    # Between two daily runs autovacuum would have analysed the tables the first run filled (and vacuumed the
    # staging tables it emptied); this server runs without it.
    _vacuum(dsn, REMINDER_TABLES)
    second_run = _plan_run(app, org_id, today, first)
    print(f"plan() second run: {second_run['seconds']:.2f} s ({second_run['result']})", flush=True)
    sql_after, rows_after = _time_statement(dsn, statement, params)
    print(f"statement (reminders planned): {sql_after:.2f} s, {len(rows_after):,} debtors", flush=True)

    missed = [
        run
        for run, sql in ((first_run, sql_before), (second_run, sql_after))
        if run["seconds"] > PLAN_SECONDS or run["seconds"] > PLAN_RATIO * sql
    ]
    if profile == "always" or (profile == "auto" and missed):
        why = "misses a target" if missed else "is within its targets, but --profile always"
        print(f"\nplan() {why}: profile of its statements.", flush=True)
        _profile_plan(app, dsn, org_id, today, first, first_run, second_run)
    else:
        print(f"\nplan() is within {PLAN_SECONDS:.0f} s and {PLAN_RATIO:.0f}x the statement: no profile needed.")
        for label, run in (("first", first_run), ("second", second_run)):
            _print_statements(f"plan() {label} run", run)

    # The bench organisation's reminders are due today: out of the way of the dispatch runs (which send whatever
    # is due, in every organisation).
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM reminders WHERE organisation_id = %s", (org_id,))
    _vacuum(dsn, REMINDER_TABLES)
    return {
        "facts": facts,
        "first": first_run,
        "second": second_run,
        "sql_before": sql_before,
        "sql_after": sql_after,
        "reminders": len(stored),
        "items": items,
        "differ": differ,
    }


def _load() -> str:
    """The machine is shared: its load average says whether other work competed for the CPUs."""
    with open("/proc/loadavg") as f:
        one, five, fifteen = f.read().split()[:3]
    return f"load average {one} {five} {fifteen} on {os.cpu_count()} CPUs"


def _vacuum(dsn: str, tables: str = "") -> None:
    """This server runs without autovacuum: after bulk changes the planner needs fresh statistics."""
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"VACUUM (ANALYZE) {tables}")
    print(f"VACUUM ANALYZE {tables or '(all)'}: {time.perf_counter() - started:.1f} s", flush=True)


def _time_statement(dsn: str, statement: str, params: dict) -> tuple[float, list[tuple]]:
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT 1")  # the connection is made before the clock starts
        started = time.perf_counter()
        rows = conn.execute(statement, params).fetchall()
        return time.perf_counter() - started, rows


class _Statements:
    """Times every SQL statement of the app's engine. Chosen statements run under EXPLAIN (ANALYZE, BUFFERS)
    instead: an INSERT, UPDATE or DELETE in place (it runs once, its effects kept, so later statements meet the
    state they would have met; its own result then holds the plan's lines, so the counts of a run that explains
    are meaningless), a SELECT in a savepoint before it runs for real."""

    def __init__(self, engine, explain: set[str] = frozenset()) -> None:
        self.engine = engine
        self.explain = explain
        self.rows: list[tuple[str, float, int]] = []
        self.plans: dict[str, tuple[object, list[str]]] = {}

    def __enter__(self) -> "_Statements":
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._before, retval=True)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, params, context, executemany):
        conn.info.pop("bench_explained", None)
        if statement in self.explain and not executemany and statement not in self.plans:
            explained = f"EXPLAIN (ANALYZE, BUFFERS) {statement}"
            if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
                conn.info["bench_explained"] = statement
                conn.info["bench_started"] = time.perf_counter()
                return explained, params
            with cursor.connection.cursor() as explain:
                explain.execute("SAVEPOINT bench_explain")
                lines = [row[0] for row in explain.execute(explained, params)]
                explain.execute("ROLLBACK TO SAVEPOINT bench_explain")
                explain.execute("RELEASE SAVEPOINT bench_explain")
            self.plans[statement] = (params, lines)
        conn.info["bench_started"] = time.perf_counter()
        return statement, params

    def _after(self, conn, cursor, statement, params, context, executemany):
        elapsed = time.perf_counter() - conn.info.pop("bench_started")
        explained = conn.info.pop("bench_explained", None)
        if explained is not None:
            self.plans[explained] = (params, [row[0] for row in cursor.fetchall()])
        self.rows.append((explained or statement, elapsed, cursor.rowcount))


def _plan_run(app, org_id: int, today, first, explain: set[str] = frozenset(), commit: bool = True) -> dict:
    from sqlalchemy import text

    from portal.extensions import db
    from portal.reminders.planning import plan

    with app.app_context():
        with _Statements(db.engine, explain) as statements:
            db.session.execute(text("SELECT 1"))  # a pooled connection before the clock
            statements.rows.clear()
            started = time.perf_counter()
            result = plan(db.session, org_id, today=today, first=first)
            planned = time.perf_counter() - started
            if commit:
                db.session.commit()
            else:
                db.session.rollback()
            seconds = time.perf_counter() - started
        db.session.remove()
    return {
        "seconds": seconds,
        "commit": seconds - planned,
        "result": result,
        "statements": statements.rows,
        "plans": statements.plans,
    }


def _short(statement: str, length: int = 150) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= length else text[: length - 3] + "..."


def _print_statements(title: str, run: dict, top: int = 8) -> None:
    rows = run["statements"]
    total = sum(seconds for _, seconds, _ in rows)
    print(f"\n### {title}: {len(rows)} statements, {total:.2f} s in SQL of {run['seconds']:.2f} s\n")
    print("| # | s | share | rows | statement |\n|---|---|---|---|---|")
    ranked = sorted(enumerate(rows, start=1), key=lambda item: -item[1][1])
    for position, (statement, seconds, count) in ranked[:top]:
        share = seconds / total if total else 0
        print(f"| {position} | {seconds:.2f} | {share:.0%} | {count:,} | `{_short(statement)}` |")


def _profile_plan(app, dsn: str, org_id: int, today, first, first_run: dict, second_run: dict) -> None:
    """Statement times of both runs, then EXPLAIN ANALYZE of the slowest statements in the state each run met."""
    _print_statements("plan() first run (creates the reminders)", first_run)
    _print_statements("plan() second run (changes nothing)", second_run)

    def slowest(run: dict) -> set[str]:
        ranked = sorted(run["statements"], key=lambda row: -row[1])
        return {statement for statement, _, _ in ranked[:EXPLAIN_TOP]}

    # The second run's state is the current one; the explained run is rolled back.
    explained = _plan_run(app, org_id, today, first, explain=slowest(second_run), commit=False)
    _print_plans("second run", explained)
    # The first run's state: no reminders (and, without autovacuum, no dead rows left by deleting them).
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM reminders WHERE organisation_id = %s", (org_id,))
    _vacuum(dsn, REMINDER_TABLES)
    explained = _plan_run(app, org_id, today, first, explain=slowest(first_run), commit=False)
    _print_plans("first run", explained)


def _print_plans(label: str, run: dict) -> None:
    positions = {statement: n for n, (statement, _, _) in enumerate(run["statements"], start=1)}
    for statement, (params, lines) in run["plans"].items():
        title = f"EXPLAIN (ANALYZE, BUFFERS) of statement {positions.get(statement, '?')}, {label}"
        print(f"\n#### {title}\n\n```\n{' '.join(statement.split())}\n{params}\n")
        print("\n".join(lines))
        print("```")


# 2 and 3. dispatch ---------------------------------------------------------------------------------------------


def _due_reminders(app, dsn: str, slug: str, wanted: int, spare: int = 0) -> tuple[int, int, dict]:
    """A new organisation whose ``wanted`` reminders (planned by plan(), a random sample of them) are due now;
    ``spare`` more are kept for later (due in 30 days), the rest deleted."""
    from portal.bulk_seed import seed_bulk
    from portal.extensions import db
    from portal.organisations.calendar import first_day
    from portal.organisations.models import Organisation
    from portal.reminders.planning import plan

    debtors = max(100, (wanted + spare) * 3 // 2)
    with app.app_context():
        started = time.perf_counter()
        org_id = seed_bulk(db.session, slug=slug, debtors=debtors, invoices=debtors * 6, seed=len(slug)).id
        db.session.commit()
        seeded = time.perf_counter() - started
        organisation = db.session.get(Organisation, org_id)
        started = time.perf_counter()
        result = plan(db.session, org_id, first=first_day(organisation))
        db.session.commit()
        planned = time.perf_counter() - started
        db.session.remove()
    print(
        f"organisation {slug}: {debtors:,} debtors, {debtors * 6:,} invoices seeded in {seeded:.1f} s; "
        f"plan() {planned:.1f} s: {result}",
        flush=True,
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "DELETE FROM reminders WHERE organisation_id = %(org)s AND id NOT IN ("
            " SELECT id FROM reminders WHERE organisation_id = %(org)s AND status = 'scheduled'"
            " ORDER BY md5(id::text) LIMIT %(n)s)",
            {"org": org_id, "n": wanted + spare},
        )
        due = conn.execute(
            "UPDATE reminders SET send_at = now() - interval '1 minute'"
            " WHERE organisation_id = %s AND status = 'scheduled'",
            (org_id,),
        ).rowcount
        due -= conn.execute(
            "UPDATE reminders SET send_at = now() + interval '30 days' WHERE id IN ("
            " SELECT id FROM reminders WHERE organisation_id = %(org)s ORDER BY id LIMIT %(spare)s)",
            {"org": org_id, "spare": spare},
        ).rowcount
        shape = conn.execute(
            "SELECT avg(n), max(n) FROM (SELECT count(*) AS n FROM reminder_items ri"
            " JOIN reminders r ON r.id = ri.reminder_id WHERE r.organisation_id = %s GROUP BY r.id) x",
            (org_id,),
        ).fetchone()
    _vacuum(dsn, "reminders, reminder_items, invoices, debtors")
    return org_id, due, {"items_avg": float(shape[0] or 0), "items_max": shape[1] or 0}


@contextmanager
def _sink_process(label: str):
    """The SMTP sink in a process of its own; yields (smtp URL, path of its log)."""
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix=f"duly-bench-sink-{label}-", suffix=".log", delete=False)  # noqa: SIM115
    log.close()
    sink = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "bench.reminders", "--sink", str(port), log.name],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if sink.stdout.readline().strip() != "ready":
            raise RuntimeError("the SMTP sink did not start")
        print(f"SMTP sink pid {sink.pid} on 127.0.0.1:{port} (log {log.name})", flush=True)
        yield f"smtp://127.0.0.1:{port}", log.name
    finally:
        sink.send_signal(signal.SIGTERM)
        try:
            sink.wait(timeout=15)
        except subprocess.TimeoutExpired:
            sink.kill()
            sink.wait()
        sink.stdout.close()


def _rate(arrivals: list[tuple[float, str]]) -> tuple[float, float]:
    """(mails per second from the first mail's arrival to the last's, that span in seconds)."""
    times = sorted(at for at, _ in arrivals)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return ((len(times) - 1) / span if span else 0.0), span


def _dispatch_run(app, dsn: str, database: str, slug: str, wanted: int, workers: int, sample: bool, profile: str):
    print(f"\n## {'Worker memory' if sample else 'Dispatch rate'}\n\n{_load()}", flush=True)
    spare = 0 if sample or profile == "never" else 2 * PROFILED_MAILS
    org_id, due, shape = _due_reminders(app, dsn, slug, wanted, spare)
    print(
        f"{due:,} due reminders (items per reminder: mean {shape['items_avg']:.1f}, max {shape['items_max']})",
        flush=True,
    )
    with _sink_process(slug) as (smtp_url, log):
        run = _run_workers(database, smtp_url, workers, log, sample)
    arrivals = _read_sink(log)
    os.unlink(log)
    check = _check_once(dsn, org_id, arrivals)
    rate, span = _rate(arrivals)
    wall_rate = len(arrivals) / run["seconds"] if run["seconds"] else 0.0
    print(
        f"{len(arrivals):,} mails at the sink in {span:.1f} s from first to last: {rate:.0f} mails/s "
        f"({wall_rate:.0f} mails/s over the {run['seconds']:.1f} s from starting the workers to their exit)",
        flush=True,
    )
    print(f"job results: {run['results']}")
    print(f"reminder statuses: {dict(check['statuses'])}")
    print(
        f"exactly once: {check['once']:,} of {due:,} reminders sent with one mail each at the sink; "
        f"{check['duplicates']} duplicate mails, {check['missing']} sent reminders without a mail at the sink, "
        f"{check['unexpected']} mails of no sent reminder, {check['multi_rows']} reminders with more than one "
        f"mail row",
        flush=True,
    )
    figures = {"due": due, "mails": len(arrivals), "span": span, "rate": rate, "wall_rate": wall_rate, **run, **check}
    if sample:
        figures["memory"] = _memory_summary(run["samples"], len(arrivals))
        return figures
    figures["smtp_only"] = _smtp_baseline(workers, due)
    if spare and (profile == "always" or rate < MAILS_PER_SECOND):
        figures["breakdown"] = _profile_dispatch(app, dsn, org_id)
    return figures


def _smtp_baseline(processes: int, mails: int) -> float:
    """The same number of processes sending the same number of similar mails with bare smtplib over one kept
    connection each (as dispatch keeps one per run) to a fresh sink: what SMTP alone allows on this machine."""
    each = max(50, mails // processes)
    with _sink_process("smtp-only") as (smtp_url, log):
        port = smtp_url.rsplit(":", 1)[1]
        senders = [
            subprocess.Popen([sys.executable, "-m", "bench.reminders", "--smtp-load", port, str(each)], cwd=ROOT)  # noqa: S603
            for _ in range(processes)
        ]
        for sender in senders:
            sender.wait()
    arrivals = _read_sink(log)
    os.unlink(log)
    rate, span = _rate(arrivals)
    print(f"bare smtplib, {processes} processes: {len(arrivals):,} mails in {span:.1f} s: {rate:.0f} mails/s")
    return rate


def _smtp_load(port: int, count: int) -> None:
    """Send ``count`` mails of a reminder's size and shape (text and HTML, ~4 kB) over one SMTP connection."""
    import smtplib
    from email.message import EmailMessage

    body = "Dear customer,\n\nThe following invoices are still open.\n\n" + "2025-0001234  EUR 1.234,56\n" * 60
    conn = smtplib.SMTP("127.0.0.1", port, timeout=30)
    for n in range(count):
        email = EmailMessage()
        email["From"] = "Bench <debiteuren@bench.duly.test>"
        email["To"] = f"load{n}@mail.example"
        email["Subject"] = "Herinnering: 2025-0001234"
        email["Message-ID"] = f"<load-{os.getpid()}-{n}@duly.test>"
        email.set_content(body)
        email.add_alternative(f"<html><body><pre>{body}</pre></body></html>", subtype="html")
        conn.send_message(email)
    conn.quit()


def _profile_dispatch(app, dsn: str, org_id: int) -> dict:
    """Where a send's time goes: dispatch() in this process over PROFILED_MAILS reminders with every SQL statement,
    commit and SMTP exchange timed; then over as many more under cProfile, for the CPU time by package."""
    import cProfile
    import pstats
    import smtplib

    from sqlalchemy import event

    from portal.extensions import db
    from portal.mail import service
    from portal.reminders.dispatch import dispatch

    smtp = {"seconds": 0.0}

    def timed(function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                smtp["seconds"] += time.perf_counter() - started

        return wrapper

    # The SMTP exchanges themselves: connect (with EHLO), MAIL, RCPT, DATA (after the hook that commits 'sending',
    # which counts as SQL), QUIT.
    methods = ("mail", "rcpt", "data")
    originals = (service._smtp_connection, service._quit, *(getattr(smtplib.SMTP, name) for name in methods))
    commits: list[int] = []
    profiler = cProfile.Profile()
    with _sink_process("profile") as (smtp_url, log), app.app_context():
        engine = db.engine

        def commit_started(conn):
            commits.append(1)

        _make_due(dsn, org_id, PROFILED_MAILS)
        service._smtp_connection, service._quit = timed(originals[0]), timed(originals[1])
        for name, original in zip(methods, originals[2:], strict=True):
            setattr(smtplib.SMTP, name, timed(original))
        event.listen(engine, "commit", commit_started)
        try:
            with _Statements(engine) as statements:
                started = time.perf_counter()
                counts = dispatch(db.session, smtp_url=smtp_url, config=app.config, organisation_id=org_id)
                seconds = time.perf_counter() - started
        finally:
            event.remove(engine, "commit", commit_started)
            service._smtp_connection, service._quit = originals[0], originals[1]
            for name, original in zip(methods, originals[2:], strict=True):
                setattr(smtplib.SMTP, name, original)
            db.session.remove()
        _make_due(dsn, org_id, PROFILED_MAILS)
        try:
            profiler.enable()
            profiled = dispatch(db.session, smtp_url=smtp_url, config=app.config, organisation_id=org_id)
        finally:
            profiler.disable()
            db.session.remove()
    os.unlink(log)
    sent = sum(counts.values()) or 1
    sql = sum(elapsed for _, elapsed, _ in statements.rows)
    per = {
        "mails": sum(counts.values()),
        "rate": sent / seconds,
        "ms": seconds / sent * 1000,
        "statements": len(statements.rows) / sent,
        "sql_ms": sql / sent * 1000,
        "commits": len(commits) / sent,
        "smtp_ms": smtp["seconds"] / sent * 1000,
    }
    per["rest_ms"] = per["ms"] - per["sql_ms"] - per["smtp_ms"]
    print(
        f"\n### dispatch() in-process, one process, {per['mails']} reminders: {per['rate']:.0f} mails/s, "
        f"{per['ms']:.1f} ms a mail = SQL {per['sql_ms']:.1f} ms ({per['statements']:.1f} statements, "
        f"{per['commits']:.1f} commits) + SMTP {per['smtp_ms']:.1f} ms (MAIL, RCPT, DATA; connect and QUIT) + the "
        f"rest {per['rest_ms']:.1f} ms (Python: ORM, rendering, building the mail, the driver, commits)\n"
    )
    totals: dict[str, list[float]] = {}
    for statement, elapsed, _ in statements.rows:
        totals.setdefault(_short(statement, 110), []).append(elapsed)
    print("| statement | per mail | ms each |\n|---|---|---|")
    for statement, times in sorted(totals.items(), key=lambda item: -sum(item[1]))[:10]:
        print(f"| `{statement}` | {len(times) / sent:.1f} | {sum(times) / len(times) * 1000:.2f} |")

    by_package: Counter = Counter()
    for (filename, _, function), (_, _, own, _, _) in pstats.Stats(profiler).stats.items():
        by_package[_package(filename, function)] += own
    total = sum(by_package.values()) or 1
    mails = sum(profiled.values()) or 1
    print(
        f"\nThe next {mails} reminders under cProfile ({total / mails * 1000:.1f} ms a mail with its overhead),"
        " own time by package:\n"
    )
    print("| package | share | ms a mail |\n|---|---|---|")
    for package, own in by_package.most_common(12):
        print(f"| {package} | {own / total:.0%} | {own / mails * 1000:.1f} |")
    per["packages"] = [(package, own / total) for package, own in by_package.most_common(6)]
    return per


def _make_due(dsn: str, org_id: int, count: int) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "UPDATE reminders SET send_at = now() - interval '1 minute' WHERE id IN (SELECT id FROM reminders"
            " WHERE organisation_id = %s AND status = 'scheduled' ORDER BY id LIMIT %s)",
            (org_id, count),
        ).rowcount


def _package(filename: str, function: str) -> str:
    """What a profiled function belongs to: sqlalchemy.orm, psycopg, email, portal.reminders, ..."""
    if filename == "~":  # C functions: socket I/O, dict and str methods, ...
        return "built-in functions (C: socket I/O, ...)"
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        inner = parts[parts.index("site-packages") + 1 :]
        depth = 2 if inner[0] in ("sqlalchemy", "flask_sqlalchemy") and len(inner) > 2 else 1
        return ".".join(part.removesuffix(".py") for part in inner[:depth])
    if str(path).startswith(str(ROOT)):
        inner = path.relative_to(ROOT).parts
        return ".".join(part.removesuffix(".py") for part in inner[:2])
    if "lib" in parts:  # the standard library: its package (email, json, ...) or module (smtplib, socket, ...)
        inner = parts[max(i for i, part in enumerate(parts) if part.startswith("python3")) + 1 :]
        return f"stdlib {inner[0].removesuffix('.py')}" if inner else path.name
    return path.name


def _run_workers(database: str, smtp_url: str, workers: int, sink_log: str, sample: bool) -> dict:
    from redis import Redis
    from rq import Queue
    from rq.job import Job

    queue_name = f"duly-bench-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(REDIS_URL)
    queue = Queue(queue_name, connection=redis)
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{database}",
        "REDIS_URL": REDIS_URL,
        "RQ_QUEUE": queue_name,
        "SMTP_URL": smtp_url,
        "RATELIMIT_STORAGE_URI": "memory://",
        "PUBLIC_BASE_URL": "https://duly.test",
        "DULY_INSTANCE_DIR": tempfile.mkdtemp(prefix="duly-bench-rq-"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("RQ_ASYNC", None)
    job_ids: list[str] = []
    processes: list[subprocess.Popen] = []
    logs = []
    try:
        for _ in range(workers):
            job = queue.enqueue("workers.jobs.dispatch_reminders", job_timeout=3600, result_ttl=3600)
            job_ids.append(job.id)
        started = time.perf_counter()
        for n in range(workers):
            log = tempfile.NamedTemporaryFile(prefix=f"duly-bench-rq-{n}-", suffix=".log", delete=False)  # noqa: SIM115
            logs.append(log)
            command = [str(RQ), "worker", "-w", "workers.worker.Worker", "--burst", "--url", REDIS_URL]
            command += ["--name", f"{queue_name}-w{n}"]
            command += ["--path", str(ROOT), "--logging_level", "WARNING", queue_name]
            processes.append(
                subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
            )
        print(f"rq workers {[p.pid for p in processes]} on queue {queue_name}", flush=True)
        samples = []
        counter = _LineCounter(sink_log)
        while any(p.poll() is None for p in processes):
            if sample:
                horses = {p.pid: _children(p.pid) for p in processes}
                rss = {pid: (kids[0], _vm_rss(kids[0])) for pid, kids in horses.items() if len(kids) == 1}
                mails = counter.count()
                samples.append((time.perf_counter() - started, mails, {k: v for k, v in rss.items() if v[1]}))
                if len(samples) % 30 == 0:
                    now = ", ".join(f"{kb / 1024:.1f}" for _, kb in samples[-1][2].values())
                    print(f"  {samples[-1][0]:.0f} s: {mails:,} mails, work horses' VmRSS {now} MiB", flush=True)
            time.sleep(1.0 if sample else 0.2)
        seconds = time.perf_counter() - started
        for process, log in zip(processes, logs, strict=True):
            if process.returncode != 0:
                raise RuntimeError(f"rq worker exited with {process.returncode}; see {log.name}")
        results, failed = [], False
        for job_id in job_ids:
            job = Job.fetch(job_id, connection=redis)
            if job.get_status() == "finished":
                results.append(job.return_value())
                continue
            failed = True
            result = job.latest_result()
            error = (result.exc_string if result is not None else None) or job.exc_info or ""
            results.append(f"job {job.get_status().value}: {error.strip().splitlines()[-1:] or ''}")
            print(f"job {job_id} {job.get_status().value}:\n{error}", flush=True)
        for log in logs:
            log.close()
            if failed:
                print(f"worker log kept: {log.name}")
            else:
                os.unlink(log.name)
        return {"seconds": seconds, "results": results, "samples": samples}
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        _purge(redis, queue_name, job_ids)
        redis.close()
        shutil.rmtree(env["DULY_INSTANCE_DIR"], ignore_errors=True)


def _purge(redis, queue_name: str, job_ids: list[str]) -> None:
    """Remove every key of this run's queue, its workers and its jobs; the shared Redis keeps everything else."""
    for pattern in [f"*{queue_name}*", *(f"*{job_id}*" for job_id in job_ids)]:
        for key in redis.scan_iter(match=pattern, count=1000):
            redis.delete(key)
    for members in ("rq:queues", "rq:workers"):
        for member in redis.smembers(members):
            if queue_name in member.decode():
                redis.srem(members, member)


def _children(pid: int) -> list[int]:
    """Child processes of ``pid`` (the work horse of an rq worker), from /proc."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(child) for child in f.read().split()]
    except OSError:
        return []


def _vm_rss(pid: int) -> int | None:
    """VmRSS of a process in kB, None once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class _LineCounter:
    """Lines appended to the sink's log so far, read incrementally."""

    def __init__(self, path: str) -> None:
        self.path, self.offset, self.lines = path, 0, 0

    def count(self) -> int:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        complete = chunk.rfind(b"\n") + 1
        self.lines += chunk.count(b"\n", 0, complete)
        self.offset += complete
        return self.lines


def _memory_summary(samples: list, mails: int) -> dict:
    """Per work horse: VmRSS at its first sample, after 5 %, 50 % and at the end of the mails, and its peak (with
    when it was seen); plus a line of every tenth of the run."""
    horses: dict[int, list[tuple[float, int, int, int]]] = {}
    for at, sent, rss in samples:
        for worker, (horse, kb) in rss.items():
            horses.setdefault(worker, []).append((at, sent, horse, kb))
    summary = {}
    for worker, points in horses.items():

        def after(fraction: float, points=points) -> int:
            return next((kb for _, sent, _, kb in points if sent >= fraction * mails), points[-1][3])

        peak = max(points, key=lambda point: point[3])
        summary[worker] = {
            "first": points[0][3],
            "start": after(0.05),
            "middle": after(0.5),
            "end": points[-1][3],
            "peak": peak[3],
            "peak_at": f"{peak[0]:.0f} s, {peak[1]:,} mails",
            "horses": len({horse for _, _, horse, _ in points}),
            "samples": len(points),
        }
        tenths = " ".join(f"{after(n / 10) / 1024:.1f}" for n in range(11))
        print(
            f"rq worker {worker}: {summary[worker]['horses']} work horse(s), VmRSS MiB at 0 %, 10 %, ... 100 % of "
            f"the mails: {tenths}; peak {peak[3] / 1024:.1f} MiB at {summary[worker]['peak_at']}"
        )
    return summary


def _read_sink(path: str) -> list[tuple[float, str]]:
    arrivals = []
    with open(path) as f:
        for line in f:
            at, message_id = line.split()
            arrivals.append((float(at), message_id))
    return arrivals


def _check_once(dsn: str, org_id: int, arrivals: list[tuple[float, str]]) -> dict:
    """Each reminder sent exactly once: its own mail's Message-ID arrived at the sink once, and nothing else did."""
    received = Counter(message_id for _, message_id in arrivals)
    with psycopg.connect(dsn) as conn:
        statuses = Counter(
            dict(
                conn.execute(
                    "SELECT status, count(*) FROM reminders WHERE organisation_id = %s GROUP BY status", (org_id,)
                ).fetchall()
            )
        )
        sent = conn.execute(
            "SELECT m.message_id FROM reminders r JOIN mail_messages m ON m.id = r.mail_message_id"
            " WHERE r.organisation_id = %s AND r.status = 'sent'",
            (org_id,),
        ).fetchall()
        multi_rows = conn.execute(
            "SELECT count(*) FROM (SELECT reminder_id FROM mail_messages WHERE organisation_id = %s"
            " GROUP BY reminder_id HAVING count(*) > 1) x",
            (org_id,),
        ).fetchone()[0]
    expected = {message_id for (message_id,) in sent}
    return {
        "statuses": statuses,
        "once": sum(1 for message_id in expected if received[message_id] == 1),
        "duplicates": sum(count - 1 for count in received.values() if count > 1),
        "missing": sum(1 for message_id in expected if received[message_id] == 0),
        "unexpected": sum(count for message_id, count in received.items() if message_id not in expected),
        "multi_rows": multi_rows,
    }


def _sink(port: int, log_path: str) -> None:
    """An SMTP server that accepts everything and logs "<time> <Message-ID>" per message; stops on SIGTERM."""
    from aiosmtpd.controller import Controller

    out = open(log_path, "a", buffering=1)  # noqa: SIM115 - open for the life of the process

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            head = envelope.original_content.split(b"\r\n\r\n", 1)[0]
            match = MESSAGE_ID.search(head)
            out.write(f"{time.time():.6f} {match.group(1).decode() if match else '<none>'}\n")
            return "250 2.0.0 Message accepted for delivery"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    controller.stop()
    out.close()


# report ----------------------------------------------------------------------------------------------------------


def _report(figures: dict, args, seconds: float) -> None:
    print("\n## Figures\n")
    print("| measure | value | target | how |\n|---|---|---|---|")
    planning = figures.get("planning")
    if planning:
        facts = planning["facts"]
        how = f"{args.debtors:,} debtors, {facts['rows']}"
        for label, run, sql in (
            ("first run (creates the reminders)", planning["first"], planning["sql_before"]),
            ("second run (changes nothing)", planning["second"], planning["sql_after"]),
        ):
            print(
                f"| plan() {label} | {run['seconds']:.2f} s (commit {run['commit']:.2f} s): {run['result']} | "
                f"<= {PLAN_SECONDS:.0f} s | in-process, plan() + commit, {how} |"
            )
            print(
                f"| one hand-written statement, same state | {sql:.2f} s | | psycopg, execute + fetchall, no EXPLAIN |"
            )
            print(f"| ratio plan() / statement | {run['seconds'] / sql:.1f}x | <= {PLAN_RATIO:.0f}x | |")
        print(
            f"| plan() vs statement rows | {planning['reminders']:,} reminders, {planning['items']:,} items; "
            f"{planning['differ']} debtors differ | 0 | (debtor, send_on, send_at, step, items) |"
        )
    for key, label in (("dispatch", "dispatch rate"), ("memory", "long run")):
        run = figures.get(key)
        if not run:
            continue
        how = f"{args.workers} `rq worker --burst` x 1 dispatch_reminders job, aiosmtpd sink process"
        target = f">= {MAILS_PER_SECOND:.0f}/s" if key == "dispatch" else ""
        print(
            f"| {label}: {run['due']:,} due reminders | {run['rate']:.0f} mails/s first to last mail "
            f"({run['wall_rate']:.0f}/s incl. worker start) | {target} | {how} |"
        )
        once = run["once"] == run["due"] and not (run["duplicates"] or run["unexpected"] or run["multi_rows"])
        print(
            f"| {label}: exactly one mail per reminder | {'yes' if once else 'NO'}: {run['once']:,} of {run['due']:,}"
            f", {run['duplicates']} duplicates, {run['missing']} missing, {run['unexpected']} unexpected | all | "
            f"Message-ID counted at the sink |"
        )
        if "smtp_only" in run:
            print(
                f"| same {args.workers} processes with bare smtplib, {run['due']:,} mails | {run['smtp_only']:.0f} "
                f"mails/s | | one kept connection each, like dispatch: the ceiling SMTP alone sets on this machine |"
            )
        if "breakdown" in run:
            per = run["breakdown"]
            print(
                f"| dispatch() in-process, 1 process, {per['mails']} mails | {per['rate']:.0f} mails/s: "
                f"{per['ms']:.1f} ms a mail = SQL {per['sql_ms']:.1f} ({per['statements']:.0f} statements, "
                f"{per['commits']:.0f} commits) + SMTP {per['smtp_ms']:.1f} + rest {per['rest_ms']:.1f} | | "
                f"statement and SMTP calls timed |"
            )
        for n, memory in enumerate(run.get("memory", {}).values()):
            print(
                f"| work horse {n + 1} VmRSS first / 5 % / 50 % / end; peak | {memory['first'] / 1024:.1f} / "
                f"{memory['start'] / 1024:.1f} / {memory['middle'] / 1024:.1f} / {memory['end'] / 1024:.1f} MiB; "
                f"{memory['peak'] / 1024:.1f} MiB at {memory['peak_at']} | flat | /proc/<pid>/status VmRSS, "
                f"{memory['samples']} samples 1 s apart |"
            )
    print(f"\nwhole script: {seconds / 60:.1f} min; at the end {_load()}")


if __name__ == "__main__":
    main()
