"""Demo data: "Demo B.V." with ~40 debtors of good, average and poor payment behaviour over 18 months."""

import random
import secrets
import string
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from portal import events
from portal.arrangements import service as arrangements
from portal.debtors.models import Debtor
from portal.debtors.service import create_debtor
from portal.disputes import service as disputes
from portal.errors import DomainError
from portal.events import Event, EventKind
from portal.invoices.models import Invoice
from portal.law.charges import charges_for_step, record_charges, step_flags
from portal.ledger.invoices import create_invoice
from portal.ledger.models import Payment
from portal.ledger.service import allocate_credit_note, open_invoices, record_payment
from portal.organisations.calendar import send_days
from portal.organisations.models import Organisation, User
from portal.promises import service as promises
from portal.reminders.behaviour import effective_scenario, evaluate
from portal.reminders.models import Reminder, ReminderItem
from portal.scenarios.defaults import ensure_default_scenarios
from portal.scenarios.models import Step

DEMO_SLUG = "demo"
DEMO_LOGIN = ("demo@duly.test", "demo")

_COMPANIES = [
    "Bakkerij De Gouden Korst",
    "Hoveniersbedrijf Groen & Zo",
    "Installatietechniek Van Dijk",
    "Café Het Hoekje",
    "Drukkerij Letterzetter",
    "Fietsenmaker Snelwiel",
    "Schildersbedrijf Kleurrijk",
    "Transport Jansen & Zn.",
    "Architectenbureau Lijnspel",
    "Tandartspraktijk Witte Lach",
    "Restaurant De Smulpot",
    "Bouwbedrijf Stevig",
    "Kapsalon Knip & Krul",
    "Autobedrijf Vermeulen",
    "Bloemenhuis Fleur",
    "Slagerij Van der Berg",
    "Accountantskantoor Cijfer",
    "Zeilmakerij De Wind",
    "IT Beheer Noord",
    "Koffiebranderij Bonen",
    "Schoonmaakbedrijf Glans",
    "Elektro Visser",
    "Dierenkliniek Poot",
    "Bureau Vertaalwerk",
    "Loodgieter Lek-Vrij",
    "Meubelmakerij Eik",
    "Sportschool Fit",
    "Wijnhandel Druif",
    "Catering Smaakvol",
    "Glaszetter Helder",
    "Brouwerij Hop",
    "Fotostudio Flits",
    "Reisbureau Verweg",
    "Makelaardij Dak",
    "Boekhandel Bladzijde",
    "Kinderopvang Zonnetje",
    "Verhuisbedrijf Kist",
    "Advocatenkantoor Recht",
    "Ingenieursbureau Brug",
    "Tuincentrum Blad",
]
_CONSUMERS = ["J. de Vries", "M. Bakker", "A. Smit"]

# (share of debtors, days paid after the due date (min, max), chance an invoice is still unpaid)
PROFILES = {
    "good": (0.4, (-7, 3), 0.0),
    "average": (0.35, (2, 30), 0.05),
    "poor": (0.25, (20, 95), 0.25),
}


