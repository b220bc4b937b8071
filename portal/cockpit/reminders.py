"""Cockpit: the schedule of reminders to come, what was sent, the dry run, phone tasks, and holds."""

from datetime import date

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_
from sqlalchemy.orm import selectinload

from portal.cockpit import bp
from portal.cockpit.access import role_required
from portal.cockpit.pagination import current_page_number, paginate
from portal.debtors.models import Debtor
from portal.extensions import db
from portal.htmx import render_page_or_fragment
from portal.invoices.models import Invoice
from portal.jobs import enqueue_after_commit
from portal.mail.models import MailMessage
from portal.organisations.calendar import first_day
from portal.reminders import schedule
from portal.reminders.dryrun import dry_run
from portal.reminders.letter import letter_pdf
from portal.reminders.models import Reminder, ReminderItem
from portal.reminders.planning import plan
from portal.reminders.render import render, texts_of
from portal.scenarios.models import Scenario
from portal.scenarios.service import scenarios_of
from portal.tenancy import current_organisation_id, get_or_404, scoped
from portal.urls import safe_next

SENT_STATUSES = ("sent", "skipped", "failed", "unknown", "sending", "claimed", "todo", "done")


def _int(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


def _with_details(stmt):
    return stmt.options(
        selectinload(Reminder.debtor),
        selectinload(Reminder.items).selectinload(ReminderItem.invoice),
        selectinload(Reminder.scenario).selectinload(Scenario.steps),
    )


@bp.get("/reminders")
def reminders_index():
    """Upcoming reminders by day, filtered by scenario, step or debtor."""
    filters = {"scenario": _int("scenario"), "step": _int("step"), "q": request.args.get("q", "").strip()[:100]}
    stmt = scoped(Reminder).where(Reminder.status.in_(("scheduled", "blocked", "claimed")))
    if filters["scenario"]:
        stmt = stmt.where(Reminder.scenario_id == filters["scenario"])
    if filters["step"]:
        stmt = stmt.where(Reminder.step_position == filters["step"])
    if filters["q"]:
        stmt = stmt.join(Debtor, Debtor.id == Reminder.debtor_id).where(
            or_(func.lower(Debtor.name).contains(filters["q"].lower()), Debtor.number == filters["q"])
        )
    page = paginate(db.session, _with_details(stmt.order_by(Reminder.send_on, Reminder.id)), current_page_number())
    days: dict[date, list[Reminder]] = {}
    for (reminder,) in page.items:
        days.setdefault(reminder.send_on, []).append(reminder)
    return render_page_or_fragment(
        "cockpit/reminders/index.html",
        "cockpit/reminders/_schedule_rows.html",
        page=page,
        days=days,
        filters=filters,
        scenarios=(scenarios := scenarios_of(db.session, current_organisation_id())),
        most_steps=max((len(scenario.steps) for scenario in scenarios), default=1),
    )


@bp.post("/reminders/plan")
@role_required("controller")
def reminders_plan():
    """Plan now instead of waiting for the clock's next run."""
    organisation = current_user.organisation
    result = plan(db.session, organisation.id, first=first_day(organisation))
    db.session.commit()
    flash(f"Planned: {result}.", "success")
    return redirect(url_for("cockpit.reminders_index"), 303)


@bp.get("/reminders/<int:reminder_id>")
def reminder_detail(reminder_id: int):
    """One reminder: its invoices, its text as the debtor will read it (current amounts), and what can be done."""
    reminder = get_or_404(Reminder, reminder_id)
    return _detail(reminder)


@bp.get("/reminders/<int:reminder_id>/letter.pdf")
def reminder_letter(reminder_id: int):
    """The reminder as a printable letter (PDF), dated today with today's amounts: the day it is printed and posted."""
    reminder = get_or_404(Reminder, reminder_id)
    invoices = _invoices_of(reminder)
    if not invoices:
        abort(404)
    organisation = current_user.organisation
    pdf = letter_pdf(db.session, organisation, reminder, invoices, organisation.today())
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="reminder-{reminder.id}.pdf"'},
    )


