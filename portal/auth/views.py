"""Supplier accounts: sign-up, sign-in, sign-out, password reset and invitations."""

from datetime import timedelta

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from portal.auth import limits
from portal.auth.forms import AcceptInvitationForm, ForgotPasswordForm, LoginForm, NewPasswordForm, SignupForm
from portal.extensions import db, limiter
from portal.mail.service import queue_mail
from portal.organisations import service
from portal.urls import safe_next

bp = Blueprint("auth", __name__)


@bp.get("/")
def index():
    return redirect(url_for("cockpit.overview" if current_user.is_authenticated else "auth.login"))


@bp.get("/signup")
def signup():
    """The sign-up form for a new organisation."""
    return render_template("auth/signup.html", form=SignupForm())


@bp.post("/signup")
@limiter.limit(limits.address_limit, methods=["POST"])
def signup_post():
    """Create the organisation and its first owner, and sign in."""
    form = SignupForm()
    if form.validate_on_submit():
        try:
            user = service.sign_up(
                db.session,
                organisation_name=form.organisation_name.data,
                name=form.name.data,
                email=form.email.data,
                password=form.password.data,
            )
        except service.AccountError as exc:
            form.email.errors.append(str(exc))
        else:
            flash(f"Welcome to Duly, {user.name}. {user.organisation.name} is ready.", "success")
            return _sign_in(user, url_for("cockpit.overview"))
    return render_template("auth/signup.html", form=form), 422


@bp.get("/login")
def login():
    """The sign-in form."""
    return render_template("auth/login.html", form=LoginForm(next=request.args.get("next", "")))


@bp.post("/login")
@limiter.limit(limits.address_limit, methods=["POST"])
@limiter.limit(
    limits.account_limit,
    methods=["POST"],
    key_func=limits.account_key,
    deduct_when=limits.failed,
    exempt_when=limits.known_device,
)
def login_post():
    """Check the password and sign in."""
    form = LoginForm()
    if form.validate_on_submit():
        user = service.authenticate(
            db.session,
            form.email.data,
            form.password.data,
            # The demo's owner (demo / demo) and the bench owners only where they were seeded: in development.
            seeded_accounts=current_app.config["ENV_NAME"] != "production",
        )
        if user is not None:
            return _sign_in(user, safe_next(form.next.data, url_for("cockpit.overview")))
        form.password.errors.append("The address or the password is wrong.")
    return render_template("auth/login.html", form=form), 422


@bp.post("/logout")
@login_required
def logout():
    """Sign out: this session ends on the server too, so a copy of its cookie no longer works."""
    service.end_session(db.session, session.pop(service.SESSION_TOKEN_KEY, ""))
    db.session.commit()
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"), 303)


@bp.get("/password/forgot")
def forgot_password():
    """Ask for a password reset link."""
    return render_template("auth/forgot.html", form=ForgotPasswordForm())


@bp.post("/password/forgot")
@limiter.limit(limits.address_limit, methods=["POST"])
def forgot_password_post():
    """Mail a reset link if the address has an account; answer the same either way."""
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/forgot.html", form=form), 422
    hours = current_app.config["RESET_TOKEN_HOURS"]
    found = service.request_password_reset(db.session, form.email.data, timedelta(hours=hours))
    if found:
        user, token = found
        queue_mail(
            db.session,
            to=user.email,
            template="password_reset",
            context={"user": user, "link": _external("auth.reset_link", token=token), "hours": hours},
            from_address=current_app.config["MAIL_FROM"],
            organisation_id=user.organisation_id,
            sensitive=True,
        )
    db.session.commit()
    flash("If that address has an account, a link to choose a new password is on its way.", "info")
    return redirect(url_for("auth.login"), 303)


def _exchange(token: str, purpose: str, endpoint: str):
    """A mailed link is exchanged for the session at once: the token leaves the address bar, the history and
    any Referer, and the form posts to a URL without it."""
    if service.peek_token(db.session, token, purpose) is None:
        response = make_response(render_template("auth/link_expired.html"), 410)
    else:
        session[f"{purpose}_token"] = token
        response = redirect(url_for(endpoint), 303)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/password/reset/<token>")
def reset_link(token: str):
    """The link from the mail: keep its token in the session and go on to the form."""
    return _exchange(token, "reset", "auth.reset_password")


@bp.get("/password/reset")
def reset_password():
    """The new-password form, if the link is still valid."""
    if service.peek_token(db.session, session.get("reset_token", ""), "reset") is None:
        return render_template("auth/link_expired.html"), 410
    return render_template("auth/reset.html", form=NewPasswordForm())


@bp.post("/password/reset")
@limiter.limit(limits.address_limit, methods=["POST"])
def reset_password_post():
    """Set the new password and sign in."""
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            user = service.reset_password(db.session, session.get("reset_token", ""), form.password.data)
        except service.AccountError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("auth.forgot_password"), 303)
        session.pop("reset_token", None)
        flash("Your password is changed.", "success")
        return _sign_in(user, url_for("cockpit.overview"))
    return render_template("auth/reset.html", form=form), 422


@bp.get("/invitation/<token>")
def invitation_link(token: str):
    """The link from the invitation mail: keep its token in the session and go on to the form."""
    return _exchange(token, "invite", "auth.accept_invitation")


@bp.get("/invitation")
def accept_invitation():
    """The form to join an organisation one was invited to."""
    user = service.peek_token(db.session, session.get("invite_token", ""), "invite")
    if user is None:
        return render_template("auth/link_expired.html"), 410
    return render_template("auth/invitation.html", form=AcceptInvitationForm(name=user.name), invitee=user)


@bp.post("/invitation")
@limiter.limit(limits.address_limit, methods=["POST"])
def accept_invitation_post():
    """Choose a password, join and sign in."""
    token = session.get("invite_token", "")
    invitee = service.peek_token(db.session, token, "invite")
    if invitee is None:
        return render_template("auth/link_expired.html"), 410
    form = AcceptInvitationForm()
    if form.validate_on_submit():
        try:
            user = service.accept_invitation(db.session, token, form.name.data, form.password.data)
        except service.AccountError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("auth.login"), 303)
        session.pop("invite_token", None)
        flash(f"Welcome to {user.organisation.name}.", "success")
        return _sign_in(user, url_for("cockpit.overview"))
    return render_template("auth/invitation.html", form=form, invitee=invitee), 422


def _sign_in(user, target: str):
    """Commit what signing in changed, with a new server-side session whose token the cookie carries, and go to
    ``target``; the browser is remembered as one of the account's devices (portal.auth.limits)."""
    session[service.SESSION_TOKEN_KEY] = service.start_session(
        db.session, user, current_app.config["PERMANENT_SESSION_LIFETIME"]
    )
    db.session.commit()
    login_user(user)
    return limits.remember_device(redirect(target, 303), user.email)


def _external(endpoint: str, **values) -> str:
    """Links in mail use PUBLIC_BASE_URL, never the Host header an attacker could set."""
    return current_app.config["PUBLIC_BASE_URL"] + url_for(endpoint, **values)