def seed_demo(session: Session, *, seed: int = 2026) -> Organisation:
    """Create the demo organisation; does nothing if it exists already."""
    existing = session.scalar(select(Organisation).where(Organisation.slug == DEMO_SLUG))
    if existing is not None:
        return existing
    rng = random.Random(seed)
    organisation = Organisation(
        slug=DEMO_SLUG,
        name="Demo B.V.",
        timezone="Europe/Amsterdam",
        locale="nl",
        home_currency="EUR",
        sender_name="Demo B.V. Debiteurenbeheer",
        sender_email="debiteuren@demo-bv.example",  # .test is a reserved name the settings form (rightly) refuses
        iban="NL91ABNA0417164300",
        bic="ABNANL2A",
        reference_scheme="nl",
        # Dutch law for both kinds of debtor: WIK costs and statutory interest from the final notice, a consumer's
        # 14-day letter first (portal.law).
        law_business="nl",
        law_consumer="nl",
        # A Mollie test key of its own: `make demo` points Duly at the bundled simulator, which takes any
        # well-formed key; in production each supplier enters its own key under Settings.
        mollie_api_key="test_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(30)),
    )
    session.add(organisation)
    session.flush()
    ensure_default_scenarios(session, organisation.id)
    session.add(
        User(
            organisation_id=organisation.id,
            email=DEMO_LOGIN[0],
            name="Demo Owner",
            role="owner",
            # The demo's short password is set directly: sign-up would (rightly) refuse it.
            password_hash=generate_password_hash(DEMO_LOGIN[1]),
        )
    )
    today = organisation.today()
    start = today - timedelta(days=548)
    names = [(n, "business") for n in _COMPANIES] + [(n, "consumer") for n in _CONSUMERS]
    invoice_no = 2025000
    for index, (name, kind) in enumerate(names):
        profile = _profile_for(index, len(names))
        debtor = create_debtor(
            session,
            organisation.id,
            name=name,
            number=f"D{1001 + index}",
            kind=kind,
            language="en" if index % 7 == 3 else "nl",
            email=f"administratie@{_domain(name)}",
            city=rng.choice(["Amsterdam", "Utrecht", "Rotterdam", "Zwolle", "Groningen", "Eindhoven"]),
            contacts=[
                {
                    "role": "dunning",
                    "name": "Crediteurenadministratie",
                    "email": f"crediteuren@{_domain(name)}",
                }
            ]
            if index % 3 == 0
            else [],
        )
        issue = start + timedelta(days=rng.randint(0, 25))
        while issue <= today - timedelta(days=2):
            invoice_no += 1
            terms = rng.choice([14, 30, 30, 30])
            due = issue + timedelta(days=terms)
            total = Decimal(rng.randint(8_000, 450_000)) / 100
            invoice = create_invoice(
                session,
                organisation.id,
                debtor.id,
                number=str(invoice_no),
                issue_date=issue,
                due_date=due,
                total=total,
                source="demo",
            )
            _pay(session, rng, organisation.id, debtor.id, invoice, profile, today)
            issue += timedelta(days=rng.randint(18, 45))
        if index % 11 == 5:
            _credit_note(session, rng, organisation.id, debtor.id, today)
    _backdate_events(session, organisation, start)
    _reminder_history(session, rng, organisation, today)
    _self_service_history(session, organisation, today)
    _arrangement_history(session, organisation, today)
    _law_history(session, organisation, today)
    return organisation


def _law_history(session: Session, organisation: Organisation, today: date) -> None:
    """The late-payment law at work, whatever the history above happened to claim: a business debtor with costs
    and interest claimed who has paid part since (split over costs, interest and principal), and a consumer whose
    14-day letter's period is still running, so costs are announced, not owed."""

    def oldest(kind: str, *where):
        return session.scalar(
            select(Invoice)
            .join(Debtor, Debtor.id == Invoice.debtor_id)
            .where(
                Invoice.organisation_id == organisation.id,
                Invoice.kind == "invoice",
                Invoice.status == "open",
                Invoice.due_date < today - timedelta(days=30),
                Debtor.kind == kind,
                *where,
            )
            .order_by(Invoice.due_date, Invoice.id)
            .limit(1)
        )

    def claim(invoice: Invoice, days_ago: int) -> None:
        debtor = invoice.debtor
        invoices = [
            i for i in session.scalars(select(Invoice).where(Invoice.debtor_id == debtor.id)) if i.is_overdue(today)
        ]
        step = Step(position=0, adds_costs=True, adds_interest=True)
        sent_on = today - timedelta(days=days_ago)
        charges = charges_for_step(organisation, debtor, step, invoices, sent_on, "email")
        record_charges(session, organisation.id, debtor.id, charges, invoices, reminder_id=0)
        session.flush()
        for each in invoices:
            session.refresh(each)

    if oldest("consumer", Invoice.costs_notice_until >= today) is None:
        letter = oldest("consumer", Invoice.costs_charged == 0)
        if letter is not None:
            claim(letter, 3)
    charged = oldest("business", Invoice.costs_charged > 0, Invoice.costs_from < today)
    if charged is None:
        charged = oldest("business", Invoice.costs_charged == 0)
        if charged is not None:
            claim(charged, 7)
    if charged is not None:
        part = (charged.costs_charged + charged.open_amount / 2).quantize(Decimal("0.01"))
        record_payment(
            session,
            organisation.id,
            charged.debtor_id,
            part,
            charged.currency,
            today - timedelta(days=1),
            method="demo",
            reference=charged.payment_reference,
            allocations=[(charged.id, part)],
        )
    session.flush()


