"""The timeline says every kind of event in words: EventKind and the timeline's macro hold together."""

import pytest
from flask import render_template_string

from portal.events import Event, EventKind

# What events carry, enough for any kind's line (each kind reads a few of these).
DATA = {
    "number": "F-1",
    "numbers": "F-1, F-2",
    "invoices": "F-1",
    "total": "100.00",
    "amount": "100.00",
    "open_amount": "0.00",
    "old_total": "90.00",
    "missing": "10.00",
    "currency": "EUR",
    "credit_note": "CN-F-1",
    "reference": "RF18539007547034",
    "component": "",
    "how": "",
    "since": "2026-12-01",
    "pay_by": "2026-12-20",
    "due_date": "2026-12-31",
    "due_on": "2026-12-31",
    "days": 30,
    "to": "strict",
    "from": "standard",
    "reason": "strict: paid late",
    "reason_label": "wrong amount",
    "step": 2,
    "scenario": "standard",
    "fields": "email",
    "name": "Klant B.V.",
    "email": "ap@example.com",
    "role": "controller",
    "until": "2026-12-24",
    "promised_on": "2026-12-24",
    "source": "selfservice",
    "note": "",
    "paid_on": "",
    "comment": "",
    "resolution": "credited",
    "message": "",
    "mailed_to": "",
    "count": 2,
    "replaced": 0,
    "requested": False,
    "why": "refunded through Mollie",
    "table": "nl_commercial",
    "rate": "10.15",
    "effective_on": "2026-01-01",
    "installments": 3,
    "frequency": "monthly",
    "installment": 1,
    "stage": "before",
    "automatic": False,
    "filename": "statement.xml",
    "entries": 10,
    "booked": 8,
    "suggested": 1,
    "unmatched": 1,
}
LINE = '{% from "_macros/events.html" import describe %}{{ describe(event) }}'


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_kind_of_event_has_words_on_the_timeline(app, kind):
    with app.test_request_context():
        line = " ".join(render_template_string(LINE, event=Event(kind=kind, data=DATA)).split())
    assert line and kind.value not in line, f"{kind}: {line!r}"


def test_an_unknown_kind_is_refused_before_it_is_kept(db_session):
    from portal import events
    from tests.factories import make_organisation

    organisation = make_organisation(db_session)
    with pytest.raises(ValueError, match="is not a valid EventKind"):
        events.record(db_session, organisation.id, "invoice:vanished")
