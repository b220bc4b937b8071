"""The three scenarios every organisation starts with, in Dutch and English. Suppliers edit them freely."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.scenarios.models import Scenario, Step

_NL_SIGN = "\n\nMet vriendelijke groet,\n{sender_name}\n{organisation_name}"
_EN_SIGN = "\n\nKind regards,\n{sender_name}\n{organisation_name}"
_NL_PAY = (
    "\n\nU kunt direct betalen of een andere afspraak voorstellen via {pay_link}\n"
    "Of maak {total_due} over naar {organisation_iban} onder vermelding van {payment_reference}."
)
_EN_PAY = (
    "\n\nYou can pay right away or propose another arrangement at {pay_link}\n"
    "Or transfer {total_due} to {organisation_iban} quoting {payment_reference}."
)

# (anchor, offset, channel, tone, final, subject nl, body nl, subject en, body en)
_COURTESY = (
    "due_date",
    -3,
    "email",
    "courtesy",
    False,
    "Vriendelijke herinnering: binnenkort te betalen",
    "Beste {contact_name},\n\nEen vriendelijke herinnering: de volgende facturen vervallen binnenkort."
    "\n\n{invoice_table}" + _NL_PAY + _NL_SIGN,
    "Friendly reminder: payment due soon",
    "Dear {contact_name},\n\nA friendly reminder that the following invoices fall due soon.\n\n{invoice_table}"
    + _EN_PAY
    + _EN_SIGN,
)
_FIRST = (
    "due_date",
    3,
    "email",
    "friendly",
    False,
    "Herinnering: {invoice_numbers}",
    "Beste {contact_name},\n\nWellicht is het aan uw aandacht ontsnapt: de volgende facturen staan nog open.\n\n"
    "{invoice_table}"
    + _NL_PAY
    + "\n\nHeeft u al betaald? Dan kunt u dit bericht als niet verzonden beschouwen."
    + _NL_SIGN,
    "Reminder: {invoice_numbers}",
    "Dear {contact_name},\n\nPerhaps it slipped your attention: the following invoices are still open.\n\n"
    "{invoice_table}" + _EN_PAY + "\n\nIf you have already paid, please disregard this message." + _EN_SIGN,
)
_SECOND = (
    "due_date",
    14,
    "email",
    "neutral",
    False,
    "Tweede herinnering: {invoice_numbers}",
    "Beste {contact_name},\n\nOndanks onze eerdere herinnering hebben wij de betaling van de volgende "
    "facturen nog niet ontvangen.\n\n{invoice_table}\n\n"
    "Wij verzoeken u het totaal van {total_due} binnen zeven dagen te voldoen." + _NL_PAY + _NL_SIGN,
    "Second reminder: {invoice_numbers}",
    "Dear {contact_name},\n\nDespite our earlier reminder we have not yet received payment of the following invoices."
    "\n\n{invoice_table}\n\nPlease pay the total of {total_due} within seven days." + _EN_PAY + _EN_SIGN,
)
_PHONE = (
    "due_date",
    21,
    "phone",
    "firm",
    False,
    "Bellen over {invoice_numbers}",
    "Bel {debtor_name} over {total_due} open sinds {oldest_due_date}.",
    "Call about {invoice_numbers}",
    "Call {debtor_name} about {total_due} open since {oldest_due_date}.",
)
_FINAL = (
    "due_date",
    28,
    "email",
    "final",
    True,
    "Laatste aanmaning: {invoice_numbers}",
    "Beste {contact_name},\n\nOndanks herhaalde herinneringen staan de volgende facturen nog steeds open.\n\n"
    "{invoice_table}\n\nDit is onze laatste aanmaning. Wij verzoeken u {total_due} binnen veertien dagen te betalen; "
    "daarna dragen wij de vordering over voor incasso." + _NL_PAY + _NL_SIGN,
    "Final notice: {invoice_numbers}",
    "Dear {contact_name},\n\nDespite repeated reminders the following invoices are still open.\n\n{invoice_table}\n\n"
    "This is our final notice. Please pay {total_due} within fourteen days; after that we will hand the claim to a "
    "collection agency." + _EN_PAY + _EN_SIGN,
)


def _shift(step: tuple, offset: int) -> tuple:
    return (step[0], offset, *step[2:])


DEFAULT_SCENARIOS = [
    (
        "friendly",
        "Friendly",
        "For customers who pay on time: a courtesy note before the due date, gentle reminders after.",
        False,
        [_COURTESY, _FIRST, _shift(_SECOND, 21), _shift(_FINAL, 42)],
    ),
    (
        "standard",
        "Standard",
        "For most customers: reminders a few days and two weeks after the due date, then a final notice.",
        True,
        [_FIRST, _SECOND, _PHONE, _FINAL],
    ),
    (
        "strict",
        "Strict",
        "For difficult payers: an early reminder, a phone call, and a final notice after three weeks.",
        False,
        [_shift(_FIRST, 1), _shift(_SECOND, 8), _shift(_PHONE, 12), _shift(_FINAL, 21)],
    ),
]

# Late-payment law (portal.law): per scenario, the positions of the steps that add collection costs and start
# statutory interest, where the legal profile lets them. The final notice is the demand the costs follow; the strict
# scenario's second reminder (a week after the due date) already starts interest. The friendly one claims nothing.
CLAIMING_STEPS: dict[str, dict[int, tuple[bool, bool]]] = {
    "standard": {4: (True, True)},
    "strict": {2: (False, True), 4: (True, True)},
}


def default_scenario_id(session: Session, organisation_id: int) -> int:
    """The scenario a debtor without its own follows: the one marked default, else "standard"; an organisation
    without scenarios gets the ready ones first."""
    query = select(Scenario.id).where(Scenario.organisation_id == organisation_id)
    found = session.scalar(query.where(Scenario.is_default)) or session.scalar(query.where(Scenario.key == "standard"))
    if found is None:
        ensure_default_scenarios(session, organisation_id)
        found = session.scalar(query.where(Scenario.is_default))
    return found


def ensure_default_scenarios(session: Session, organisation_id: int) -> list[Scenario]:
    """Give an organisation the three ready scenarios; leaves any it already has alone. Returns what it added."""
    existing = set(session.scalars(select(Scenario.key).where(Scenario.organisation_id == organisation_id)))
    added = []
    for key, name, description, is_default, steps in DEFAULT_SCENARIOS:
        if key in existing:
            continue
        scenario = Scenario(
            organisation_id=organisation_id, key=key, name=name, description=description, is_default=is_default
        )
        for position, (anchor, offset, channel, tone, final, s_nl, b_nl, s_en, b_en) in enumerate(steps, start=1):
            adds_costs, adds_interest = CLAIMING_STEPS.get(key, {}).get(position, (False, False))
            scenario.steps.append(
                Step(
                    position=position,
                    anchor=anchor,
                    offset_days=offset,
                    channel=channel,
                    tone=tone,
                    include_pay_link=channel == "email",
                    is_final_notice=final,
                    adds_costs=adds_costs,
                    adds_interest=adds_interest,
                    subject_nl=s_nl,
                    body_nl=b_nl,
                    subject_en=s_en,
                    body_en=b_en,
                )
            )
        session.add(scenario)
        added.append(scenario)
    session.flush()
    return added