def _self_service_history(session: Session, organisation: Organisation, today: date) -> None:
    """A debtor who promised to pay next week and one who disputes an invoice, as if from their pages: the cockpit's
    Disputes & promises has something to show, and the schedule leaves those invoices out."""
    overdue = session.scalars(
        select(Invoice)
        .where(Invoice.organisation_id == organisation.id, Invoice.kind == "invoice", Invoice.status == "open")
        .where(Invoice.due_date < today)
        .order_by(Invoice.due_date.desc(), Invoice.id)
    ).all()
    debtors = list(dict.fromkeys(invoice.debtor for invoice in overdue))
    if len(debtors) < 2:
        return
    promising, disputing = debtors[0], debtors[1]
    first = next(i for i in overdue if i.debtor_id == promising.id)
    promises.promise(session, organisation, promising, [first.id], today + timedelta(days=7), today, "Na de salarisrun")
    invoice = next(i for i in overdue if i.debtor_id == disputing.id)
    disputes.open_dispute(
        session, organisation, disputing, invoice.id, "wrong_amount", "De korting uit de offerte ontbreekt."
    )


def _arrangement_history(session: Session, organisation: Organisation, today: date) -> None:
    """Two payment plans proposed from debtors' pages: one within the automatic limits (running, approved at once)
    and one beyond them (waiting in the cockpit's Payment plans for the supplier's decision)."""
    open_invoices = session.scalars(
        select(Invoice)
        .where(Invoice.organisation_id == organisation.id, Invoice.kind == "invoice", Invoice.status == "open")
        .where(Invoice.promise_id.is_(None), Invoice.disputed_at.is_(None))
        .order_by(Invoice.debtor_id, Invoice.due_date, Invoice.id)
    ).all()
    by_debtor: dict[int, list[Invoice]] = {}
    for invoice in open_invoices:
        by_debtor.setdefault(invoice.debtor_id, []).append(invoice)
    # (installments, note, the totals that make it auto-approved or not under the organisation's rules)
    auto, most = organisation.arrangement_auto_total, organisation.arrangement_max_total
    minimum = organisation.arrangement_min_installment
    wanted = [
        (3, "Omzet valt tegen dit kwartaal; zo lukt het wel.", minimum * 3, auto),
        (10, "", minimum * 10, most),
    ]
    for invoices in by_debtor.values():
        if not wanted:
            break
        count, note, low, high = wanted[0]
        if not low <= sum((i.open_amount for i in invoices), Decimal("0")) <= high:
            continue
        try:
            arrangements.propose(
                session,
                organisation,
                invoices[0].debtor,
                [i.id for i in invoices],
                count,
                "monthly",
                today + timedelta(days=5),
                today,
                note,
                mail_from=current_app.config["MAIL_FROM"],
            )
        except DomainError:
            continue  # a strict debtor, say: nothing was stored, try the next
        wanted.pop(0)