def _invoices_of(reminder: Reminder) -> list[Invoice]:
    """The invoices a reminder is about: those still in it, or all of them when every one was left out."""
    return [item.invoice for item in reminder.items if not item.dropped] or [i.invoice for i in reminder.items]


def _detail(reminder: Reminder, errors: dict | None = None, subject: str | None = None, body: str | None = None):
    organisation = current_user.organisation
    invoices = _invoices_of(reminder)
    preview = render(db.session, organisation, reminder, invoices) if invoices else None
    language = reminder.debtor.language if reminder.debtor.language in ("nl", "en") else "en"
    own_subject, own_body = texts_of(reminder, language)
    message = db.session.get(MailMessage, reminder.mail_message_id) if reminder.mail_message_id else None
    return render_template(
        "cockpit/reminders/detail.html",
        reminder=reminder,
        preview=preview,
        message=message,
        today=organisation.today(),
        errors=errors or {},
        subject=own_subject if subject is None else subject,
        body=own_body if body is None else body,
    ), (422 if errors else 200)


def _act(reminder_id: int, action, success: str, **kwargs):
    """Run one schedule action, commit, and go back where the supplier came from (or to the reminder)."""
    try:
        action(db.session, current_organisation_id(), reminder_id, actor_user_id=current_user.id, **kwargs)
    except schedule.ScheduleError as error:
        db.session.rollback()
        if getattr(error, "errors", None):
            reminder = get_or_404(Reminder, reminder_id)
            return _detail(reminder, error.errors, kwargs.get("subject"), kwargs.get("body"))
        flash(str(error), "error")
        return redirect(url_for("cockpit.reminder_detail", reminder_id=reminder_id), 303)
    db.session.commit()
    flash(success, "success")
    target = safe_next(request.form.get("next"), url_for("cockpit.reminder_detail", reminder_id=reminder_id))
    return redirect(target, 303)


@bp.post("/reminders/<int:reminder_id>/move")
@role_required("controller")
def reminder_move(reminder_id: int):
    get_or_404(Reminder, reminder_id)
    try:
        day = date.fromisoformat(request.form.get("send_on", ""))
    except ValueError:
        flash("Give the new date as a date.", "error")
        return redirect(url_for("cockpit.reminder_detail", reminder_id=reminder_id), 303)
    return _act(reminder_id, schedule.move, f"Moved to {day.isoformat()}.", day=day)


@bp.post("/reminders/<int:reminder_id>/block")
@role_required("controller")
def reminder_block(reminder_id: int):
    get_or_404(Reminder, reminder_id)
    return _act(reminder_id, schedule.block, "Blocked: it will not be sent.", reason=request.form.get("reason", ""))


@bp.post("/reminders/<int:reminder_id>/unblock")
@role_required("controller")
def reminder_unblock(reminder_id: int):
    get_or_404(Reminder, reminder_id)
    return _act(reminder_id, schedule.unblock, "Unblocked.")


@bp.post("/reminders/<int:reminder_id>/edit")
@role_required("controller")
def reminder_edit(reminder_id: int):
    get_or_404(Reminder, reminder_id)
    return _act(
        reminder_id,
        schedule.edit,
        "This reminder's text was saved.",
        subject=request.form.get("subject", ""),
        body=request.form.get("body", ""),
    )


@bp.post("/reminders/<int:reminder_id>/send-now")
@role_required("controller")
def reminder_send_now(reminder_id: int):
    get_or_404(Reminder, reminder_id)
    enqueue_after_commit(db.session, "workers.jobs.dispatch_reminders")
    return _act(reminder_id, schedule.send_now, "Sending now.")


@bp.post("/reminders/<int:reminder_id>/done")
@role_required("controller")
def reminder_done(reminder_id: int):
    get_or_404(Reminder, reminder_id)
    return _act(reminder_id, schedule.mark_done, "Marked as done.")


