"""Editing scenarios: a step's timing, channel, tone and texts (placeholders only, never template code)."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import events
from portal.errors import DomainError
from portal.events import EventKind
from portal.scenarios.models import ANCHORS, CHANNELS, LANGUAGES, TONES, Scenario, Step
from portal.scenarios.texts import check_text


class StepError(DomainError):
    """A step that cannot be saved; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


TEXT_FIELDS = tuple(f"{part}_{lang}" for lang in LANGUAGES for part in ("subject", "body"))
FLAGS = ("include_pay_link", "is_final_notice", "adds_costs", "adds_interest")
# What the step editor may change; the scenario and position are the step's identity.
STEP_FIELDS = ("anchor", "offset_days", "channel", "tone", *FLAGS, *TEXT_FIELDS)


def update_step(session: Session, organisation_id: int, step_id: int, *, actor_user_id: int, **values) -> Step:
    """Change a step; texts must use the allowed placeholders only."""
    step = session.get(Step, step_id)
    if step is None or step.scenario.organisation_id != organisation_id:
        raise StepError({"": ["no such step"]})
    errors = _field_errors(values) | _text_errors(values) | _timing_errors(step, values)
    if errors:
        raise StepError(errors)
    for name, value in values.items():
        setattr(step, name, value)
    events.record(
        session,
        organisation_id,
        EventKind.SCENARIO_STEP_CHANGED,
        actor_user_id=actor_user_id,
        scenario=step.scenario.name,
        step=step.position,
    )
    return step


def _field_errors(values: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {name: ["not a field of a step"] for name in values if name not in STEP_FIELDS}
    for name in FLAGS:
        if name in values and not isinstance(values[name], bool):
            errors[name] = ["yes or no"]
    for name, allowed in (("anchor", ANCHORS), ("channel", CHANNELS), ("tone", TONES)):
        if name in values and values[name] not in allowed:
            errors[name] = [f"one of {', '.join(allowed)}"]
    return errors


def _text_errors(values: dict) -> dict[str, list[str]]:
    """Placeholders only, never template code; a subject is one line."""
    errors = {}
    for name in TEXT_FIELDS:
        if name in values:
            problems = check_text(values[name] or "")
            if name.startswith("subject") and "\n" in (values[name] or ""):
                problems.append("A subject is one line.")
            if problems:
                errors[name] = problems
    return errors


def _timing_errors(step: Step, values: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if "offset_days" in values and not -60 <= int(values["offset_days"]) <= 365:
        errors["offset_days"] = ["between -60 and 365 days"]
    if values.get("anchor", step.anchor) == "issue_date" and int(values.get("offset_days", step.offset_days)) < 0:
        errors.setdefault("offset_days", []).append("a step cannot come before the issue date")
    return errors


def scenarios_of(session: Session, organisation_id: int) -> list[Scenario]:
    return list(
        session.scalars(select(Scenario).where(Scenario.organisation_id == organisation_id).order_by(Scenario.id))
    )