def _reminder_history(session: Session, rng: random.Random, organisation: Organisation, today: date) -> None:
    """As if Duly had been chasing for a while: scenarios chosen from behaviour (two daily evaluations, as the
    hysteresis asks), and each debtor with overdue invoices contacted a few days ago at the steps due by then.
    Planning then spreads the next contacts over the coming days, in every tone."""
    evaluate(session, organisation.id, today - timedelta(days=1))
    evaluate(session, organisation.id, today)
    calendar = {day: (on, at) for day, on, at in send_days(organisation, today - timedelta(days=12), today)}
    overdue = session.scalars(
        select(Invoice)
        .where(Invoice.organisation_id == organisation.id, Invoice.kind == "invoice", Invoice.status == "open")
        .where(Invoice.due_date < today - timedelta(days=3))
        .order_by(Invoice.debtor_id, Invoice.due_date)
    ).all()
    by_debtor: dict[int, list[Invoice]] = {}
    for invoice in overdue:
        by_debtor.setdefault(invoice.debtor_id, []).append(invoice)
    for debtor_id, invoices in by_debtor.items():
        debtor = invoices[0].debtor
        scenario = effective_scenario(session, debtor, today)
        contact, at = calendar[today - timedelta(days=rng.randint(2, 10))]
        if contact >= today:
            continue
        items = []
        for invoice in invoices:
            passed = [
                step.position for step in scenario.steps if invoice.due_date + timedelta(step.offset_days) <= contact
            ]
            if passed and scenario.steps[passed[-1] - 1].channel == "email":
                invoice.last_step = passed[-1]
                items.append(
                    ReminderItem(invoice_id=invoice.id, step_position=passed[-1], open_amount=invoice.open_amount)
                )
        if items:
            event = events.record(
                session,
                organisation.id,
                EventKind.REMINDER_SENT,
                debtor_id=debtor_id,
                step=max(item.step_position for item in items),
                invoices=", ".join(i.number for i in invoices if i.last_step > 0),
                reason="",
            )
            event.created_at = at
            reminder = Reminder(
                organisation_id=organisation.id,
                debtor_id=debtor_id,
                scenario_id=scenario.id,
                step_position=max(item.step_position for item in items),
                send_on=contact,
                send_at=at,
                sent_at=at,
                status="sent",
                items=items,
            )
            session.add(reminder)
            session.flush()
            # What those steps claimed under the late-payment law, as the dispatcher would have recorded it then.
            reminded = [i for i in invoices if any(item.invoice_id == i.id for item in items)]
            flags = step_flags(scenario, {item.invoice_id: item.step_position for item in items})
            step = scenario.steps[reminder.step_position - 1]
            charges = charges_for_step(organisation, debtor, step, reminded, contact, "email", flags=flags)
            for charged in record_charges(
                session, organisation.id, debtor_id, charges, reminded, reminder_id=reminder.id
            ):
                charged.created_at = at
    session.flush()


def _backdate_events(session: Session, organisation: Organisation, start: date) -> None:
    """The services stamp events with the time they ran; give the demo's history the dates it pretends."""
    session.flush()
    issued = {
        row.id: row.issue_date
        for row in session.execute(
            select(Invoice.id, Invoice.issue_date).where(Invoice.organisation_id == organisation.id)
        )
    }
    received = {
        row.id: row.received_on
        for row in session.execute(
            select(Payment.id, Payment.received_on).where(Payment.organisation_id == organisation.id)
        )
    }
    for event in session.scalars(select(Event).where(Event.organisation_id == organisation.id)):
        day = received.get(event.payment_id) or issued.get(event.invoice_id) or start
        hour = 10 if event.payment_id else 9
        event.created_at = datetime.combine(day, time(hour, event.id % 60), tzinfo=organisation.tz)


def _profile_for(index: int, count: int) -> str:
    share = index / count
    return "good" if share < PROFILES["good"][0] else "average" if share < 0.75 else "poor"


def _domain(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())[:20] + ".example"


def _pay(session, rng, organisation_id, debtor_id, invoice, profile, today: date) -> None:
    _, (early, late), unpaid_chance = PROFILES[profile]
    if rng.random() < unpaid_chance:
        return
    paid_on = invoice.due_date + timedelta(days=rng.randint(early, late))
    if paid_on > today:
        return
    amount = invoice.total
    if profile != "good" and rng.random() < 0.1:
        amount = (amount / 2).quantize(Decimal("0.01"))  # a partial payment: the rest stays open
    record_payment(
        session,
        organisation_id,
        debtor_id,
        amount,
        invoice.currency,
        paid_on,
        method="demo",
        reference=invoice.payment_reference,
        allocations=[(invoice.id, amount)],
    )


def _credit_note(session, rng, organisation_id, debtor_id, today: date) -> None:
    targets = open_invoices(session, organisation_id, debtor_id, "EUR")
    if not targets:
        return
    target = targets[-1]
    credit = create_invoice(
        session,
        organisation_id,
        debtor_id,
        number=f"CN-{target.number}",
        issue_date=today - timedelta(days=rng.randint(1, 10)),
        kind="credit_note",
        total=-(target.open_amount / 4).quantize(Decimal("0.01")),
        source="demo",
    )
    allocate_credit_note(session, credit.id, target.id, credit.open_amount)
