"""Importing a bank statement: each transaction known once, matched in order of certainty, booked or queued.

Matching, most certain first: a structured payment reference names an invoice; invoice numbers in the free text
(several in one payment allowed); a debtor's known account and an amount equal to one open invoice or to its oldest
open invoices together. What is certain is booked through the ledger (partial payments leave the rest open, an
overpayment stays as the debtor's credit); the rest is a suggestion with candidates, or unmatched, for the
reconciliation queue. Returns reverse the payment they took back. The whole statement is one transaction: a file
that cannot be read, or a failure half-way, leaves nothing behind.
"""

import functools
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select, update
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from portal import bulk, events
from portal.bank.models import BankStatement, BankTransaction, DebtorAccount
from portal.bank.parse import Entry, Statement, StatementError, parse
from portal.errors import DomainError
from portal.events import EventKind
from portal.imports.service import ProgressWriter
from portal.invoices.models import Invoice
from portal.invoices.references import is_valid_betalingskenmerk, normalise
from portal.jobs import enqueue_after_commit
from portal.ledger import batch
from portal.ledger import service as ledger
from portal.ledger.claims import has_charges
from portal.ledger.models import Payment
from portal.ledger.service import LedgerError
from portal.money import ZERO
from portal.types import utcnow

SUMMARY_KEYS = ("booked", "suggested", "unmatched", "returned", "ignored")
PROGRESS_EVERY = 500  # transactions between progress reports
JOB = "workers.jobs.run_statement"
MAX_CANDIDATES = 5
CHARGED_LOOKED_AT = 500  # charged invoices whose claims a statement's same-amount suggestions work out
_RF = re.compile(r"\bRF\d{2}[0-9A-Z]{1,21}\b", re.IGNORECASE)
_KENMERK = re.compile(r"(?<!\d)\d{16}(?!\d)")
_TOKEN = re.compile(r"[0-9A-Za-z][0-9A-Za-z./_-]*[0-9A-Za-z]|[0-9A-Za-z]")


@dataclass
class Summary:
    statement_id: int
    entries: int = 0
    known: int = 0
    counts: Counter = field(default_factory=Counter)

    def line(self) -> str:
        return f"entries={self.entries} " + " ".join(f"{key}={self.counts[key]}" for key in SUMMARY_KEYS)


def dedup_keys(statement: Statement) -> list[str]:
    """A key per transaction: account, booking date, direction, amount, the bank's reference or a hash of the details,
    and its place among equal ones (statement numbers repeat in real files, so they are not part of it)."""
    seen: Counter = Counter()
    keys = []
    for entry in statement.entries:
        base = "|".join(
            [
                statement.account,
                entry.booking_date.isoformat(),
                "C" if entry.credit else "D",
                f"{entry.amount}{entry.currency}",
                entry.bank_reference or entry.details_hash(),
            ]
        )
        seen[base] += 1
        keys.append(hashlib.sha256(f"{base}|{seen[base]}".encode()).hexdigest())
    return keys


@bulk.collector_paused()
def import_statement(
    session: Session,
    organisation_id: int,
    content: bytes,
    *,
    filename: str = "",
    actor_user_id: int | None = None,
    record: BankStatement | None = None,
    progress=None,
) -> Summary:
    """Read, match and book a statement. Raises StatementError (nothing stored) for a file that cannot be read.
    ``record``: the uploaded statement's row (else one is made); ``progress(done, total)`` is told how far the
    matching has come. The caller commits."""
    statement = parse(content)
    keys = dedup_keys(statement)
    known = _known_keys(session, organisation_id, keys)
    record = _statement_record(session, organisation_id, statement, record, filename, actor_user_id)
    summary = Summary(statement_id=record.id, entries=len(statement.entries))
    fresh = [(entry, key) for entry, key in zip(statement.entries, keys, strict=True) if key not in known]
    summary.known = len(statement.entries) - len(fresh)
    matcher = Matcher(session, organisation_id, [entry for entry, _ in fresh])
    row = functools.partial(_transaction_row, organisation_id, record.id, statement.account)
    sorting = _sort(session, matcher, fresh, row, summary, progress)
    _suggest_same_amounts(matcher, sorting, summary)
    _write(session, organisation_id, sorting, actor_user_id)
    _take_back_returns(session, sorting.returns, summary)
    if progress is not None:
        progress(len(fresh), len(fresh))
    record.counts = {"entries": summary.entries, "known": summary.known, **{k: summary.counts[k] for k in SUMMARY_KEYS}}
    events.record(
        session,
        organisation_id,
        EventKind.BANK_STATEMENT_IMPORTED,
        actor_user_id=actor_user_id,
        statement=record.id,
        filename=record.filename,
        **record.counts,
    )
    return summary