@bp.get("/reminders/sent")
def reminders_sent():
    """What went out, newest first, with its outcome: sent, skipped and why, failed, unknown."""
    status = request.args.get("status", "")
    stmt = scoped(Reminder).where(Reminder.status.in_(SENT_STATUSES))
    if status in SENT_STATUSES:
        stmt = stmt.where(Reminder.status == status)
    page = paginate(
        db.session,
        _with_details(stmt.order_by(Reminder.send_on.desc(), Reminder.id.desc())),
        current_page_number(),
    )
    counts = dict(
        db.session.execute(
            scoped(Reminder, Reminder.status, func.count())
            .where(Reminder.status.in_(SENT_STATUSES))
            .group_by(Reminder.status)
        ).all()
    )
    return render_page_or_fragment(
        "cockpit/reminders/sent.html",
        "cockpit/reminders/_sent_rows.html",
        page=page,
        status=status,
        counts=counts,
        statuses=SENT_STATUSES,
    )


@bp.get("/reminders/dry-run")
def reminders_dry_run():
    """Every message the next N days would send, worked out and thrown away: nothing is sent or kept."""
    days = min(max(_int("days") or 14, 1), 31)
    messages = dry_run(db.session, current_organisation_id(), days)
    db.session.rollback()
    return render_template("cockpit/reminders/dry_run.html", messages=messages, days=days)


@bp.get("/reminders/todo")
def reminders_todo():
    """Phone calls the scenarios asked for, and invoices mailed without their PDF."""
    tasks = db.session.scalars(
        _with_details(
            scoped(Reminder)
            .where(or_(Reminder.status == "todo", (Reminder.todo != "") & Reminder.done_at.is_(None)))
            .order_by(Reminder.send_on, Reminder.id)
            .limit(200)
        )
    ).all()
    return render_template("cockpit/reminders/todo.html", tasks=tasks)


def _hold(debtor_id: int | None, invoice_id: int | None, back: str):
    until = request.form.get("until", "")
    try:
        day = date.fromisoformat(until) if until and request.form.get("action") != "lift" else None
    except ValueError:
        flash("Give the hold's end as a date.", "error")
        return redirect(back, 303)
    try:
        schedule.set_hold(
            db.session,
            current_organisation_id(),
            until=day,
            reason=request.form.get("reason", ""),
            debtor_id=debtor_id,
            invoice_id=invoice_id,
            actor_user_id=current_user.id,
        )
    except schedule.ScheduleError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(back, 303)
    # Reminders already planned for it go at the next planning run, rung now rather than at the clock's.
    enqueue_after_commit(db.session, "workers.jobs.plan_organisation", current_organisation_id())
    db.session.commit()
    flash(f"Reminders held until {day.isoformat()}." if day else "Hold lifted.", "success")
    return redirect(back, 303)


@bp.post("/debtors/<int:debtor_id>/hold")
@role_required("controller")
def debtor_hold(debtor_id: int):
    debtor = get_or_404(Debtor, debtor_id)
    return _hold(debtor.id, None, url_for("cockpit.debtor_detail", debtor_id=debtor.id))


@bp.post("/invoices/<int:invoice_id>/hold")
@role_required("controller")
def invoice_hold(invoice_id: int):
    invoice = get_or_404(Invoice, invoice_id)
    return _hold(None, invoice.id, url_for("cockpit.invoice_detail", invoice_id=invoice.id))


def upcoming_for(debtor_id: int | None = None, invoice_id: int | None = None) -> list[Reminder]:
    """The reminders to come for a debtor's page, or an invoice's."""
    stmt = scoped(Reminder).where(Reminder.status.in_(("scheduled", "blocked", "claimed")))
    if debtor_id is not None:
        stmt = stmt.where(Reminder.debtor_id == debtor_id)
    if invoice_id is not None:
        stmt = stmt.where(Reminder.items.any(ReminderItem.invoice_id == invoice_id))
    return db.session.scalars(_with_details(stmt.order_by(Reminder.send_on))).all()
