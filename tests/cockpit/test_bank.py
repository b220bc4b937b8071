"""The cockpit's bank page: upload a statement, see what was booked, match or set aside what waits, download the
booked payments; a bad file is refused with the reason and nothing imported."""

import io
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.bank.generate import Credit, camt053
from portal.bank.models import BankTransaction
from portal.bank.service import run_statement
from tests.conftest import csrf_from
from tests.factories import make_debtor, make_invoice


@pytest.fixture(autouse=True)
def _quiet_progress(monkeypatch):
    """The progress bar's writer uses a connection of its own, which cannot see (and would wait on) the rows of a
    test's transaction; tests/e2e/test_bank.py watches it in a real worker."""
    monkeypatch.setattr("portal.imports.service.ProgressWriter.__call__", lambda self, done, total: None)


def _upload(client, content, name="statement.xml", db_session=None):
    """Upload as the supplier does, then run the worker's job for it (the tests have no worker)."""
    token = csrf_from(client.get("/cockpit/bank").text)
    response = client.post(
        "/cockpit/bank/statements",
        data={"csrf_token": token, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )
    if db_session is not None and response.status_code == 303 and "/statements/" in response.headers["Location"]:
        statement_id = int(response.headers["Location"].rsplit("/", 1)[1])
        assert "waiting for the worker" in client.get(response.headers["Location"]).text
        assert run_statement(db_session, statement_id) == "done"
        assert run_statement(db_session, statement_id) == "done"  # the job again: left alone
    return response


def test_upload_books_matches_and_the_supplier_works_the_queue(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org, name="Ann B.V.")
    paid = make_invoice(db_session, debtor, "121.00", number="A-1", days_overdue=5)
    other = make_invoice(db_session, debtor, "80.00", number="A-2", days_overdue=3)
    statement = camt053(
        "NL91ABNA0417164300",
        date(2026, 11, 20),
        [
            Credit(Decimal("121.00"), name="Ann", reference=paid.payment_reference),
            Credit(Decimal("80.00"), name="Ann", iban="NL02INGB0002447973", text="thank you"),  # the amount of A-2
            Credit(Decimal("5.00"), name="Bank", text="interest"),
        ],
    )

    response = _upload(client, statement, db_session=db_session)

    assert response.status_code == 303
    done = client.get(response.headers["Location"]).text
    assert "Read 3 transactions: 1 booked, 1 suggested, 1 unmatched" in done
    page = client.get("/cockpit/bank").text
    assert "A-2" in page
    db_session.refresh(paid)
    assert paid.status == "paid"
    suggested = db_session.scalar(select(BankTransaction).where(BankTransaction.status == "suggested"))
    detail = client.get(f"/cockpit/bank/transactions/{suggested.id}").text
    assert "A-2" in detail and "thank you" in detail
    matched = client.post(
        f"/cockpit/bank/transactions/{suggested.id}/match",
        data={"csrf_token": csrf_from(detail), "invoice_ids": [str(other.id)]},
    )
    assert matched.status_code == 303
    db_session.refresh(other)
    assert other.status == "paid"
    timeline = client.get(f"/cockpit/invoices/{other.id}").text
    assert "left open (bank: matched by hand: A-2)" in timeline
    stray = db_session.scalar(select(BankTransaction).where(BankTransaction.status == "unmatched"))
    set_aside = client.post(
        f"/cockpit/bank/transactions/{stray.id}/dismiss", data={"csrf_token": csrf_from(detail), "why": "interest"}
    )
    assert set_aside.status_code == 303
    assert "Nothing to match." in client.get("/cockpit/bank").text
    export = client.get("/cockpit/bank/export.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert '"A-1","principal",121.00' in export.text and '"A-2","principal",80.00' in export.text


def test_matching_twice_or_across_debtors_is_refused(client, db_session, org, signed_in):
    ann = make_debtor(db_session, org, name="Ann")
    bob = make_debtor(db_session, org, name="Bob")
    a = make_invoice(db_session, ann, "10.00", number="A-9")
    b = make_invoice(db_session, bob, "10.00", number="B-9")
    _upload(
        client,
        camt053("NL91ABNA0417164300", date(2026, 11, 20), [Credit(Decimal("20.00"), text="?")]),
        db_session=db_session,
    )
    tx = db_session.scalar(select(BankTransaction))
    token = csrf_from(client.get(f"/cockpit/bank/transactions/{tx.id}").text)
    both = client.post(
        f"/cockpit/bank/transactions/{tx.id}/match", data={"csrf_token": token, "invoice_ids": [str(a.id), str(b.id)]}
    )
    assert both.status_code == 422 and "one debtor" in both.text
    # The page shown again is the transaction's: the address bar says so (a reload of the form's action would fail).
    assert both.headers["HX-Push-Url"] == f"/cockpit/bank/transactions/{tx.id}"
    assert (
        client.post(
            f"/cockpit/bank/transactions/{tx.id}/match", data={"csrf_token": token, "invoice_ids": [str(a.id)]}
        ).status_code
        == 303
    )
    again = client.post(
        f"/cockpit/bank/transactions/{tx.id}/match", data={"csrf_token": token, "invoice_ids": [str(a.id)]}
    )
    assert again.status_code == 422 and "booked already" in again.text


def test_a_bad_file_is_refused_with_the_reason(client, db_session, org, signed_in):
    response = _upload(client, b":20:X\n:25:NL50RABO0123456789\n:61:26010XC12,00N122NONREF\n", "bad.sta")
    assert response.status_code == 303
    page = client.get("/cockpit/bank").text
    assert "bad.sta was not imported" in page and "line 3" in page
    assert db_session.scalar(select(func.count()).select_from(BankTransaction)) == 0


def test_viewers_cannot_import_or_match(client, db_session, auth, org):
    from tests.factories import make_user

    auth.login(make_user(db_session, org, role="viewer").email)
    assert client.get("/cockpit/bank").status_code == 200
    token = csrf_from(client.get("/cockpit/bank").text)
    response = client.post("/cockpit/bank/statements", data={"csrf_token": token})
    assert response.status_code == 403


def test_the_sample_statement_books_some_invoices_and_leaves_some_for_the_queue(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org, name="Sample Klant")
    for n in range(8):
        make_invoice(db_session, debtor, f"{100 + n}.00", number=f"S-{n}", days_overdue=10 - n)
    sample = client.get("/cockpit/bank/sample.xml")
    assert sample.status_code == 200 and b"camt.053.001.02" in sample.data

    _upload(client, sample.data, "sample.xml", db_session=db_session)

    counts = dict(
        db_session.execute(select(BankTransaction.status, func.count()).group_by(BankTransaction.status)).all()
    )
    # 8 invoices: 2 by reference, 2 by number, 2 in part (booked), 2 without a word (queue, same amount); 2 strangers.
    assert counts == {"booked": 6, "suggested": 2, "unmatched": 2, "ignored": 1}


def test_the_journal_balances_each_payment(client, db_session, org, signed_in):
    import csv

    debtor = make_debtor(db_session, org, name="Journal Klant", number="K-7")
    invoice = make_invoice(db_session, debtor, "100.00", number="J-1", days_overdue=3)
    _upload(
        client,
        camt053("NL91ABNA0417164300", date(2026, 11, 20), [Credit(Decimal("120.00"), text="J-1")]),
        db_session=db_session,
    )
    response = client.get("/cockpit/bank/journal.csv")
    rows = list(csv.DictReader(io.StringIO(response.text.removeprefix("\ufeff"))))
    assert [(r["account"], r["invoice"], r["debit"], r["credit"]) for r in rows] == [
        ("Bank", "", "120.00", ""),
        ("Debtors", "J-1", "", "100.00"),
        ("Debtors", "", "", "20.00"),
    ]
    assert {r["debtor number"] for r in rows} == {"K-7"}
    db_session.refresh(invoice)
    assert invoice.status == "paid"


def test_the_sample_pays_what_reminders_asked_and_what_it_paid_leaves_the_schedule(client, db_session, signed_in):
    """Under Dutch law a reminder added interest and costs: the sample statement pays each invoice its whole claim,
    those with a reminder on the schedule first, so after the import they are paid and off the schedule; a credit
    naming nothing is suggested for the invoice whose claim it equals, and its page says what that claim is."""
    from portal.law.charges import charges_for_step, record_charges
    from portal.ledger.service import ledger_discrepancies
    from portal.reminders.models import Reminder, ReminderItem
    from portal.reminders.planning import plan
    from portal.scenarios.models import Step

    org = signed_in.organisation
    org.law_business = "nl"
    debtor = make_debtor(db_session, org, name="Laat B.V.")
    invoices = [make_invoice(db_session, debtor, f"{1000 + n}.00", number=f"L-{n}", days_overdue=40) for n in range(4)]
    charges = charges_for_step(org, debtor, Step(adds_costs=True, adds_interest=True), invoices, org.today(), "email")
    record_charges(db_session, org.id, debtor.id, charges, invoices, reminder_id=0)
    for n in range(4):  # invoices not yet due: no reminder on the schedule, the sample leaves them for later
        make_invoice(db_session, debtor, "10.00", number=f"N-{n}", days_overdue=-20)
    today = org.today()
    plan(db_session, org.id, today=today, first=today)
    on_schedule = (
        select(func.count())
        .select_from(ReminderItem)
        .join(Reminder)
        .where(
            Reminder.status == "scheduled",
            ReminderItem.dropped == "",
            ReminderItem.invoice_id.in_([i.id for i in invoices]),
        )
    )
    assert db_session.scalar(on_schedule) >= 1

    _upload(client, client.get("/cockpit/bank/sample.xml").data, "sample.xml", db_session=db_session)

    db_session.expire_all()
    status = {i.number: (i.status, i.open_amount) for i in invoices}
    # L-0 by reference, L-1 by number: paid in full, costs and interest included; L-2 half; L-3 "Betaling".
    assert status["L-0"][0] == "paid" and status["L-1"][0] == "paid", status
    assert status["L-2"][0] == "open" and status["L-3"][0] == "open"
    suggested = db_session.scalar(
        select(BankTransaction).where(BankTransaction.name == "Laat B.V.", BankTransaction.status == "suggested")
    )
    assert suggested is not None and suggested.candidates[:1] == [invoices[3].id]
    page = client.get(f"/cockpit/bank/transactions/{suggested.id}").text
    assert (
        "Due now" in page and f"{suggested.amount:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".") in page
    )
    assert "principal" in page
    plan(db_session, org.id, today=today, first=today)
    paid_ids = [i.id for i in invoices if i.status == "paid"]
    assert db_session.scalar(on_schedule.where(ReminderItem.invoice_id.in_(paid_ids))) == 0
    assert ledger_discrepancies(db_session, org.id) == []