def _known_keys(session: Session, organisation_id: int, keys: list[str]) -> set[str]:
    """The keys of transactions an earlier statement brought in already: those are never booked twice."""
    known = set()
    for among in bulk.among(session, BankTransaction.dedup_key, keys):
        known.update(
            session.scalars(
                select(BankTransaction.dedup_key).where(BankTransaction.organisation_id == organisation_id, among)
            )
        )
    return known


def _statement_record(
    session: Session,
    organisation_id: int,
    statement: Statement,
    record: BankStatement | None,
    filename: str,
    actor_user_id: int | None,
) -> BankStatement:
    """The statement's row (the uploaded one, else a new one) with what the file says of itself, flushed: its
    transactions need its id."""
    if record is None:
        record = BankStatement(
            organisation_id=organisation_id, filename=filename[:255], created_by_user_id=actor_user_id
        )
        session.add(record)
    record.format, record.account = statement.format, statement.account[:40]
    record.statement_ref = statement.statement_id[:100]
    session.flush()
    return record


def _transaction_row(organisation_id: int, statement_id: int, account: str, entry: Entry, key: str) -> dict:
    """A transaction's row as it would be stored unmatched; matching fills in the rest."""
    return {
        "organisation_id": organisation_id,
        "statement_id": statement_id,
        "dedup_key": key,
        "account": account[:40],
        "booking_date": entry.booking_date,
        "amount": entry.amount,
        "currency": entry.currency,
        "credit": entry.credit,
        "is_return": entry.is_return,
        "return_reason": entry.return_reason[:40],
        "name": entry.name[:200],
        "iban": normalise(entry.iban)[:40],
        "reference": normalise(entry.reference)[:40],
        "end_to_end": entry.end_to_end[:100],
        "remittance": entry.remittance[:500],
        "bank_reference": entry.bank_reference[:100],
        "status": "unmatched",
        "how": "",
        "candidates": [],
        "payment_id": None,
        "debtor_id": None,
    }


@dataclass
class _Sorting:
    """A statement's new transactions as matching sorted them, before any is written."""

    rows: list[dict] = field(default_factory=list)  # all but the returns, in the file's order
    bookings: list[tuple[dict, batch.NewPayment]] = field(default_factory=list)
    returns: list[dict] = field(default_factory=list)
    by_amount: list[tuple[dict, Entry]] = field(default_factory=list)  # naming nothing we know
    remaining: dict[int, Decimal] = field(default_factory=dict)  # what an invoice has open after earlier credits


def _sort(session: Session, matcher: "Matcher", fresh: list, row, summary: Summary, progress) -> _Sorting:
    """Each new transaction matched in the file's order, so that an invoice two credits pay is paid by the first.
    ``row(entry, key)``: its row, unmatched."""
    sorting = _Sorting()
    for done, (entry, key) in enumerate(fresh):
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done, len(fresh))
        values = row(entry, key)
        if entry.is_return:
            sorting.returns.append(values)  # after the others: it may take back a payment booked above
            continue
        sorting.rows.append(values)
        if not entry.credit:
            values.update(status="ignored", how="money going out")
        else:
            _match_credit(session, matcher, entry, values, sorting)
        summary.counts[values["status"]] += 1
    return sorting


def _match_credit(session: Session, matcher: "Matcher", entry: Entry, values: dict, sorting: _Sorting) -> None:
    """A credit booked when the match is certain, else suggested (with candidates) or left unmatched."""
    found = matcher.match(entry)
    if found.certain:
        payment = _new_payment(session, found, entry, sorting.remaining)
        values.update(status="booked", how=found.how[:200], debtor_id=payment.debtor_id)
        sorting.bookings.append((values, payment))
        return
    if found.by_amount:
        sorting.by_amount.append((values, entry))
    candidates = [i.id for i in found.invoices[:MAX_CANDIDATES]]
    values.update(
        status="suggested" if candidates else "unmatched",
        how=found.how[:200],
        candidates=candidates,
        debtor_id=found.debtor_id,
    )


def _new_payment(session: Session, found: "Found", entry: Entry, remaining: dict[int, Decimal]) -> batch.NewPayment:
    """The payment a certain match books: its invoices paid in order, each as far as it is still open after the
    statement's earlier credits; what is left is the debtor's credit."""
    allocations, left = [], entry.amount
    due = _due(session, found.invoices, entry.booking_date)
    for invoice in found.invoices:
        open_now = remaining.get(invoice.id, due[invoice.id])
        part = min(left, open_now)
        if part > ZERO:
            allocations.append((invoice.id, part))
            remaining[invoice.id] = open_now - part
            left -= part
    reference = entry.reference or entry.end_to_end or entry.bank_reference or entry.remittance
    return batch.NewPayment(
        found.invoices[0].debtor_id,
        entry.amount,
        entry.currency,
        entry.booking_date,
        reference[:100],
        allocations,
        how=f"bank: {found.how}",
    )


def _suggest_same_amounts(matcher: "Matcher", sorting: _Sorting, summary: Summary) -> None:
    """Credits that name nothing we know: open invoices of exactly their amount, looked up together (not those this
    statement pays)."""
    candidates = matcher.of_amounts(
        {(entry.amount, entry.currency) for _, entry in sorting.by_amount},
        max((entry.booking_date for _, entry in sorting.by_amount), default=None),
    )
    for values, entry in sorting.by_amount:
        found = [i for i in candidates.get((entry.amount, entry.currency), []) if i not in sorting.remaining]
        if found:
            summary.counts[values["status"]] -= 1
            values.update(status="suggested", how="same amount", candidates=found[:MAX_CANDIDATES])
            summary.counts["suggested"] += 1


def _write(session: Session, organisation_id: int, sorting: _Sorting, actor_user_id: int | None) -> None:
    """The certain matches booked in one go, then every transaction but the returns stored, then the accounts the
    booked credits came from remembered for their debtors."""
    payment_ids = batch.record_payments(
        session, organisation_id, [p for _, p in sorting.bookings], method="bank", actor_user_id=actor_user_id
    )
    for (values, _), payment_id in zip(sorting.bookings, payment_ids, strict=True):
        values["payment_id"] = payment_id
    now = utcnow()
    bulk.insert_rows(session, BankTransaction.__table__, [{**row, "created_at": now} for row in sorting.rows])
    _learn_accounts(session, organisation_id, {v["iban"]: v["debtor_id"] for v, _ in sorting.bookings if v["iban"]})


def _take_back_returns(session: Session, returns: list[dict], summary: Summary) -> None:
    """Returns one by one, after the credits: a return may take back a payment this statement booked."""
    for values in returns:
        tx = BankTransaction(**values)
        session.add(tx)
        session.flush()
        _return(session, tx)
        # Counted as what it became: returned (a payment taken back), or unmatched (waiting to be set aside).
        summary.counts[tx.status] += 1
    session.flush()


@dataclass
class Found:
    invoices: list  # rows of MATCH_COLUMNS
    certain: bool
    how: str
    debtor_id: int | None = None
    by_amount: bool = False  # nothing known: look for open invoices of the same amount


def _due(session: Session, invoices: list, on) -> dict[int, Decimal]:
    """What each invoice (an Invoice or a row of MATCH_COLUMNS) takes of a credit: its principal, or with costs or
    interest, its whole claim (those few are worked out by the ledger, on the invoices themselves; the rest is read
    off the row)."""
    if any(has_charges(i) for i in invoices):
        return ledger.due_now(session, [session.get(Invoice, i.id) for i in invoices], on)
    return {i.id: i.open_amount if i.status == "open" else ZERO for i in invoices}


# What matching and booking read of an invoice. The matcher holds thousands: rows, at a fraction of the cost of ORM
# objects (and of the garbage collector's passes over them).
MATCH_COLUMNS = (
    Invoice.id,
    Invoice.debtor_id,
    Invoice.number,
    Invoice.payment_reference,
    Invoice.currency,
    Invoice.issue_date,
    Invoice.due_date,
    Invoice.open_amount,
    Invoice.status,
    Invoice.costs_charged,
    Invoice.interest_from,
)


class Matcher:
    """Matches a statement's credits against the organisation's open invoices, looked up in a few queries for the
    whole statement rather than a few per transaction."""

    def __init__(self, session: Session, organisation_id: int, entries: list[Entry]):
        self.session, self.organisation_id = session, organisation_id
        references, tokens, ibans = set(), set(), set()
        self._found_in: dict[int, tuple[set[str], set[str]]] = {}  # per entry: its references and tokens, once
        for entry in entries:
            if not entry.credit or entry.is_return:
                continue
            found = self._found_in[id(entry)] = (self._references(entry), self._tokens(entry))
            references.update(found[0])
            tokens.update(found[1])
            if entry.iban:
                ibans.add(normalise(entry.iban))
        self.open_ones = (
            Invoice.organisation_id == organisation_id,
            Invoice.kind == "invoice",
            Invoice.status == "open",
        )
        base = select(*MATCH_COLUMNS).where(*self.open_ones)
        self.by_reference: dict[str, object] = {}
        for among in bulk.among(session, Invoice.payment_reference, sorted(references)):
            for invoice in session.execute(base.where(among)):
                self.by_reference[normalise(invoice.payment_reference)] = invoice
        self.by_number: dict[str, object] = {}
        for among in bulk.among(session, Invoice.number, sorted(tokens)):
            for invoice in session.execute(base.where(among)):
                self.by_number[invoice.number] = invoice
        self.debtor_by_iban: dict[str, int] = {}
        for among in bulk.among(session, DebtorAccount.iban, sorted(ibans)):
            for iban, debtor_id in session.execute(
                select(DebtorAccount.iban, DebtorAccount.debtor_id).where(
                    DebtorAccount.organisation_id == organisation_id, among
                )
            ):
                self.debtor_by_iban[iban] = debtor_id
        self.base = base

    @staticmethod
    def _references(entry: Entry) -> set[str]:
        """Structured references in a transaction: the structured field itself, and RF or 16-digit references in its
        texts, each word on its own (a text may name several, as the QR code's does for several invoices) and the
        whole text without spaces when it is short enough to be one reference written in groups."""
        found = set()
        if entry.reference:
            found.add(normalise(entry.reference))
        for text in (entry.end_to_end, entry.remittance):
            if not text:
                continue
            pieces = [p for p in re.split(r"[\s,;/]+", text) if p]
            compact = normalise(text)
            if len(compact) <= 25:
                pieces.append(compact)
            for piece in pieces:
                piece = piece.upper()
                found.update(_RF.findall(piece))
                found.update(m for m in _KENMERK.findall(piece) if is_valid_betalingskenmerk(m))
        return found

    @staticmethod
    def _tokens(entry: Entry) -> set[str]:
        tokens = set()
        for text in (entry.remittance, entry.end_to_end):
            for token in _TOKEN.findall(text or ""):
                tokens.add(token)
                tokens.update(part for part in re.split(r"[./_]", token) if part)
                tokens.update(re.findall(r"\d[\d-]*\d", token))
        return {t for t in tokens if len(t) >= 3 and len(t) <= 50}

    def match(self, entry: Entry) -> Found:
        entry_references, entry_tokens = self._found_in.get(id(entry)) or (
            self._references(entry),
            self._tokens(entry),
        )
        # 1. Structured references: the invoices they name (one debtor's, in the payment's currency).
        named = {
            self.by_reference[r].id: self.by_reference[r]
            for r in sorted(entry_references)
            if r in self.by_reference
            and self.by_reference[r].currency == entry.currency
            and self.by_reference[r].status == "open"
        }
        if named and len({i.debtor_id for i in named.values()}) == 1:
            by_due = sorted(named.values(), key=lambda i: (i.due_date or i.issue_date, i.id))
            return Found(by_due, True, "payment reference " + ", ".join(i.payment_reference for i in by_due))
        # 2. Our invoice numbers in the free text, one debtor's, in one currency.
        numbered = {self.by_number[t].id: self.by_number[t] for t in entry_tokens if t in self.by_number}
        invoices = [i for i in numbered.values() if i.status == "open" and i.currency == entry.currency]
        if invoices and len({i.debtor_id for i in invoices}) == 1:
            invoices.sort(key=lambda i: (i.due_date or i.issue_date, i.id))
            return Found(invoices, True, "invoice number " + ", ".join(i.number for i in invoices))
        # 3. A known account of a debtor, and the amount of one open invoice or of its oldest ones together.
        debtor_id = self.debtor_by_iban.get(normalise(entry.iban)) if entry.iban else None
        if debtor_id is not None:
            open_ones = self.session.execute(
                self.base.where(Invoice.debtor_id == debtor_id, Invoice.currency == entry.currency).order_by(
                    Invoice.due_date, Invoice.id
                )
            ).all()
            # What each would take: its whole claim where costs or interest were added (what the reminder asked).
            due = _due(self.session, open_ones, entry.booking_date) if open_ones else {}
            exact = [i for i in open_ones if due[i.id] == entry.amount]
            if exact:
                return Found(exact[:1], True, f"known account {entry.iban} and the amount of {exact[0].number}")
            running = ZERO
            for n, invoice in enumerate(open_ones, 1):
                running += due[invoice.id]
                if running == entry.amount and n > 1:
                    return Found(open_ones[:n], True, f"known account {entry.iban} and {n} invoices together")
                if running > entry.amount:
                    break
            return Found(open_ones, False, f"known account {entry.iban}, no amount matches", debtor_id)
        # 4. A suggestion: the invoices its text names across debtors, else (later, for all such credits in one
        # query) open invoices of exactly its amount.
        if invoices:
            return Found(invoices, False, "invoice numbers of several debtors")
        return Found([], False, "", by_amount=True)

    def of_amounts(self, wanted: set[tuple[Decimal, str]], on=None) -> dict[tuple[Decimal, str], list[int]]:
        """Ids of open invoices by (amount, currency), oldest due first, at most MAX_CANDIDATES each (counted by the
        database: a common amount has hundreds). An invoice with interest or costs is also found by its whole
        claim on ``on`` (what its reminder asked)."""
        found: dict[tuple[Decimal, str], list[int]] = {}
        if not wanted:
            return found
        amounts = sorted({amount for amount, _ in wanted})
        for among in bulk.among(self.session, Invoice.open_amount, amounts):
            order = func.row_number().over(
                partition_by=(Invoice.open_amount, Invoice.currency), order_by=(Invoice.due_date, Invoice.id)
            )
            ranked = (
                select(Invoice.id, Invoice.open_amount, Invoice.currency, order.label("place"))
                .where(*self.open_ones, among)
                .subquery()
            )
            for invoice_id, amount, currency in self.session.execute(
                select(ranked.c.id, ranked.c.open_amount, ranked.c.currency)
                .where(ranked.c.place <= MAX_CANDIDATES)
                .order_by(ranked.c.open_amount, ranked.c.currency, ranked.c.place)
            ):
                if (amount, currency) in wanted:
                    found.setdefault((amount, currency), []).append(invoice_id)
        if on is not None:
            # Claims are worked out in Python, a few at a time: only charged invoices below the largest amount,
            # the oldest first, as many as a reconciliation could ever want to look at.
            charged = self.session.scalars(
                select(Invoice)
                .where(
                    *self.open_ones,
                    (Invoice.costs_charged > ZERO) | Invoice.interest_from.isnot(None),
                    Invoice.open_amount < max(amount for amount, _ in wanted),
                )
                .order_by(Invoice.due_date, Invoice.id)
                .limit(CHARGED_LOOKED_AT)
            ).all()
            due = ledger.due_now(self.session, list(charged), on) if charged else {}
            for invoice in charged:
                key = (due[invoice.id], invoice.currency)
                if key in wanted and len(found.get(key, [])) < MAX_CANDIDATES and invoice.id not in found.get(key, []):
                    found.setdefault(key, []).append(invoice.id)
        return found


def book(
    session: Session, tx: BankTransaction, invoices: list[Invoice], *, how: str, actor_user_id: int | None = None
) -> Payment:
    """Book a bank credit on these invoices (one debtor's), in order, as far as each is open; the rest is the
    debtor's credit. The account it came from is remembered for the debtor."""
    debtor_id = invoices[0].debtor_id
    left, allocations = tx.amount, []
    due = _due(session, invoices, tx.booking_date)
    for invoice in invoices:
        part = min(left, due[invoice.id])
        if part > ZERO:
            allocations.append((invoice.id, part))
            left -= part
    payment = ledger.record_payment(
        session,
        tx.organisation_id,
        debtor_id,
        tx.amount,
        tx.currency,
        tx.booking_date,
        method="bank",
        reference=(tx.reference or tx.end_to_end or tx.bank_reference or tx.remittance)[:100],
        allocations=allocations,
        actor_user_id=actor_user_id,
        how=f"bank: {how}",
    )
    tx.payment_id, tx.debtor_id, tx.status, tx.how, tx.candidates = payment.id, debtor_id, "booked", how[:200], []
    if tx.iban:
        _learn_accounts(session, tx.organisation_id, {tx.iban: debtor_id})
    return payment


def _learn_accounts(session: Session, organisation_id: int, accounts: dict[str, int]) -> None:
    """Remember the accounts debtors paid from (the first debtor seen with an account keeps it)."""
    known = set()
    for among in bulk.among(session, DebtorAccount.iban, sorted(accounts)):
        known.update(
            session.scalars(select(DebtorAccount.iban).where(DebtorAccount.organisation_id == organisation_id, among))
        )
    new = [
        {"organisation_id": organisation_id, "debtor_id": debtor_id, "iban": iban}
        for iban, debtor_id in accounts.items()
        if iban not in known
    ]
    if new:
        now = utcnow()
        session.execute(insert(DebtorAccount.__table__), [{**row, "created_at": now} for row in new])


def _return(session: Session, tx: BankTransaction) -> None:
    """A returned or reversed transfer takes back the booked bank payment it returns: the same end-to-end id, else
    the same account and amount; that much of the payment is reversed, reopening what it had paid."""
    original = None
    candidates = select(BankTransaction).where(
        BankTransaction.organisation_id == tx.organisation_id,
        BankTransaction.status == "booked",
        BankTransaction.credit.is_(True),
        BankTransaction.payment_id.isnot(None),
    )
    if tx.end_to_end:
        original = session.scalar(candidates.where(BankTransaction.end_to_end == tx.end_to_end).limit(1))
    if original is None and tx.iban:
        original = session.scalar(
            candidates.where(BankTransaction.iban == tx.iban, BankTransaction.amount == tx.amount)
            .order_by(BankTransaction.booking_date.desc(), BankTransaction.id.desc())
            .limit(1)
        )
    payment = session.get(Payment, original.payment_id) if original is not None else None
    if payment is None or payment.amount - payment.reversed_amount < tx.amount:
        tx.status, tx.how = "unmatched", "a return, but no booked payment of ours to take back"
        return
    why = f"returned by the bank{f' ({tx.return_reason})' if tx.return_reason not in ('', 'reversal') else ''}"
    ledger.reverse_payment(session, payment.id, tx.amount, why=why)
    tx.status, tx.reversed_payment_id, tx.debtor_id, tx.how = "returned", payment.id, payment.debtor_id, why


class MatchError(DomainError):
    """The supplier's match cannot be made; the message says why."""


def match_by_hand(
    session: Session, organisation_id: int, transaction_id: int, invoice_ids: list[int], *, actor_user_id: int
) -> Payment:
    """The supplier books a queued credit on one or more invoices of one debtor (in the order of their due dates)."""
    tx = _queued(session, organisation_id, transaction_id)
    invoices = session.scalars(
        select(Invoice)
        .where(Invoice.id.in_(invoice_ids), Invoice.organisation_id == organisation_id, Invoice.kind == "invoice")
        .order_by(Invoice.due_date, Invoice.id)
    ).all()
    if not invoices or len(invoices) != len(set(invoice_ids)):
        raise MatchError("Choose one or more open invoices.")
    if len({i.debtor_id for i in invoices}) > 1:
        raise MatchError("One payment pays one debtor's invoices: choose invoices of one debtor.")
    if any(i.currency != tx.currency for i in invoices):
        raise MatchError(f"The payment is in {tx.currency}; choose invoices in {tx.currency}.")
    if all(i.status != "open" for i in invoices):
        raise MatchError("These invoices are paid already.")
    numbers = ", ".join(i.number for i in invoices)
    return book(session, tx, list(invoices), how=f"matched by hand: {numbers}", actor_user_id=actor_user_id)


def dismiss(session: Session, organisation_id: int, transaction_id: int, *, actor_user_id: int, why: str = "") -> None:
    """Not a customer payment (a refund from a supplier, a transfer between own accounts): out of the queue."""
    tx = _queued(session, organisation_id, transaction_id, returns=True)
    tx.status, tx.how = "dismissed", ("not a customer payment" + (f": {why.strip()}" if why.strip() else ""))[:200]
    events.record(
        session,
        organisation_id,
        EventKind.BANK_TRANSACTION_DISMISSED,
        actor_user_id=actor_user_id,
        amount=tx.amount,
        currency=tx.currency,
        name=tx.name,
        why=why.strip()[:200],
    )


def _queued(session: Session, organisation_id: int, transaction_id: int, *, returns: bool = False) -> BankTransaction:
    """A transaction waiting in the queue: a credit to match, or (``returns``) also a return that found no payment
    of ours to take back, which can only be set aside."""
    tx = session.get(BankTransaction, transaction_id, with_for_update=True)
    if tx is None or tx.organisation_id != organisation_id:
        raise LookupError(transaction_id)
    if tx.status not in ("suggested", "unmatched"):
        raise MatchError(f"This transaction is {tx.status} already.")
    if tx.is_return and not returns:
        raise MatchError("Money that went back is not a payment to book on invoices; set it aside.")
    return tx


def queue_statement(
    session: Session, organisation_id: int, content: bytes, *, filename: str, actor_user_id: int | None
) -> BankStatement:
    """An uploaded statement: read now (a file that cannot be read is refused at once, with where), imported by the
    worker after the commit."""
    statement = parse(content)
    record = BankStatement(
        organisation_id=organisation_id,
        filename=filename[:255],
        format=statement.format,
        account=statement.account[:40],
        statement_ref=statement.statement_id[:100],
        status="queued",
        content=content,
        rows_total=len(statement.entries),
        created_by_user_id=actor_user_id,
    )
    session.add(record)
    session.flush()
    enqueue_after_commit(session, JOB, record.id)
    return record


def run_statement(session: Session, statement_id: int) -> str:
    """Import a queued statement, all or nothing; safe to run again (a statement not queued is left alone).
    Commits: the claim; then the import with "done", or after its rollback "failed" with the reason."""
    claimed = session.execute(
        update(BankStatement)
        .where(BankStatement.id == statement_id, BankStatement.status == "queued")
        .values(status="running", started_at=utcnow(), rows_done=0)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    record = session.get(BankStatement, statement_id, populate_existing=True)
    if not claimed:
        return record.status if record else "missing"
    if session.get_bind().dialect.name == "postgresql":
        # One import at a time per organisation (as invoice imports): the same invoices and summary rows.
        session.execute(sql("SELECT pg_advisory_xact_lock(4242, :org)"), {"org": record.organisation_id})
    try:
        summary = import_statement(
            session,
            record.organisation_id,
            record.content,
            filename=record.filename,
            actor_user_id=record.created_by_user_id,
            record=record,
            progress=ProgressWriter(session, statement_id, BankStatement),
        )
    except (StatementError, LedgerError) as exc:
        session.rollback()
        record = session.get(BankStatement, statement_id, populate_existing=True)
        record.status, record.error, record.content = "failed", str(exc)[:500], None
        session.commit()
        return "failed"
    record.status, record.content, record.rows_done = "done", None, summary.entries
    enqueue_after_commit(session, "workers.jobs.plan_organisation", record.organisation_id)
    session.commit()
    return "done"


def sweep(session: Session, now=None) -> list[int]:
    """Statements whose doorbell Redis lost (queued for over a minute): to enqueue again. A run that has been
    going for 30 minutes has lost its worker: failed, nothing of it was kept (one transaction)."""
    now = now or utcnow()
    session.execute(
        update(BankStatement)
        .where(BankStatement.status == "running", BankStatement.started_at < now - timedelta(minutes=30))
        .values(status="failed", error="the worker stopped during the import; nothing was booked: upload it again")
        .execution_options(synchronize_session=False)
    )
    due = list(
        session.scalars(
            select(BankStatement.id).where(
                BankStatement.status == "queued", BankStatement.created_at < now - timedelta(minutes=1)
            )
        )
    )
    session.commit()
    return due
